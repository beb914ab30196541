from django.apps import AppConfig


class ExportsConfig(AppConfig):
    name = "exports"
    # Its floor in the house: it may import only rooms on lower floors (tests/test_layers.py).
    floor = 8
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from accounts.settings_sections import register as register_settings_section
        from consent.ledger import register_source
        from exports.panels import EXPORTS_PANEL, SIGNING_KEY_SECTION
        from exports.selectors import exports_ledger
        from patients.panels import register

        register(EXPORTS_PANEL)
        register_settings_section(SIGNING_KEY_SECTION)
        register_source("exports", exports_ledger)
