from django.apps import AppConfig


class VaultConfig(AppConfig):
    name = "vault"
    # Its floor in the house: it may import only rooms on lower floors (tests/test_layers.py).
    floor = 3
    default_auto_field = "django.db.models.BigAutoField"
    verbose_name = "Encrypted vault"
