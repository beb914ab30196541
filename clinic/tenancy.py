"""The current clinic of a request or task, and the database setting that RLS checks.

On PostgreSQL every tenant table has a forced row-level security policy that compares the row's
``clinic_id`` with the transaction-local setting ``app.clinic_id``. With no setting the policy
matches nothing, so code that forgets the context sees no data rather than everyone's.
"""

from __future__ import annotations

import contextvars
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from django.db import connection, models, transaction

_current_clinic: contextvars.ContextVar[uuid.UUID | None] = contextvars.ContextVar(
    "current_clinic", default=None
)
_current_user: contextvars.ContextVar[uuid.UUID | None] = contextvars.ContextVar(
    "current_user", default=None
)


def current_clinic_id() -> uuid.UUID | None:
    """The clinic whose context is open, or None."""
    return _current_clinic.get()


def _apply(clinic_id: uuid.UUID | None, user_id: uuid.UUID | None) -> None:
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT set_config('app.clinic_id', %s, true), set_config('app.user_id', %s, true)",
            [str(clinic_id) if clinic_id else "", str(user_id) if user_id else ""],
        )


@contextmanager
def clinic_context(
    clinic_id: uuid.UUID | str | None, user_id: uuid.UUID | str | None = None
) -> Iterator[None]:
    """Run the block in one transaction scoped to ``clinic_id`` (and, for membership look-ups,
    to ``user_id``). Nested contexts restore the outer one on exit."""
    clinic_id = uuid.UUID(str(clinic_id)) if clinic_id else None
    user_id = uuid.UUID(str(user_id)) if user_id else None
    outer = (_current_clinic.get(), _current_user.get())
    clinic_token = _current_clinic.set(clinic_id)
    user_token = _current_user.set(user_id)
    try:
        with transaction.atomic():
            _apply(clinic_id, user_id)
            yield
            # On an exception the atomic block rolls the setting back with everything else.
            _apply(*outer)
    finally:
        _current_clinic.reset(clinic_token)
        _current_user.reset(user_token)


@contextmanager
def user_context(user_id: uuid.UUID | str) -> Iterator[None]:
    """Scope to one user's own rows across clinics (their memberships), with no clinic open."""
    with clinic_context(None, user_id):
        yield


# --- bulk writes are the services' business ----------------------------------------------------

_service_write: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "service_write", default=None
)


class UnauditedWrite(Exception):
    """A bulk ``update()`` or ``delete()`` on tenant data outside a service: it would change
    rows with no audit event, so it is refused."""


@contextmanager
def service_write(reason: str) -> Iterator[None]:
    """Allow bulk ``update()``/``delete()`` on tenant models in the block: a service that
    audits the change says so here, with why (greppable: ``service_write(``)."""
    token = _service_write.set(reason)
    try:
        yield
    finally:
        _service_write.reset(token)


class TenantQuerySet(models.QuerySet):
    """The default query set of every tenant model. Single rows change through ``save()`` in
    a service; bulk ``update()`` and ``delete()`` (a shell one-liner, a forgotten filter) are
    refused unless a service opened ``service_write``."""

    def _refuse_outside_services(self, verb: str) -> None:
        if _service_write.get() is None:
            raise UnauditedWrite(
                f"{self.model._meta.label}.objects...{verb}() changes rows without an audit "
                "event. Call the service that makes this change (it audits it), or, inside "
                "that service, wrap the call in `with service_write(reason):`."
            )

    def update(self, **kwargs) -> int:
        self._refuse_outside_services("update")
        return super().update(**kwargs)

    def delete(self):
        self._refuse_outside_services("delete")
        return super().delete()


TenantManager = models.Manager.from_queryset(TenantQuerySet)
