from django.apps import AppConfig


class ConsentConfig(AppConfig):
    name = "consent"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from consent.panels import CONSENT_PANEL
        from patients.panels import register

        register(CONSENT_PANEL)
