from django.http import HttpRequest

from clinic.permissions import ROLE_PERMISSIONS


def clinic(request: HttpRequest) -> dict:
    """The open clinic, the member's role and what it allows, for the layout and menus."""
    membership = getattr(request, "membership", None)
    return {
        "clinic": getattr(request, "clinic", None),
        "membership": membership,
        "can": {p.replace(".", "_"): True for p in ROLE_PERMISSIONS.get(membership.role, ())}
        if membership
        else {},
    }
