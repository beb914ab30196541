from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "audit"
    # Its floor in the house: it may import only rooms on lower floors (tests/test_layers.py).
    floor = 1
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Connects the sign-in and sign-out receivers that renew request.audit.
        from audit import middleware  # noqa: F401
