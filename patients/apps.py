from django.apps import AppConfig


class PatientsConfig(AppConfig):
    name = "patients"
    # Its floor in the house: it may import only rooms on lower floors (tests/test_layers.py).
    floor = 4
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from patients.access import register

        register()
