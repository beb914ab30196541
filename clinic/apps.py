from django.apps import AppConfig
from django.db.models.signals import post_migrate


class ClinicConfig(AppConfig):
    name = "clinic"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from clinic import grants, revocation
        from clinic.logging import install_on_server_loggers

        install_on_server_loggers()
        revocation.connect()
        post_migrate.connect(grants.grant_app_role, dispatch_uid="clinic.grant_app_role")
