"""`make bench` loads the audit trail with COPY (benchmarks/audit_log.py), which bypasses the
model: a column added to AuditEvent later broke the whole bench run without any test
noticing. This checks the loader's columns against the model."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from audit.models import HASH_FORMAT, AuditEvent

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
import audit_log  # noqa: E402

pytestmark = [pytest.mark.embedded]


def test_the_audit_bench_loads_every_column_the_trail_requires():
    columns = [c.strip() for c in audit_log.COLUMNS.split(",")]
    # Django keeps defaults in Python: every NOT NULL column must be in the COPY.
    required = {f.column for f in AuditEvent._meta.concrete_fields if not f.null}
    assert required <= set(columns), required - set(columns)
    row = next(audit_log.event_rows("c", 1, ["a"], ["p"], seed=1))
    assert len(row) == len(columns)
    assert row[columns.index("hash_format")] == HASH_FORMAT == audit_log.HASH_FORMAT
