"""PostgreSQL only: pg_dump must run as a role row-level security does not bind, and a backup
configured with one that it binds says so and how to fix it."""

from __future__ import annotations

import pytest
from django.db import connections
from django.test import override_settings

from backups import services
from backups.restic import BackupError
from clinic.rls import OWNER_ROLE


def test_a_backup_as_a_role_bound_by_row_level_security_is_refused_with_the_fix(stack, tmp_path):
    name = connections["default"].settings_dict["NAME"]
    options = stack.backup_settings(str(tmp_path / "backups"))
    options["BACKUP_DATABASE_URL"] = f"postgres://{OWNER_ROLE}@127.0.0.1:5432/{name}"
    with override_settings(**options):
        with pytest.raises(
            BackupError, match="bound by row-level security: set BACKUP_DATABASE_URL"
        ):
            services.backup_take()
