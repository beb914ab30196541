"""Finding comparisons, suggesting pairs, and the links that share them. Every selector takes
the clinic explicitly."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db.models import QuerySet
from django.utils import dateformat, timezone

from clinic.models import Clinic
from clinic.tokens import token_hash
from comparisons.models import Comparison, ComparisonShare
from consent.ledger import LedgerUse
from patients.models import Patient
from photos.models import Photo, PhotoStatus, Stage
from photos.selectors import sequence_for


@dataclass(frozen=True)
class Suggestion:
    """A pair worth comparing: same area and view, the before and a later after."""

    before: Photo
    after: Photo
    why: str


def ready_photos_of(*, clinic: Clinic, patient: Patient) -> QuerySet[Photo]:
    """The patient's photos that can go into a comparison: ready and not deleted."""
    return Photo.objects.filter(
        clinic=clinic, patient=patient, status=PhotoStatus.READY, deleted_at__isnull=True
    ).select_related("episode")


def _pairs(photos) -> list[tuple]:
    """(before, after, why) per treatment and area and view, from ``photos`` oldest first: its
    latest before with its latest after, and with the latest follow-up of that area and view;
    newest pairs first. Works on photos or on rows with the same attributes."""
    latest: dict[tuple, Any] = {}
    follow_ups: dict[tuple, Any] = {}
    for photo in photos:  # oldest first, so later ones overwrite
        latest[(photo.episode_id, photo.area, photo.view, photo.stage)] = photo
        if photo.stage == Stage.FOLLOW_UP:
            follow_ups[(photo.area, photo.view)] = photo
    found: list[tuple] = []
    for (episode_id, area, view, stage), before in latest.items():
        if stage != Stage.BEFORE:
            continue
        after = latest.get((episode_id, area, view, Stage.AFTER))
        if after and after.taken_at >= before.taken_at:
            found.append((before, after, "Latest before and after of this treatment"))
        follow_up = follow_ups.get((area, view))
        if follow_up and follow_up.taken_at > before.taken_at:
            found.append((before, follow_up, "Before and the latest follow-up"))
    found.sort(key=lambda pair: (pair[1].taken_at, pair[0].taken_at), reverse=True)
    return found


def suggestions_for(*, clinic: Clinic, patient: Patient) -> list[Suggestion]:
    """The pairs worth comparing (``_pairs``), as photos."""
    photos = ready_photos_of(clinic=clinic, patient=patient).order_by("taken_at")
    return [Suggestion(*pair) for pair in _pairs(photos)]


def presentation_pairs(*, clinic: Clinic, patient: Patient) -> list[Suggestion]:
    """The suggested pairs in the order they are shown to a patient: the newest treatment
    first; in it, its areas in the order recorded, and in each area the views in the order of
    the treatment's capture protocol (front first by default), the after before the follow-up."""
    pairs = suggestions_for(clinic=clinic, patient=patient)
    newest: dict[Any, datetime] = {}
    for pair in pairs:
        known = newest.get(pair.before.episode_id)
        newest[pair.before.episode_id] = max(known or pair.after.taken_at, pair.after.taken_at)
    protocols: dict[str, list[str]] = {}

    def place(pair: Suggestion) -> tuple:
        episode = pair.before.episode
        if episode.treatment_type not in protocols:
            protocols[episode.treatment_type] = sequence_for(
                clinic=clinic, treatment_type=episode.treatment_type
            )
        views = protocols[episode.treatment_type]
        areas = list(episode.areas or [])
        area, view = pair.before.area, pair.before.view
        return (
            -newest[episode.id].timestamp(),
            str(episode.id),
            areas.index(area) if area in areas else len(areas),
            area,
            views.index(view) if view in views else len(views),
            view,
            pair.after.stage != Stage.AFTER,
        )

    return sorted(pairs, key=place)


def suggestion_count(*, clinic: Clinic, patient: Patient) -> int:
    """How many pairs ``suggestions_for`` would offer, from five columns of each photo: the
    patient page only needs to know whether there is one (at 200 photos, loading them whole
    again cost more than the rest of the panel)."""
    rows = (
        ready_photos_of(clinic=clinic, patient=patient)
        .select_related(None)
        .order_by("taken_at")
        .values_list("episode_id", "area", "view", "stage", "taken_at", named=True)
    )
    return len(_pairs(rows))


