"""Signing in (password, then TOTP), joining a clinic, and managing its staff."""

from __future__ import annotations

from base64 import b32encode
from urllib.parse import urlencode

import segno
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import authenticate, login, logout
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST
from django_otp import login as otp_login

from accounts import services, settings_sections
from accounts.forms import (
    ClinicSettingsForm,
    EnrolForm,
    InviteForm,
    LoginForm,
    NewAccountForm,
    PasswordChangeForm,
    ReauthForm,
    RoleForm,
    TokenForm,
)
from accounts.middleware import SESSION_LOGIN_AT
from audit.http import AuditedRequest, ClinicRequest
from clinic import selectors
from clinic.models import AuthenticatorDevice, BackupCode, BackupCodes, User
from clinic.permissions import PERMISSIONS, ROLE_PERMISSIONS, require
from clinic.tokens import lifetime_text

MAX_TOTP_FAILURES = 5
SESSION_TOTP_FAILURES = "totp_failures"
SESSION_NEW_BACKUP_CODES = "new_backup_codes"
MAX_NEXT_LENGTH = 2000


def _safe_next(request: HttpRequest) -> str | None:
    """Where to go after signing in: a path on this site, or nothing. A control character
    (CR/LF would split the Location header), another host or a bare word (which ``redirect``
    would try as a URL name) is ignored, not an error."""
    target = request.POST.get("next") or request.GET.get("next")
    if (
        target
        and target.startswith("/")
        and len(target) <= MAX_NEXT_LENGTH
        and target.isprintable()
        and url_has_allowed_host_and_scheme(target, {request.get_host()}, request.is_secure())
    ):
        return target
    return None


def _has_confirmed_totp(user: User) -> bool:
    return AuthenticatorDevice.objects.filter(user=user, confirmed=True).exists()


def home(request: HttpRequest) -> HttpResponse:
    """Where a signed-in person lands: their clinic, or a choice of clinics."""
    if not request.user.is_authenticated:
        return redirect("login")
    if not request.user.is_verified():
        return redirect("two_factor_verify")
    memberships = selectors.memberships_of(request.user)
    if len(memberships) == 1:
        return redirect("dashboard", clinic_slug=memberships[0].clinic.slug)
    return render(request, "clinic/choose_clinic.html", {"memberships": memberships})


def login_view(request: AuditedRequest) -> HttpResponse:
    """Step one: e-mail and password. Axes locks out repeated failures per address and IP."""
    form = LoginForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        email = form.cleaned_data["email"].lower()
        user = authenticate(request, username=email, password=form.cleaned_data["password"])
        if getattr(request, "axes_locked_out", False):
            known = User.objects.filter(email=email).first()
            services.record_for_user_clinics(
                user=known, action="auth.locked_out", context=request.audit, email=email
            )
            return render(request, "registration/locked_out.html", status=429)
        if user is None:
            known = User.objects.filter(email=email).first()
            services.record_for_user_clinics(
                user=known,
                action="auth.login_failed",
                context=request.audit,
                email=email,
                details={"email": email},
            )
            form.add_error(None, "The e-mail or password is not right. Check them and try again.")
        else:
            login(request, user)  # rotates the session key
            request.session[SESSION_LOGIN_AT] = timezone.now().timestamp()
            request.session[SESSION_TOTP_FAILURES] = 0
            target = "two_factor_verify" if _has_confirmed_totp(user) else "two_factor_setup"
            response = redirect(target)
            if next_url := _safe_next(request):
                response["Location"] += "?" + urlencode({"next": next_url})
            return response
    return render(
        request, "registration/login.html", {"form": form, "next": _safe_next(request) or ""}
    )


@require_POST
def logout_view(request: AuditedRequest) -> HttpResponse:
    if request.user.is_authenticated:
        services.record_for_user_clinics(
            user=request.user, action="auth.logout", context=request.audit
        )
    logout(request)
    messages.info(request, "You are signed out.")
    return redirect("login")


