"""The patient's ledger: for each of their photos used beyond their record, where and since
when. Shown on the page behind the withdrawal link. Marketing library items are consent's
own; apps above (comparisons' shares, exports) add theirs by registering a source from their
ready(), so consent never imports them.

It describes photos in words (stage, area, view, date) and never shows them: the withdrawal
link asks for no date of birth, so a forwarded e-mail must not show anyone the patient's face.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from clinic.hubs import Hub
from clinic.models import Clinic
from consent.models import ConsentUse, MarketingItem
from patients.models import Patient
from photos.models import Photo


@dataclass(frozen=True)
class LedgerUse:
    """One use of one or more photos outside the clinical record."""

    photo_ids: tuple[uuid.UUID, ...]
    where: str
    since: datetime
    until: datetime | None = None
    ended: str = ""  # how it ended, e.g. "removed", "link expired"
    note: str = ""  # e.g. "opened 3 times"
    once: bool = False  # a hand-over on one day (an export), not a use that lasts


@dataclass
class LedgerPhoto:
    photo: Photo
    uses: list[LedgerUse] = field(default_factory=list)

    @property
    def in_use(self) -> bool:
        return any(use.until is None for use in self.uses)


LedgerSource = Callable[[Clinic, Patient], list[LedgerUse]]
SOURCES: Hub[LedgerSource] = Hub(
    "consent.ledger", "where else a patient's photos went, for the patient's ledger"
)


def register_source(name: str, source: LedgerSource) -> None:
    """Add ``source(clinic, patient) -> [LedgerUse]`` under ``name``; from an app's ready()."""
    SOURCES.register(name, source)


def marketing_uses(clinic: Clinic, patient: Patient) -> list[LedgerUse]:
    """Each time a photo went into the clinic's marketing library, for which use."""
    labels = dict(ConsentUse.choices)
    return [
        LedgerUse(
            photo_ids=(item.photo_id,),
            where=f"The clinic's marketing library: {labels.get(item.use, item.use)}",
            since=item.added_at,
            until=item.removed_at,
            ended="removed" if item.removed_at else "",
        )
        for item in MarketingItem.objects.filter(clinic=clinic, photo__patient=patient)
    ]


def ledger_for(*, clinic: Clinic, patient: Patient) -> list[LedgerPhoto]:
    """The patient's photos that were used beyond their record, each with its uses (newest
    first), photos still in use first."""
    uses = marketing_uses(clinic, patient)
    for source in SOURCES.values():
        uses.extend(source(clinic, patient))
    wanted = {photo_id for use in uses for photo_id in use.photo_ids}
    photos = {
        p.pk: LedgerPhoto(photo=p)
        for p in Photo.objects.filter(clinic=clinic, patient=patient, pk__in=wanted)
    }
    for use in sorted(uses, key=lambda u: u.since, reverse=True):
        for photo_id in use.photo_ids:
            if photo_id in photos:
                photos[photo_id].uses.append(use)
    return sorted(photos.values(), key=lambda lp: (not lp.in_use, -lp.uses[0].since.timestamp()))
