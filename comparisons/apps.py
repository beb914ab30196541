from django.apps import AppConfig


class ComparisonsConfig(AppConfig):
    name = "comparisons"
    # Its floor in the house: it may import only rooms on lower floors (tests/test_layers.py).
    floor = 9
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from comparisons.export_part import COMPARISONS_PART
        from comparisons.panels import COMPARISONS_PANEL
        from comparisons.selectors import shares_ledger
        from comparisons.services import shares_revoke_on_withdrawal
        from consent.hooks import on_withdrawal
        from consent.ledger import register_source
        from exports.contents import register_part
        from patients.panels import register

        register(COMPARISONS_PANEL)
        register_part(COMPARISONS_PART)
        on_withdrawal("comparison shares", shares_revoke_on_withdrawal)
        register_source("comparison shares", shares_ledger)