@never_cache
def two_factor_setup(request: AuditedRequest) -> HttpResponse:
    """First sign-in: scan the QR code (drawn on this server) and confirm one code."""
    if not request.user.is_authenticated:
        return redirect("login")
    if _has_confirmed_totp(request.user):
        return redirect("two_factor_verify" if not request.user.is_verified() else "home")
    device = services.totp_device_for_enrolment(request.user)
    form = EnrolForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        if device.verify_token(form.cleaned_data["token"]):
            codes = services.two_factor_confirm(
                user=request.user, device=device, context=request.audit
            )
            otp_login(request, device)
            services.record_for_user_clinics(
                user=request.user,
                action="auth.login",
                context=request.audit,
                details={"method": "totp"},
            )
            request.session[SESSION_NEW_BACKUP_CODES] = codes
            return redirect("backup_codes")
        services.record_for_user_clinics(
            user=request.user,
            action="auth.2fa_failed",
            context=request.audit,
            details={"stage": "enrolment"},
        )
        form.add_error(
            "token",
            "That code did not match. Check the time on your phone is set "
            "automatically, then enter the code now showing.",
        )
    qr_svg = segno.make(device.config_url, error="m").svg_inline(
        scale=5,
        dark="#10233f",
        light="#ffffff",
        title="QR code for your authenticator app",
    )
    secret = _b32(device)
    return render(
        request,
        "registration/two_factor_setup.html",
        {"form": form, "qr_svg": qr_svg, "secret": secret, "config_url": device.config_url},
    )


def _b32(device: AuthenticatorDevice) -> str:
    raw = b32encode(device.bin_key).decode().rstrip("=")
    return " ".join(raw[i : i + 4] for i in range(0, len(raw), 4))


@never_cache
def two_factor_verify(request: AuditedRequest) -> HttpResponse:
    """Step two on every sign-in: a TOTP code (never the same one twice) or a backup code."""
    if not request.user.is_authenticated:
        return redirect("login")
    if not _has_confirmed_totp(request.user):
        return redirect("two_factor_setup")
    if request.user.is_verified():
        return redirect(_safe_next(request) or "home")
    form = TokenForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        token = form.cleaned_data["token"]
        device = services.two_factor_match(request.user, token)
        if device is not None:
            otp_login(request, device)
            request.session[SESSION_TOTP_FAILURES] = 0
            method = "backup_code" if isinstance(device, BackupCodes) else "totp"
            services.record_for_user_clinics(
                user=request.user,
                action="auth.login",
                context=request.audit,
                details={"method": method},
            )
            if isinstance(device, BackupCodes):
                left = device.codes.count()
                messages.warning(request, f"You used a backup code; {left} left. Each works once.")
            return redirect(_safe_next(request) or "home")
        failures = request.session.get(SESSION_TOTP_FAILURES, 0) + 1
        request.session[SESSION_TOTP_FAILURES] = failures
        services.record_for_user_clinics(
            user=request.user,
            action="auth.2fa_failed",
            context=request.audit,
            details={"failures": failures},
        )
        if failures >= MAX_TOTP_FAILURES:
            logout(request)
            messages.error(request, "Too many wrong codes. Sign in again with your password.")
            return redirect("login")
        form.add_error(
            "token",
            "That code is not right, or it was already used. Wait for the "
            "next code in your app and try again.",
        )
    return render(
        request,
        "registration/two_factor_verify.html",
        {"form": form, "next": _safe_next(request) or ""},
    )


@never_cache
def backup_codes(request: HttpRequest) -> HttpResponse:
    """Shows freshly issued backup codes, once."""
    if not request.user.is_authenticated or not request.user.is_verified():
        return redirect("login")
    codes = request.session.pop(SESSION_NEW_BACKUP_CODES, None)
    if codes is None:
        return redirect("account")
    return render(request, "registration/backup_codes.html", {"codes": codes})


# The account page's changes to how you sign in; each asks for the password and a code again.
ACCOUNT_ACTIONS = ("password", "backup_codes", "reset_2fa")


