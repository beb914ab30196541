from django.apps import AppConfig


class PhotosConfig(AppConfig):
    name = "photos"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from patients.panels import register
        from photos.panels import PHOTOS_PANEL

        register(PHOTOS_PANEL)
