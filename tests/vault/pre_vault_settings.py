"""Settings for opening a database made before the vault move (the embedded default's SQLite
file and blob folder, unpacked from tests/vault/fixtures) with today's code."""

import os

from config.settings import *  # noqa: F403
from config.settings import SQLITE_OPTIONS, STORAGES

_DIR = os.environ["PRE_VAULT_DIR"]
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": f"{_DIR}/db.sqlite3",
        "OPTIONS": SQLITE_OPTIONS,  # as the embedded default opens it (the trail needs it)
    }
}
_BLOBS = {
    "BACKEND": "django.core.files.storage.FileSystemStorage",
    "OPTIONS": {"location": f"{_DIR}/blobs", "base_url": None},
}
STORAGES = {**STORAGES, "default": _BLOBS, "blobs": _BLOBS}
