"""The clinic's audit log for its admins (``audit.view``): filtered by patient, staff member,
action and dates, a page at a time by keyset, and the same selection as a streamed CSV. Both
are accesses themselves, and on record."""

from __future__ import annotations

import csv
import json
import uuid
from collections.abc import Iterator
from urllib.parse import urlencode

from django.http import HttpResponse, StreamingHttpResponse
from django.shortcuts import render
from django.utils import timezone

from audit import queries
from audit.access import record_access, require_audited
from audit.actions import action_label
from audit.forms import LogFilterForm
from audit.http import ClinicRequest
from audit.queries import LogFilter, LogRow
from clinic import selectors as clinic_selectors
from clinic.models import Clinic
from clinic.responses import file_response
from clinic.tenancy import clinic_context

PERMISSION = "audit.view"
DETAILS_SHOWN = 160
# A spreadsheet runs a cell that starts with one of these as a formula (CSV injection).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _staff(clinic: Clinic) -> list[tuple[uuid.UUID, str]]:
    return [(m.user_id, str(m.user)) for m in clinic_selectors.staff_of(clinic=clinic)]


def _keyset(value: str | None) -> int | None:
    try:
        number = int(value or "")
    except ValueError:
        return None
    return number if 0 < number < 2**62 else None


def _parse(request: ClinicRequest) -> tuple[LogFilterForm, LogFilter | None, list]:
    """The filter form, the filter it gives (None while it has errors or the typed patient
    is ambiguous) and the patients a typed name matched."""
    form = LogFilterForm(request.GET or None, staff=_staff(request.clinic))
    if not request.GET:
        return form, LogFilter(), []
    if not form.is_valid():
        return form, None, []
    typed = form.cleaned_data.get("patient_q", "").strip()
    if form.cleaned_data.get("patient") or not typed:
        return form, form.log_filter(), []
    matches = queries.patients_matching(request.clinic, typed)
    if len(matches) == 1:
        return form, form.log_filter(patient_id=matches[0][0]), matches
    if not matches:
        form.add_error("patient_q", f"No patient of this clinic matches “{typed}”.")
    return form, None, matches


def _query(filters: LogFilter, **extra) -> str:
    """The query string of a filter (and a keyset position), for links."""
    params = {
        "patient": filters.patient_id or "",
        "actor": filters.actor_id or "",
        "action": filters.action,
        "date_from": filters.date_from or "",
        "date_to": filters.date_to or "",
        **extra,
    }
    return urlencode({k: v for k, v in params.items() if v})


def details_text(details: dict) -> str:
    """An event's details as compact JSON."""
    return json.dumps(details, sort_keys=True, separators=(",", ":"), default=str)


@require_audited(PERMISSION)
def audit_log(request: ClinicRequest, clinic_slug: str) -> HttpResponse:
    """The log, newest first, a page at a time."""
    form, filters, matches = _parse(request)
    before, after = _keyset(request.GET.get("before")), _keyset(request.GET.get("after"))
    page = None
    if filters is not None:
        page = queries.log_page(clinic=request.clinic, filters=filters, before=before, after=after)
    record_access(
        request,
        "audit.log_viewed",
        patient=filters.patient_id if filters else None,
        details={
            **(filters.as_details() if filters else {"filter": "not valid"}),
            **({"before": before} if before else {}),
            **({"after": after} if after else {}),
        },
    )
    patient_name = ""
    if filters and filters.patient_id and page is not None:
        patient_name = page.names.get(filters.patient_id, "")
    return render(
        request,
        "audit/log.html",
        {
            "form": form,
            "filters": filters,
            "matches": [
                {"name": name, "query": _query(LogFilter(patient_id=pk))} for pk, name in matches
            ]
            if filters is None
            else [],
            "page": page,
            "rows": [_display(row) for row in page.rows] if page else [],
            "patient_name": patient_name,
            "older_url": f"?{_query(filters, before=page.older)}"
            if filters and page and page.older
            else "",
            "newer_url": f"?{_query(filters, after=page.newer)}"
            if filters and page and page.newer
            else "",
            "export_query": _query(filters) if filters else "",
            "without_patient": _query(
                LogFilter(
                    actor_id=filters.actor_id,
                    action=filters.action,
                    date_from=filters.date_from,
                    date_to=filters.date_to,
                )
            )
            if filters
            else "",
        },
    )


def _display(row: LogRow) -> dict:
    event = row.event
    details = details_text(event.details) if event.details else ""
    return {
        "event": event,
        "label": action_label(event.action),
        "who": row.who,
        "patient_name": row.patient_name,
        "details": details[:DETAILS_SHOWN] + ("…" if len(details) > DETAILS_SHOWN else ""),
        "details_full": details if len(details) > DETAILS_SHOWN else "",
    }


# --- CSV ---------------------------------------------------------------------------------------

CSV_HEADER = [
    "seq",
    "time",
    "staff member",
    "staff id",
    "actor label",
    "action",
    "what happened",
    "patient",
    "patient id",
    "target type",
    "target id",
    "ip",
    "user agent",
    "details",
    "hash",
]


def neutralise(value: object) -> str:
    """A cell a spreadsheet shows as text: one that would start a formula gets a leading
    apostrophe (OWASP's advice for CSV injection)."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def csv_row(row: LogRow) -> list[str]:
    event = row.event
    cells = [
        event.seq,
        timezone.localtime(event.created_at).isoformat(timespec="seconds"),
        row.actor_name,
        event.actor_id or "",
        event.actor_label,
        event.action,
        action_label(event.action),
        row.patient_name,
        event.patient_id or "",
        event.target_type,
        event.target_id,
        event.ip or "",
        event.user_agent,
        details_text(event.details) if event.details else "",
        event.hash,
    ]
    return [neutralise(cell) for cell in cells]


class _Line:
    """A file-like sink for csv.writer that hands back what was written."""

    def write(self, value: str) -> str:
        return value


def _csv_lines(clinic: Clinic, filters: LogFilter, before: int) -> Iterator[str]:
    writer = csv.writer(_Line())
    yield "\ufeff" + writer.writerow(CSV_HEADER)  # the BOM: spreadsheets then read UTF-8
    chunks = queries.log_chunks(clinic=clinic, filters=filters, before=before)
    while True:
        # The body streams after the view's transaction ended: each chunk is read in the
        # clinic's context of its own (row-level security shows nothing outside one).
        with clinic_context(clinic.id):
            rows = next(chunks, None)
        if rows is None:
            return
        for row in rows:
            yield writer.writerow(csv_row(row))


@require_audited(PERMISSION)
def audit_export(request: ClinicRequest, clinic_slug: str) -> HttpResponse | StreamingHttpResponse:
    """The filtered log as CSV, streamed; the export is itself an event."""
    form, filters, _ = _parse(request)
    if filters is None:
        return render(
            request,
            "audit/log.html",
            {"form": form, "filters": None, "rows": [], "export_refused": True},
            status=400,
        )
    exported = record_access(
        request, "audit.exported", patient=filters.patient_id, details=filters.as_details()
    )
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
    # Everything before the export's own event: the file is the log as it stood when asked.
    return file_response(
        _csv_lines(request.clinic, filters, before=exported.seq),
        "text/csv; charset=utf-8",
        filename=f"audit-{request.clinic.slug}-{stamp}.csv",
        attachment=True,
    )
