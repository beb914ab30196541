"""What each action in the trail means, in the clinic's words: the audit log's filter and its
rows use these labels. An action missing here is still shown (by its code), and the coverage
walk (tests/audit/test_coverage.py) fails for an action a page records without a label."""

from __future__ import annotations

ACTION_GROUPS: dict[str, dict[str, str]] = {
    "Patients": {
        "patient.list_viewed": "Saw a list of patients",
        "patient.viewed": "Opened the patient's record",
        "patient.created": "Added the patient",
        "patient.updated": "Changed the patient's details",
        "patient.archived": "Archived the patient",
        "patient.restored": "Restored the patient",
        "episode.viewed": "Opened a treatment",
        "episode.created": "Recorded a treatment",
        "episode.updated": "Changed a treatment",
    },
    "Photos": {
        "photo.viewed": "Viewed a photo",
        "photo.thumbnails_viewed": "Was shown the patient's photos (thumbnails)",
        "photo.details_viewed": "Opened a photo's details",
        "photo.ghost_shown": "Was shown an earlier photo as a capture guide",
        "photo.downloaded": "Downloaded an original photo",
        "photo.uploaded": "Uploaded a photo",
        "photo.processed": "Photo prepared",
        "photo.failed": "Photo could not be processed",
        "photo.requeued": "Photo queued again",
        "photo.deleted": "Deleted a photo",
        "photo.details_corrected": "Corrected a photo's details",
        "photos.sequence_changed": "Changed a capture sequence",
    },
    "Consent": {
        "consent.requested": "Sent a consent form",
        "consent.requests_superseded": "Earlier consent links replaced",
        "consent.opened": "Patient opened a consent link",
        "consent.identity_failed": "Wrong date of birth on a consent link",
        "consent.form_viewed": "Patient read the consent form",
        "consent.signed": "Patient signed consent",
        "consent.record_viewed": "Opened a signed consent",
        "consent.signature_viewed": "Viewed a signature",
        "consent.pdf_viewed": "Opened a consent PDF",
        "consent.withdrawal_page_viewed": "Patient opened the withdrawal page",
        "consent.withdrawn": "Consent withdrawn",
        "consent.withdrawal_undone": "Withdrawal undone",
        "consent.template_versioned": "Changed the consent form",
        "marketing.library_viewed": "Opened the marketing library",
        "marketing.added": "Added a photo to marketing",
        "marketing.removed": "Removed a photo from marketing",
    },
    "Comparisons": {
        "comparison.created": "Made a comparison",
        "comparison.viewed": "Opened a comparison",
        "comparison.render_requested": "Asked for a comparison image",
        "comparison.rendered": "Comparison image made",
        "comparison.image_viewed": "Viewed a comparison image",
        "comparison.pdf_viewed": "Opened a comparison PDF",
        "comparison.presented": "Presented photos to the patient",
        "comparison.shared": "Sent a comparison to the patient",
        "comparison.share_revoked": "Revoked a shared comparison",
        "comparison.shares_revoked": "Shared comparisons revoked",
        "comparison.share_opened": "Patient opened a shared comparison",
        "comparison.share_identity_failed": "Wrong date of birth on a shared comparison",
        "comparison.share_page_viewed": "Patient viewed a shared comparison",
        "comparison.share_image_viewed": "Patient viewed a shared image",
        "comparison.share_pdf_viewed": "Patient opened a shared PDF",
    },
    "Exports": {
        "export.created": "Asked for an export",
        "export.viewed": "Opened an export",
        "export.built": "Export built",
        "export.failed": "Export failed",
        "export.downloaded": "Downloaded an export",
        "export.expired": "Export deleted after expiry",
        "export.signing_key_created": "Export signing key made",
        "export.signing_key_rotated": "Export signing key replaced (the old one retired)",
        "export.cover_letter": "Downloaded an export's cover letter",
        "export.bundle_checked": "Checked an evidence bundle sent back",
    },
    "Staff and sign-in": {
        "auth.login": "Signed in",
        "auth.logout": "Signed out",
        "auth.login_failed": "Failed sign-in",
        "auth.locked_out": "Locked out after failed sign-ins",
        "auth.2fa_failed": "Wrong two-factor code",
        "auth.2fa_enrolled": "Set up two-factor sign-in",
        "auth.2fa_reset": "Two-factor sign-in reset",
        "auth.password_changed": "Changed password",
        "auth.reauth_failed": "Failed to confirm identity",
        "auth.probes_suppressed": "Further failed sign-ins not recorded one by one",
        "staff.invited": "Invited a member of staff",
        "staff.joined": "Joined the clinic",
        "staff.role_changed": "Changed a role",
        "staff.deactivated": "Deactivated a member of staff",
    },
    "Clinic and trail": {
        "clinic.created": "Clinic created",
        "clinic.branding_changed": "Changed the clinic's name or logo",
        "keys.rotated": "Encryption keys rotated",
        "keys.two_factor_resealed": "Two-factor keys resealed",
        "access.denied": "Asked for something not in this clinic",
        "access.forbidden": "Refused: the role does not allow it",
        "audit.log_viewed": "Read the audit log",
        "audit.exported": "Exported the audit log",
        "audit.verification_failed": "The audit trail failed its check",
        "audit.personal_resealed": "Sealed older events' personal detail",
        "audit.patient_key_destroyed": "Destroyed the patient's key in the trail",
    },
    "Retention and erasure": {
        "retention.rules_changed": "Changed the retention rules",
        "retention.due_listed": "Saw the records due for erasure",
        "retention.hold_placed": "Placed a legal hold",
        "retention.hold_lifted": "Lifted a legal hold",
        "patient.erasure_previewed": "Reviewed the record before erasing it",
        "patient.erased": "Erased the patient's record",
        "patient.erased_objects_deleted": "Deleted the erased record's files",
        "patient.marketing_erased": "Withdrew and removed every marketing use",
        "erasure.viewed": "Opened an erased record's tombstone",
    },
}

ACTION_LABELS: dict[str, str] = {
    action: label for group in ACTION_GROUPS.values() for action, label in group.items()
}


def action_label(action: str) -> str:
    """The clinic's words for ``action``, or the code itself for one not catalogued yet."""
    return ACTION_LABELS.get(action, action)
