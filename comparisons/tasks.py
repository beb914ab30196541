"""Background work on comparisons: rendering the files, e-mailing a share link."""

from __future__ import annotations

from celery import shared_task

from clinic.clinic_task import ClinicTask
from comparisons import services


@shared_task(base=ClinicTask, name="comparisons.tasks.render_comparison")
def render_comparison(*, clinic_id: str, comparison_id: str, version: int) -> str:
    """Render the aligned image and the A4 PDF for the comparison's latest transform."""
    return services.comparison_render(
        clinic_id=clinic_id, comparison_id=comparison_id, version=version
    )


@shared_task(base=ClinicTask, name="comparisons.tasks.send_share_email")
def send_share_email(*, clinic_id: str, share_id: str) -> str:
    """E-mail the patient the link to their comparison, from the worker."""
    return services.share_email(clinic_id=clinic_id, share_id=share_id)
