from django.apps import AppConfig


class PhotosConfig(AppConfig):
    name = "photos"
    # Its floor in the house: it may import only rooms on lower floors (tests/test_layers.py).
    floor = 6
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from patients.panels import register
        from photos.panels import PHOTOS_PANEL

        register(PHOTOS_PANEL)