@never_cache
def account(request: AuditedRequest) -> HttpResponse:
    """Your own account: password, authenticator, backup codes."""
    if not request.user.is_authenticated or not request.user.is_verified():
        return redirect("login")
    action = request.POST.get("action") if request.method == "POST" else None
    account_forms = {
        name: (PasswordChangeForm if name == "password" else ReauthForm)(
            request.POST if action == name else None, request=request, auto_id=f"id_{name}_%s"
        )
        for name in ACCOUNT_ACTIONS
    }
    form = account_forms.get(action) if action else None
    if form is not None and not form.is_valid():
        if form.locked_out:
            user = request.user
            services.record_for_user_clinics(
                user=user, action="auth.locked_out", context=request.audit, email=user.email
            )
            logout(request)
            return render(request, "registration/locked_out.html", status=429)
        if form.failure:
            services.record_for_user_clinics(
                user=request.user,
                action="auth.reauth_failed",
                context=request.audit,
                details={"for": action, "wrong": form.failure},
            )
    elif action == "password":
        services.password_change(
            user=request.user,
            new_password=account_forms["password"].cleaned_data["new_password"],
            context=request.audit,
        )
        logout(request)
        messages.success(
            request,
            "Password changed. Every session has been signed out; sign in with the new password.",
        )
        return redirect("login")
    elif action == "backup_codes":
        request.session[SESSION_NEW_BACKUP_CODES] = services.backup_codes_issue(user=request.user)
        return redirect("backup_codes")
    elif action == "reset_2fa":
        services.two_factor_reset(user=request.user, context=request.audit)
        logout(request)
        messages.info(
            request,
            "Your authenticator was removed and every session ended. "
            "Sign in to set up the new one.",
        )
        return redirect("login")
    backup_left = BackupCode.objects.filter(device__user=request.user).count()
    return render(
        request,
        "clinic/account.html",
        {
            "form": account_forms["password"],
            "codes_form": account_forms["backup_codes"],
            "reset_form": account_forms["reset_2fa"],
            "open_action": action,
            "backup_left": backup_left,
            "memberships": selectors.memberships_of(request.user),
        },
        status=400 if form is not None else 200,
    )


@never_cache
def accept_invitation(request: AuditedRequest, clinic: str, token: str) -> HttpResponse:
    """An invited person joins: a new account with a password, or an existing one signed in.
    (The clinic in this public link is not ``clinic_slug``: that name marks staff-only URLs.)"""
    found = selectors.clinic_by_slug(clinic)
    invitation = selectors.invitation_by_token(clinic=found, token=token) if found else None
    try:
        invitation = services.check_invitation_usable(invitation)
    except services.InvitationUnusable as problem:
        return render(
            request,
            "clinic/invitation_problem.html",
            {"problem": str(problem)},
            status=410 if invitation else 404,
        )
    existing = User.objects.filter(email=invitation.email).first()
    signed_in_as_invitee = request.user.is_authenticated and request.user == existing
    form = NewAccountForm(request.POST or None)
    if request.method == "POST":
        try:
            if existing is not None:
                # signed_in_as_invitee holds only for a signed-in User, which mypy cannot follow.
                if not signed_in_as_invitee or not request.user.is_verified():  # type: ignore[union-attr]
                    raise services.InvitationUnusable(
                        "Sign in as " + invitation.email + " first, then open the link again."
                    )
                services.invitation_accept(
                    invitation=invitation, user=existing, context=request.audit
                )
                messages.success(request, f"You have joined {invitation.clinic.name}.")
                return redirect("dashboard", clinic_slug=invitation.clinic.slug)
            if form.is_valid():
                user = services.invitation_accept(
                    invitation=invitation,
                    user=None,
                    full_name=form.cleaned_data["full_name"],
                    password=form.cleaned_data["password"],
                    context=request.audit,
                )
                login(request, user, backend="django.contrib.auth.backends.ModelBackend")
                request.session[SESSION_LOGIN_AT] = timezone.now().timestamp()
                messages.success(
                    request,
                    f"Welcome to {invitation.clinic.name}. "
                    "Now protect your account with two-factor sign-in.",
                )
                return redirect("two_factor_setup")
        except ValidationError as error:
            form.add_error("password", error.messages)
        except services.InvitationUnusable as problem:
            return render(
                request, "clinic/invitation_problem.html", {"problem": str(problem)}, status=409
            )
    return render(
        request,
        "clinic/accept_invitation.html",
        {
            "invitation": invitation,
            "clinic": invitation.clinic,
            "form": form,
            "existing": existing,
            "signed_in_as_invitee": signed_in_as_invitee,
        },
    )


