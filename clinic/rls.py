"""Row-level security, declared in the migration that creates each tenant table.

``EnableClinicRLS("patients_patient")`` enables and forces RLS with a fail-closed policy: a row is
visible and writable only when its ``clinic_id`` equals the transaction's ``app.clinic_id``.
On SQLite (the embedded default) it does nothing; selectors still filter by clinic.
"""

from __future__ import annotations

from typing import Any

from django.db.migrations.operations.base import Operation

CLINIC_SETTING = "NULLIF(current_setting('app.clinic_id', true), '')::uuid"
USER_SETTING = "NULLIF(current_setting('app.user_id', true), '')::uuid"


class EnableClinicRLS(Operation):
    """Enable and force RLS on a tenant table, with a policy on ``app.clinic_id``.

    ``extra_using`` widens what may be read (never written), e.g. a user's own memberships.
    """

    reduces_to_sql = True
    reversible = True

    def __init__(self, table: str, extra_using: str = "", null_is_system: bool = False) -> None:
        self.table = table
        self.extra_using = extra_using
        # For tables whose rows may belong to no clinic (system audit events): such rows are
        # visible only with no clinic context, and a clinic's rows only in that clinic's.
        self.null_is_system = null_is_system

    def deconstruct(self):
        kwargs: dict[str, Any] = {"table": self.table}
        if self.extra_using:
            kwargs["extra_using"] = self.extra_using
        if self.null_is_system:
            kwargs["null_is_system"] = True
        return (self.__class__.__qualname__, [], kwargs)

    def state_forwards(self, app_label, state):
        pass

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor != "postgresql":
            return
        t = schema_editor.quote_name(self.table)
        op = "IS NOT DISTINCT FROM" if self.null_is_system else "="
        match = f"clinic_id {op} {CLINIC_SETTING}"
        using = f"({match}) OR ({self.extra_using})" if self.extra_using else match
        schema_editor.execute(f"ALTER TABLE {t} ENABLE ROW LEVEL SECURITY")
        schema_editor.execute(f"ALTER TABLE {t} FORCE ROW LEVEL SECURITY")
        schema_editor.execute(
            f"CREATE POLICY clinic_isolation ON {t} FOR ALL USING ({using}) WITH CHECK ({match})"
        )

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor != "postgresql":
            return
        t = schema_editor.quote_name(self.table)
        schema_editor.execute(f"DROP POLICY IF EXISTS clinic_isolation ON {t}")
        schema_editor.execute(f"ALTER TABLE {t} NO FORCE ROW LEVEL SECURITY")
        schema_editor.execute(f"ALTER TABLE {t} DISABLE ROW LEVEL SECURITY")

    def describe(self) -> str:
        return f"Enable forced row-level security on {self.table}"


class PostgresSQL(Operation):
    """Raw SQL that only PostgreSQL needs (triggers, grants); a no-op on SQLite."""

    reduces_to_sql = True
    reversible = True

    def __init__(self, sql: str, reverse_sql: str = "") -> None:
        self.sql = sql
        self.reverse_sql = reverse_sql

    def deconstruct(self):
        return (self.__class__.__qualname__, [self.sql, self.reverse_sql], {})

    def state_forwards(self, app_label, state):
        pass

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(self.sql, None)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql" and self.reverse_sql:
            schema_editor.execute(self.reverse_sql, None)

    def describe(self) -> str:
        return "PostgreSQL-only SQL"


OWNER_ROLE, APP_ROLE = "clinic_owner", "clinic_app"
ROLE_LOCK = 727001  # parallel test workers, the load harness and the bench share the cluster


def ensure_roles(conn) -> None:
    """Create (or reset) the two roles the PostgreSQL stack runs as, on a superuser psycopg
    connection: the owner, which migrates and owns the tables, and the app role, which is neither
    superuser nor BYPASSRLS, so the policies above bind it. deploy/postgres-init.sql does the same
    for docker-compose; tests, `make load` and `make bench` call this on a new machine."""
    conn.execute("SELECT pg_advisory_lock(%s)", [ROLE_LOCK])
    try:
        for role, extra in ((OWNER_ROLE, "CREATEDB"), (APP_ROLE, "NOCREATEDB")):
            exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [role]).fetchone()
            verb = "ALTER" if exists else "CREATE"
            conn.execute(f"{verb} ROLE {role} LOGIN {extra} NOSUPERUSER NOBYPASSRLS")
    finally:
        conn.execute("SELECT pg_advisory_unlock(%s)", [ROLE_LOCK])
