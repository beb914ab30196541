from django.apps import AppConfig
from django.db.models.signals import post_migrate


class ClinicConfig(AppConfig):
    name = "clinic"
    # Its floor in the house: it may import only rooms on lower floors (tests/test_layers.py).
    floor = 0
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from clinic import grants, revocation

        revocation.connect()
        post_migrate.connect(grants.grant_app_role, dispatch_uid="clinic.grant_app_role")
