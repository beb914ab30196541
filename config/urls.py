"""URL map. Staff pages live under /c/<clinic_slug>/ so the clinic is always explicit."""

from django.urls import include, path

from accounts import views
from audit import views as audit_views
from comparisons import views as comparison_views
from config import link_routes
from consent import views as consent_views
from exports import views as export_views
from patients import views as patient_views
from photos import views as photo_views
from retention import views as retention_views

clinic_patterns = [
    path("", patient_views.dashboard, name="dashboard"),
    path("patients/", patient_views.patient_list, name="patient_list"),
    path("patients/new/", patient_views.patient_create, name="patient_create"),
    path("patients/<uuid:patient_id>/", patient_views.patient_detail, name="patient_detail"),
    path("patients/<uuid:patient_id>/edit/", patient_views.patient_edit, name="patient_edit"),
    path(
        "patients/<uuid:patient_id>/archive/", patient_views.patient_archive, name="patient_archive"
    ),
    path(
        "patients/<uuid:patient_id>/treatments/new/",
        patient_views.episode_create,
        name="episode_create",
    ),
    path("treatments/<uuid:episode_id>/edit/", patient_views.episode_edit, name="episode_edit"),
    path("patients/<uuid:patient_id>/photos/add/", photo_views.photo_upload, name="photo_upload"),
    path(
        "patients/<uuid:patient_id>/photos/status/",
        photo_views.photo_status,
        name="photo_status",
    ),
    path("patients/<uuid:patient_id>/photos/ghost/", photo_views.photo_ghost, name="photo_ghost"),
    path(
        "patients/<uuid:patient_id>/photos/capture/",
        photo_views.photo_capture,
        name="photo_capture",
    ),
    path("capture-sequences/", photo_views.capture_sequences, name="capture_sequences"),
    path("photos/<uuid:photo_id>/", photo_views.photo_detail, name="photo_detail"),
    path("photos/<uuid:photo_id>/thumb/", photo_views.photo_thumb, name="photo_thumb"),
    path("photos/<uuid:photo_id>/display/", photo_views.photo_display, name="photo_display"),
    path("photos/<uuid:photo_id>/original/", photo_views.photo_original, name="photo_original"),
    path("photos/<uuid:photo_id>/delete/", photo_views.photo_delete, name="photo_delete"),
    path("photos/<uuid:photo_id>/correct/", photo_views.photo_correct, name="photo_correct"),
    path(
        "patients/<uuid:patient_id>/consent/request/",
        consent_views.request_consent,
        name="consent_request",
    ),
    path(
        "patients/<uuid:patient_id>/consent/withdraw/",
        consent_views.record_withdrawal,
        name="consent_record_withdrawal",
    ),
    path("consent/records/<uuid:record_id>/", consent_views.consent_record, name="consent_record"),
    path(
        "consent/records/<uuid:record_id>/signature/",
        consent_views.consent_signature,
        name="consent_signature",
    ),
    path("consent/records/<uuid:record_id>/pdf/", consent_views.consent_pdf, name="consent_pdf"),
    path("consent/form/", consent_views.consent_templates, name="consent_templates"),
    path("marketing/", consent_views.marketing_library, name="marketing_library"),
    path("photos/<uuid:photo_id>/marketing/", consent_views.marketing_add, name="marketing_add"),
    path(
        "marketing/<uuid:item_id>/remove/", consent_views.marketing_remove, name="marketing_remove"
    ),
    path(
        "patients/<uuid:patient_id>/exports/new/",
        export_views.export_create,
        name="export_create",
    ),
    path("exports/<uuid:export_id>/", export_views.export_detail, name="export_detail"),
    path("exports/<uuid:export_id>/status/", export_views.export_status, name="export_status"),
    path(
        "exports/<uuid:export_id>/cover-letter.pdf",
        export_views.export_cover_letter,
        name="export_cover_letter",
    ),
    path("exports/check/", export_views.bundle_check, name="export_bundle_check"),
    path(
        "exports/signing-key/rotate/",
        export_views.signing_key_rotate,
        name="export_signing_key_rotate",
    ),
    path(
        "exports/<uuid:export_id>/download/", export_views.export_download, name="export_download"
    ),
    path(
        "patients/<uuid:patient_id>/comparisons/new/",
        comparison_views.comparison_new,
        name="comparison_new",
    ),
    path("patients/<uuid:patient_id>/present/", comparison_views.present, name="present"),
    path(
        "comparisons/<uuid:comparison_id>/",
        comparison_views.comparison_detail,
        name="comparison_detail",
    ),
    path(
        "comparisons/<uuid:comparison_id>/render/",
        comparison_views.comparison_render,
        name="comparison_render",
    ),
    path(
        "comparisons/<uuid:comparison_id>/status/",
        comparison_views.comparison_status,
        name="comparison_status",
    ),
    path(
        "comparisons/<uuid:comparison_id>/image/",
        comparison_views.comparison_image,
        name="comparison_image",
    ),
    path(
        "comparisons/<uuid:comparison_id>/pdf/",
        comparison_views.comparison_pdf,
        name="comparison_pdf",
    ),
    path(
        "comparisons/<uuid:comparison_id>/share/",
        comparison_views.comparison_share,
        name="comparison_share",
    ),
    path(
        "shares/<uuid:share_id>/revoke/",
        comparison_views.share_revoke,
        name="comparison_share_revoke",
    ),
    path("retention/", retention_views.retention, name="retention"),
    path(
        "patients/<uuid:patient_id>/legal-hold/",
        retention_views.hold_place,
        name="legal_hold_place",
    ),
    path("legal-holds/<uuid:hold_id>/lift/", retention_views.hold_lift, name="legal_hold_lift"),
    path("patients/<uuid:patient_id>/erase/", retention_views.patient_erase, name="patient_erase"),
    path(
        "patients/<uuid:patient_id>/erase-marketing/",
        retention_views.patient_erase_marketing,
        name="patient_erase_marketing",
    ),
    path("erasures/<uuid:erasure_id>/", retention_views.erasure_detail, name="erasure_detail"),
    path("audit/", audit_views.audit_log, name="audit_log"),
    path("audit/export.csv", audit_views.audit_export, name="audit_export"),
    path("settings/", views.clinic_settings, name="clinic_settings"),
    path("staff/", views.staff_list, name="staff_list"),
    path("staff/<uuid:membership_id>/", views.staff_detail, name="staff_detail"),
]

