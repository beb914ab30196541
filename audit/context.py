"""Who asked, and from where: what the trail records of a request, built once per request by
``audit.middleware.AuditContextMiddleware`` (``request.audit``) and handed to the services,
which take this instead of the request.

The member is the one signed in when the context was made; signing in or out during the
request makes a new one (the middleware listens for Django's signals), so an event after
``login`` names the new member."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from django.http import HttpRequest

USER_AGENT_MAX = 300


@dataclass(frozen=True)
class AuditContext:
    # The request's user (lazy: read only when an event is recorded; anonymous for a patient),
    # None for a worker or the system. ``member`` is the signed-in one, or None.
    user: Any | None = None
    ip: str | None = None  # the client's address as the app was told it (REMOTE_ADDR)
    user_agent: str = ""
    request_id: str = ""

    @classmethod
    def of(cls, request: HttpRequest) -> AuditContext:
        return cls(
            user=getattr(request, "user", None),
            ip=request.META.get("REMOTE_ADDR") or None,
            user_agent=request.META.get("HTTP_USER_AGENT", "")[:USER_AGENT_MAX],
            request_id=getattr(request, "request_id", ""),
        )

    @property
    def member(self) -> Any | None:
        user = self.user
        return user if user is not None and user.is_authenticated else None

    def signed_in_as(self, user: Any | None) -> AuditContext:
        return replace(self, user=user)


def context_of(request: HttpRequest) -> AuditContext:
    """The request's context: the middleware's, or (for a request it did not see, such as
    one made in a test) one made now."""
    context = getattr(request, "audit", None)
    return context if isinstance(context, AuditContext) else AuditContext.of(request)
