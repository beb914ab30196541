from django.apps import AppConfig


class BackupsConfig(AppConfig):
    name = "backups"
    # Its floor in the house: it may import only rooms on lower floors (tests/test_layers.py).
    # Above retention: a restore replays erasures through retention's own service.
    floor = 11
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from accounts.settings_sections import register
        from backups.sections import BACKUPS_SECTION
        from backups.tombstones import tombstone_owed
        from retention.hooks import on_erasure

        on_erasure("backup tombstone", tombstone_owed)
        register(BACKUPS_SECTION)
