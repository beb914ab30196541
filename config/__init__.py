"""The project shell: settings, the URL map, the Celery app, WSGI, logging and the health
probe. It stands above every room (the URL map imports their views); no room imports it."""

from config.celery import app as celery_app

__all__ = ["celery_app"]
