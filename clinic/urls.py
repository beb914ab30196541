"""URL map. Staff pages live under /c/<clinic_slug>/ so the clinic is always explicit."""

from django.urls import include, path

from clinic import views
from patients import views as patient_views
from photos import views as photo_views

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
    path(
        "patients/<uuid:patient_id>/photos/add/", photo_views.photo_upload, name="photo_upload"
    ),
    path(
        "patients/<uuid:patient_id>/photos/status/", photo_views.photo_status,
        name="photo_status",
    ),
    path(
        "patients/<uuid:patient_id>/photos/ghost/", photo_views.photo_ghost, name="photo_ghost"
    ),
    path("photos/<uuid:photo_id>/", photo_views.photo_detail, name="photo_detail"),
    path("photos/<uuid:photo_id>/thumb/", photo_views.photo_thumb, name="photo_thumb"),
    path("photos/<uuid:photo_id>/display/", photo_views.photo_display, name="photo_display"),
    path("photos/<uuid:photo_id>/original/", photo_views.photo_original, name="photo_original"),
    path("photos/<uuid:photo_id>/delete/", photo_views.photo_delete, name="photo_delete"),
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
    path("invite/<slug:clinic>/<str:token>/", views.accept_invitation, name="accept_invitation"),
    path("healthz", views.healthz, name="healthz"),
    path("c/<slug:clinic_slug>/", include(clinic_patterns)),
]
