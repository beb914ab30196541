from django.apps import AppConfig


class RetentionConfig(AppConfig):
    name = "retention"
    # Its floor in the house: it may import only rooms on lower floors (tests/test_layers.py).
    floor = 10
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from patients.panels import register
        from retention.panels import HOLD_BANNER, RETENTION_PANEL

        register(HOLD_BANNER)
        register(RETENTION_PANEL)
