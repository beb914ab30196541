"""The database part of a backup set, taken consistently and put back: PostgreSQL through
``pg_dump`` (custom format) and ``pg_restore``; SQLite (the embedded default) through its online
backup API. Each also lists the objects the copy refers to, read from the very same snapshot,
so the set's manifest matches its dump."""

from __future__ import annotations

import os
import sqlite3
import subprocess
from pathlib import Path
from urllib.parse import quote

import environ
from django.conf import settings
from django.db import connections

from backups.restic import BackupError, executable

DUMP_POSTGRES = "database.pgdump"
DUMP_SQLITE = "database.sqlite3"
# Objects the database names: every Blob row that is not shredded (their object name is the id).
BLOB_QUERY = "SELECT id FROM photos_blob WHERE wrapped_key IS NOT NULL"


def vendor() -> str:
    return connections["default"].vendor


def _postgres_params() -> dict[str, str]:
    """libpq parameters of the role backups connect as (BACKUP_DATABASE_URL, or the app's)."""
    if settings.BACKUP_DATABASE_URL:
        parts = environ.Env.db_url_config(settings.BACKUP_DATABASE_URL)
    else:
        parts = connections["default"].settings_dict
    return {
        "host": str(parts.get("HOST") or "127.0.0.1"),
        "port": str(parts.get("PORT") or "5432"),
        "user": str(parts.get("USER") or ""),
        "password": str(parts.get("PASSWORD") or ""),
        "dbname": str(parts.get("NAME") or ""),
    }


def _pg_env(params: dict[str, str]) -> dict[str, str]:
    env = dict(os.environ)
    env.update(PGHOST=params["host"], PGPORT=params["port"], PGUSER=params["user"])
    env["PGDATABASE"] = params["dbname"]
    if params["password"]:
        env["PGPASSWORD"] = params["password"]
    return env


def database_name() -> str:
    if vendor() == "postgresql":
        return _postgres_params()["dbname"]
    return str(settings.DATABASES["default"]["NAME"])


def dump(into: Path) -> tuple[str, list[str]]:
    """Write the database's copy into ``into``; its file name and the object names it refers
    to (from the same snapshot)."""
    if vendor() == "postgresql":
        return DUMP_POSTGRES, _dump_postgres(into / DUMP_POSTGRES)
    return DUMP_SQLITE, _dump_sqlite(into / DUMP_SQLITE)


def _dump_postgres(path: Path) -> list[str]:
    import psycopg

    params = _postgres_params()
    conninfo = " ".join(f"{k}={v}" for k, v in params.items() if v)
    # One exported snapshot for the object list and pg_dump: they see the same rows.
    with psycopg.connect(conninfo, autocommit=True) as conn:
        # Explicitly, so that the listing below reads the exported snapshot, not a newer one.
        conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        snapshot = _one(conn, "SELECT pg_export_snapshot()")
        try:
            objects = [row[0].hex for row in conn.execute(BLOB_QUERY)]
        except psycopg.errors.InsufficientPrivilege as error:
            raise BackupError(_rls_hint(params, error)) from error
        completed = subprocess.run(  # noqa: S603 - our arguments, no shell
            [
                executable("pg_dump", "postgresql-client"),
                "--format=custom",
                "--snapshot",
                snapshot,
                "--file",
                str(path),
            ],
            env=_pg_env(params),
            capture_output=True,
            check=False,
        )
        conn.execute("COMMIT")
    if completed.returncode != 0:
        raise BackupError(_rls_hint(params, completed.stderr.decode(errors="replace").strip()))
    return objects


def _one(conn, sql: str):
    row = conn.execute(sql).fetchone()
    return row[0] if row else None


def _rls_hint(params: dict[str, str], error: object) -> str:
    text = str(error)
    hint = ""
    if "row-level security" in text or "row security" in text:
        hint = (
            f" The role {params['user']} is bound by row-level security: set "
            "BACKUP_DATABASE_URL to a role that is not (the cluster's superuser, or BYPASSRLS)."
        )
    return f"pg_dump of {params['dbname']} failed: {text.splitlines()[-1] if text else ''}.{hint}"


def _dump_sqlite(path: Path) -> list[str]:
    source = sqlite3.connect(str(settings.DATABASES["default"]["NAME"]), timeout=20)
    target = sqlite3.connect(str(path))
    try:
        source.backup(target)  # the online backup API: a consistent copy beside writers
    finally:
        source.close()
    try:
        return [uuid_hex(row[0]) for row in target.execute(BLOB_QUERY)]
    finally:
        target.close()


