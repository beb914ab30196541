from django.apps import AppConfig


class ConsentConfig(AppConfig):
    name = "consent"
    # Its floor in the house: it may import only rooms on lower floors (tests/test_layers.py).
    floor = 7
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from consent.panels import CONSENT_PANEL, MARKETING_SECTION
        from patients import panels
        from photos import viewer

        panels.register(CONSENT_PANEL)
        viewer.register(MARKETING_SECTION)
