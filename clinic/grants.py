"""What the application's database role may do, granted after every migrate.

Migrations run as the owner role; the app connects as ``DATABASE_APP_ROLE``, which gets plain
DML on every table but only SELECT and INSERT on the audit trail.
"""

from __future__ import annotations

from django.conf import settings
from django.db import connections

APPEND_ONLY_TABLES = ("audit_auditevent",)


def grant_app_role(using: str = "default", **kwargs) -> None:
    role = settings.DATABASE_APP_ROLE
    connection = connections[using]
    if connection.vendor != "postgresql" or not role:
        return
    qn = connection.ops.quote_name
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_user")
        if cursor.fetchone()[0] == role:
            return
        cursor.execute(f"GRANT USAGE ON SCHEMA public TO {qn(role)}")
        cursor.execute(
            f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {qn(role)}"
        )
        cursor.execute(f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {qn(role)}")
        for table in APPEND_ONLY_TABLES:
            cursor.execute(f"REVOKE UPDATE, DELETE, TRUNCATE ON {qn(table)} FROM {qn(role)}")
