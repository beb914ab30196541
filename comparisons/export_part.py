"""What comparisons add to an evidence export: each finished comparison's PDF and aligned image
under ``comparisons/``, and, in a patient's own copy, the shares sent to them (``shares``)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from comparisons.models import Comparison, ComparisonShare, ComparisonStatus
from exports.bundle import BundleFile
from exports.contents import BundlePart
from exports.models import Export
from vault import storage


def _finished(export: Export):
    comparisons = Comparison.objects.filter(
        clinic=export.clinic, patient=export.patient, status=ComparisonStatus.READY
    ).select_related("image", "pdf")
    if export.episode_id:
        comparisons = comparisons.filter(before__episode_id=export.episode_id)
    return comparisons.order_by("created_at")


def comparison_files(export: Export) -> Iterator[BundleFile]:
    """The PDF and JPEG of every finished comparison the export covers."""
    for comparison in _finished(export):
        stem = f"comparisons/{comparison.created_at:%Y%m%d}-comparison-{str(comparison.pk)[:8]}"
        ids = {
            "comparison_id": str(comparison.pk),
            "before_photo_id": str(comparison.before_id),
            "after_photo_id": str(comparison.after_id),
        }
        for blob, ext, kind in (
            (comparison.pdf, "pdf", "before/after comparison (PDF)"),
            (comparison.image, "jpg", "before/after comparison (aligned image)"),
        ):
            if blob is not None:
                yield BundleFile(
                    path=f"{stem}.{ext}",
                    kind=kind,
                    chunks=storage.blob_iter_prepared(blob),
                    size=blob.size,
                    ids=ids,
                )


def _iso(value) -> str | None:
    return value.isoformat() if value else None


def shares_data(export: Export) -> list[dict[str, Any]]:
    """Every comparison shared with the patient: to whom, when, seen how often, revoked when."""
    shares = ComparisonShare.objects.filter(clinic=export.clinic, patient=export.patient)
    return [
        {
            "id": str(s.pk),
            "comparison_id": str(s.comparison_id),
            "sent_to": s.sent_to,
            "created_at": _iso(s.created_at),
            "expires_at": _iso(s.expires_at),
            "emailed_at": _iso(s.emailed_at),
            "opened_at": _iso(s.opened_at),
            "views": s.views,
            "revoked_at": _iso(s.revoked_at),
        }
        for s in shares.order_by("created_at")
    ]


# Named "shares": its data fills that key of data.json.
COMPARISONS_PART = BundlePart(
    name="shares",
    files=comparison_files,
    data=shares_data,
    folders={"comparisons/": "each finished before/after comparison, as PDF and aligned image"},
)
