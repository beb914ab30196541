"""Bulk loading through PostgreSQL's COPY, for seeding large volumes (``seed_scale``).

Rows are given as dicts of attribute names; every concrete field of the model not given takes
its default as the ORM would store it (a callable default per row, ``auto_now`` fields the
load's own time, "" or None otherwise), so a field added to a model later is filled the way
``save()`` would fill it, and a new required field without a default stops the load with
PostgreSQL naming its column.

COPY FROM is refused on a table under row-level security to every role bound by it, and our
tables FORCE it even on their owner. So the load runs as the owner (as migrations do), and
inside its transaction lifts FORCE from the one table it copies into, copies, and puts FORCE
back: DDL is transactional, so no other session ever sees the table unforced (it waits on the
table's lock until the load commits).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db import connection, models
from django.utils import timezone
from psycopg.types.json import Jsonb


class _Missing:
    pass


def _filler(field: models.Field, now):
    if getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False):
        return lambda: now
    # What the ORM would store for a field not set: its default, "" or None.
    return field._get_default  # type: ignore[attr-defined]  # private, so not in the stubs


def copy_rows(model: type[models.Model], rows: Iterable[dict[str, Any]]) -> int:
    """COPY ``rows`` into ``model``'s table; returns how many were written."""
    now = timezone.now()
    fields = [f for f in model._meta.concrete_fields if not isinstance(f, models.AutoField)]
    fillers = {f.attname: _filler(f, now) for f in fields}
    json_fields = {f.attname for f in fields if isinstance(f, models.JSONField)}
    quote = connection.ops.quote_name
    columns = ", ".join(quote(f.column) for f in fields)
    names = [f.attname for f in fields]
    sql = f"COPY {quote(model._meta.db_table)} ({columns}) FROM STDIN"
    count = 0
    table = quote(model._meta.db_table)
    if not connection.in_atomic_block:
        raise RuntimeError("copy_rows runs inside a transaction (it lifts FORCE RLS for it)")
    with connection.cursor() as cursor:
        cursor.execute("SELECT relforcerowsecurity FROM pg_class WHERE oid = %s::regclass", [table])
        forced = cursor.fetchone()[0]
        if forced:
            cursor.execute(f"ALTER TABLE {table} NO FORCE ROW LEVEL SECURITY")
        with cursor.cursor.copy(sql) as copy:
            for row in rows:
                values = []
                for name in names:
                    value = row.get(name, _Missing)
                    if value is _Missing:
                        value = fillers[name]()
                    if name in json_fields and value is not None:
                        value = Jsonb(value)
                    values.append(value)
                copy.write_row(values)
                count += 1
        if forced:
            # The copied rows' foreign keys are checked now rather than at commit (a table
            # with pending checks cannot be altered), then deferred again as Django makes them.
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            cursor.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
            cursor.execute("SET CONSTRAINTS ALL DEFERRED")
    return count