def comparisons_of(*, clinic: Clinic, patient: Patient) -> QuerySet[Comparison]:
    return Comparison.objects.filter(clinic=clinic, patient=patient).select_related(
        "before", "after"
    )


def comparison_get(*, clinic: Clinic, comparison_id) -> Comparison | None:
    return (
        Comparison.objects.filter(clinic=clinic, pk=comparison_id)
        .select_related(
            "patient",
            "before__episode",
            "after__episode",
            "before__display",
            "after__display",
            "image",
            "pdf",
        )
        .first()
    )


def shares_of(*, clinic: Clinic, comparison: Comparison) -> QuerySet[ComparisonShare]:
    return ComparisonShare.objects.filter(clinic=clinic, comparison=comparison)


def share_get(*, clinic: Clinic, share_id) -> ComparisonShare | None:
    if not share_id:
        return None
    return (
        ComparisonShare.objects.filter(clinic=clinic, pk=share_id)
        .select_related("comparison__before", "comparison__after", "patient")
        .first()
    )


def share_by_token(*, clinic: Clinic, token: str) -> ComparisonShare | None:
    return (
        ComparisonShare.objects.filter(clinic=clinic, token_hash=token_hash(token))
        .select_related("comparison", "patient")
        .first()
    )


def open_shares_of(*, clinic: Clinic, patient: Patient) -> QuerySet[ComparisonShare]:
    """Links not revoked and not locked (expired ones included: revoking them costs nothing)."""
    return ComparisonShare.objects.filter(
        clinic=clinic, patient=patient, revoked_at__isnull=True, locked_at__isnull=True
    )


def shares_ledger(clinic: Clinic, patient: Patient) -> list[LedgerUse]:
    """The patient's ledger entries for comparisons e-mailed to them (consent/ledger.py)."""
    now = timezone.now()
    uses = []
    for share in ComparisonShare.objects.filter(clinic=clinic, patient=patient).select_related(
        "comparison"
    ):
        if share.revoked_at:
            until, ended = share.revoked_at, "link revoked"
        elif share.expires_at <= now:
            until, ended = share.expires_at, "link expired"
        else:
            until, ended = None, ""
        uses.append(
            LedgerUse(
                photo_ids=(share.comparison.before_id, share.comparison.after_id),
                where="A before/after comparison e-mailed to you",
                since=share.created_at,
                until=until,
                ended=ended,
                note=f"opened {share.views} time{'s' if share.views != 1 else ''}",
            )
        )
    return uses


def comparison_to_render(*, clinic_id, comparison_id) -> Comparison | None:
    """The comparison the worker renders, locked, with what its image and PDF show."""
    return (
        Comparison.objects.select_for_update(of=("self",))
        .select_related(
            "clinic",
            "patient",
            "created_by",
            "before__episode__practitioner",
            "after__episode",
            "before__display",
            "after__display",
        )
        .filter(clinic_id=clinic_id, pk=comparison_id)
        .first()
    )


def photo_label(photo: Photo) -> str:
    """What a photo is called on the image and in the room: its stage and local date."""
    # The house date format ("5 Mar 2026"), as every template writes it.
    taken = dateformat.format(timezone.localtime(photo.taken_at), "j M Y")
    return f"{photo.get_stage_display()} · {taken}"


def initials(patient: Patient) -> str:
    return "".join(
        f"{part[:1].upper()}." for part in (patient.first_name, patient.last_name) if part
    )


def comparison_pdf_context(
    comparison: Comparison,
    *,
    transform,
    crop,
    relative_scale: float,
    nudged: bool,
    rendered_at: datetime,
) -> dict[str, Any]:
    """What the evidence PDF of a comparison shows (templates/comparisons/pdf.html): the
    patient named in full only when the practitioner chose to, the photos, their treatments,
    and how the after was aligned."""
    patient = comparison.patient
    before, after = comparison.before, comparison.after
    return {
        "clinic": comparison.clinic,
        "comparison": comparison,
        "patient_name": patient.full_name if comparison.show_full_name else initials(patient),
        "before": before,
        "after": after,
        "episodes": list(dict.fromkeys([before.episode, after.episode])),
        "transform": transform,
        "relative_scale": relative_scale,
        "crop": crop,
        "nudged": nudged,
        "rendered_at": rendered_at,
    }