@require("staff.manage")
def staff_list(request: ClinicRequest, clinic_slug: str) -> HttpResponse:
    form = InviteForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            invitation = services.staff_invite(
                clinic=request.clinic,
                email=form.cleaned_data["email"],
                role=form.cleaned_data["role"],
                invited_by=request.user,
                context=request.audit,
            )
        except ValidationError as error:
            form.add_error("email", error.messages)
        else:
            messages.success(
                request,
                f"Invitation to {invitation.email} saved; it is being e-mailed. "
                f"The link works for {lifetime_text(settings.INVITATION_LIFETIME)}.",
            )
            return redirect("staff_list", clinic_slug=clinic_slug)
    return render(
        request,
        "clinic/staff_list.html",
        {
            "form": form,
            "members": selectors.staff_of(clinic=request.clinic),
            "invitations": selectors.pending_invitations(clinic=request.clinic),
            "permissions": PERMISSIONS,
            "role_permissions": ROLE_PERMISSIONS,
        },
    )


@require("staff.manage")
def staff_detail(request: ClinicRequest, clinic_slug: str, membership_id) -> HttpResponse:
    membership = selectors.membership_in(clinic=request.clinic, membership_id=membership_id)
    if membership is None:
        raise Http404("No such member")
    form = RoleForm(request.POST or None, initial={"role": membership.role})
    if request.method == "POST":
        action = request.POST.get("action")
        try:
            if action == "role" and form.is_valid():
                services.staff_change_role(
                    clinic=request.clinic,
                    membership=membership,
                    role=form.cleaned_data["role"],
                    by=request.user,
                    context=request.audit,
                )
                messages.success(
                    request, f"{membership.user} is now {membership.get_role_display()}."
                )
                return redirect("staff_list", clinic_slug=clinic_slug)
            if action == "deactivate":
                services.staff_deactivate(
                    clinic=request.clinic,
                    membership=membership,
                    by=request.user,
                    context=request.audit,
                )
                messages.success(request, f"{membership.user} can no longer open this clinic.")
                return redirect("staff_list", clinic_slug=clinic_slug)
            if action == "reset_2fa" and membership.is_active:
                services.staff_reset_two_factor(
                    clinic=request.clinic,
                    membership=membership,
                    by=request.user,
                    context=request.audit,
                )
                messages.success(
                    request,
                    f"{membership.user} will set up two-factor sign-in "
                    "again at their next sign-in.",
                )
                return redirect("staff_list", clinic_slug=clinic_slug)
        except ValidationError as error:
            messages.error(request, " ".join(error.messages))
    return render(request, "clinic/staff_detail.html", {"member": membership, "form": form})


@require("clinic.settings")
def clinic_settings(request: ClinicRequest, clinic_slug: str) -> HttpResponse:
    """The clinic's name, logo and reply-to address."""
    form = ClinicSettingsForm(
        request.POST or None,
        request.FILES or None,
        initial={"name": request.clinic.name, "reply_to_email": request.clinic.reply_to_email},
    )
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["logo"]
        try:
            services.clinic_update_branding(
                clinic=request.clinic,
                by=request.user,
                name=form.cleaned_data["name"],
                logo=upload.read() if upload else None,
                remove_logo=form.cleaned_data["remove_logo"],
                reply_to_email=form.cleaned_data["reply_to_email"],
                context=request.audit,
            )
        except ValidationError as error:
            form.add_error("logo" if upload else None, error.messages)
        else:
            messages.success(request, "Clinic settings saved.")
            return redirect("clinic_settings", clinic_slug=clinic_slug)
    section_templates, section_context = settings_sections.sections_for(request)
    return render(
        request,
        "clinic/settings.html",
        {"form": form, "section_templates": section_templates, **section_context},
    )


def clinic_logo(request: HttpRequest, clinic: str) -> HttpResponse:
    """The clinic's logo, public (it is on every consent page and e-mailed PDF)."""
    found = selectors.clinic_by_slug(clinic)
    if found is None or not found.logo:
        raise Http404("No logo")
    response = HttpResponse(bytes(found.logo), content_type="image/png")
    response["Cache-Control"] = "public, max-age=3600"
    return response
