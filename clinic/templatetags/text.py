"""Small text filters for templates."""

from __future__ import annotations

import re

from django import template
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

register = template.Library()

# Where a long address may break on a narrow screen: before the @ and after a dot, dash or
# underscore, so a line never ends mid-word ("jo.smith" / "@harbour-" / "clinic.example").
_EMAIL_BREAK = re.compile(r"(@)|([._\-+])")


@register.filter
def email_breaks(address: str) -> SafeString:
    """An e-mail address, escaped, with line-break opportunities at its natural joints."""
    escaped = escape(address or "")

    def wbr(match: re.Match) -> str:
        return f"<wbr>{match.group(1)}" if match.group(1) else f"{match.group(2)}<wbr>"

    # Safe: the address was escaped above; only <wbr> tags are added.
    return mark_safe(_EMAIL_BREAK.sub(wbr, str(escaped)))  # noqa: S308