urlpatterns = [
    path("", views.home, name="home"),
    path("login/", views.login_view, name="login"),
    path("logout/", views.logout_view, name="logout"),
    path("two-factor/setup/", views.two_factor_setup, name="two_factor_setup"),
    path("two-factor/", views.two_factor_verify, name="two_factor_verify"),
    path("two-factor/backup-codes/", views.backup_codes, name="backup_codes"),
    path("account/", views.account, name="account"),
    path(link_routes.INVITATION, views.accept_invitation, name="accept_invitation"),
    # The patient's own pages: no account, reached from e-mailed links. A route with a link
    # token takes its path from config.link_routes, which the logs redact by.
    path(link_routes.CONSENT_SIGN, consent_views.sign_start, name="consent_sign_start"),
    path("p/<slug:clinic>/sign/", consent_views.sign, name="consent_sign"),
    path("p/<slug:clinic>/logo.png", views.clinic_logo, name="clinic_logo"),
    path("p/<slug:clinic>/export-keys/", export_views.export_keys, name="export_keys"),
    path(
        "p/<slug:clinic>/export-keys/<str:fingerprint>.pem",
        export_views.export_key_pem,
        name="export_key_pem",
    ),
    path("p/<slug:clinic>/signed/", consent_views.signed, name="consent_signed"),
    path("p/<slug:clinic>/signed/copy.pdf", consent_views.signed_copy, name="consent_signed_copy"),
    path(
        link_routes.CONSENT_WITHDRAW,
        consent_views.withdraw_start,
        name="consent_withdraw_start",
    ),
    path("p/<slug:clinic>/withdraw/", consent_views.withdraw, name="consent_withdraw"),
    path(
        link_routes.COMPARISON_SHARE,
        comparison_views.share_start,
        name="comparison_share_start",
    ),
    path("p/<slug:clinic>/photos/", comparison_views.shared, name="comparison_shared"),
    path(
        "p/<slug:clinic>/photos-image.jpg",
        comparison_views.shared_image,
        name="comparison_shared_image",
    ),
    path("p/<slug:clinic>/photos.pdf", comparison_views.shared_pdf, name="comparison_shared_pdf"),
    path("c/<slug:clinic_slug>/", include(clinic_patterns)),
]