def uuid_hex(value: object) -> str:
    return (
        value.hex
        if hasattr(value, "hex") and not isinstance(value, str)
        else str(value).replace("-", "")
    )


# --- the target database ---------------------------------------------------------------------


def found_in_target() -> str:
    """What the target database holds ('' when empty): the restore refuses a non-empty one."""
    if vendor() == "postgresql":
        import psycopg

        params = _postgres_params()
        conninfo = " ".join(f"{k}={v}" for k, v in params.items() if v)
        with psycopg.connect(conninfo) as conn:
            tables = _one(conn, "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")
            if not tables:
                return ""
            clinics = 0
            if _one(conn, "SELECT to_regclass('public.clinic_clinic')"):
                clinics = _one(conn, "SELECT count(*) FROM clinic_clinic")
        return f"database {params['dbname']} has {tables} tables and {clinics} clinics"
    path = Path(settings.DATABASES["default"]["NAME"])
    if not path.exists() or path.stat().st_size == 0:
        return ""
    with sqlite3.connect(str(path)) as conn:
        tables = conn.execute("SELECT count(*) FROM sqlite_master WHERE type = 'table'").fetchone()[
            0
        ]
        if not tables:
            return ""
        clinics = 0
        if conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'clinic_clinic'"
        ).fetchone():
            clinics = conn.execute("SELECT count(*) FROM clinic_clinic").fetchone()[0]
    return f"database {path} has {tables} tables and {clinics} clinics"


def load(directory: Path, filename: str, *, replace: bool) -> None:
    """Put the set's database copy into the target database (emptied first with ``replace``)."""
    connections.close_all()
    if filename == DUMP_POSTGRES:
        if vendor() != "postgresql":
            raise BackupError("This set holds a PostgreSQL database; DATABASE_URL is not one.")
        _load_postgres(directory / filename, replace=replace)
    elif filename == DUMP_SQLITE:
        if vendor() != "sqlite":
            raise BackupError("This set holds a SQLite database; DATABASE_URL must be SQLite.")
        _load_sqlite(directory / filename)
    else:
        raise BackupError(f"Unknown database copy in the set: {filename}")


def _load_postgres(path: Path, *, replace: bool) -> None:
    import psycopg

    params = _postgres_params()
    if replace:
        conninfo = " ".join(f"{k}={v}" for k, v in params.items() if v)
        with psycopg.connect(conninfo, autocommit=True) as conn:
            conn.execute("DROP SCHEMA IF EXISTS public CASCADE")
            conn.execute("CREATE SCHEMA public")
    command = [executable("pg_restore", "postgresql-client"), "--exit-on-error"]
    command += ["--single-transaction", "--dbname", params["dbname"], str(path)]
    completed = subprocess.run(  # noqa: S603 - our arguments, no shell
        command, env=_pg_env(params), capture_output=True, check=False
    )
    if completed.returncode != 0:
        text = completed.stderr.decode(errors="replace").strip()
        raise BackupError(f"pg_restore into {params['dbname']} failed: {text[-500:]}")


def _load_sqlite(path: Path) -> None:
    target_path = Path(settings.DATABASES["default"]["NAME"])
    # Through SQLite's backup API, page by page into the target (and its WAL, when it has
    # one): never by copying files, which would tear a database in WAL mode.
    source = sqlite3.connect(str(path))
    target = sqlite3.connect(str(target_path))
    try:
        source.backup(target)
    finally:
        source.close()
        target.close()


# --- a scratch database (backup_verify) -----------------------------------------------------


def scratch_create() -> tuple[str, str]:
    """A new, empty database beside the live one, made by the backup role; its name and URL."""
    import secrets

    import psycopg

    params = _postgres_params()
    name = f"{params['dbname']}_verify_{secrets.token_hex(4)}"[:63]
    conninfo = " ".join(f"{k}={v}" for k, v in params.items() if v)
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    auth = params["user"] + (f":{quote(params['password'], safe='')}" if params["password"] else "")
    return name, f"postgres://{auth}@{params['host']}:{params['port']}/{name}"


def scratch_drop(name: str) -> None:
    import psycopg

    params = _postgres_params()
    conninfo = " ".join(f"{k}={v}" for k, v in params.items() if v)
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
