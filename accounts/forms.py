from __future__ import annotations

from django import forms
from django.contrib.auth import authenticate, password_validation
from django.contrib.auth.signals import user_login_failed

from clinic.models import Role


class LoginForm(forms.Form):
    email = forms.EmailField(
        label="E-mail",
        widget=forms.EmailInput(attrs={"autocomplete": "username", "autofocus": True}),
    )
    password = forms.CharField(
        label="Password",
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )


class TokenForm(forms.Form):
    token = forms.CharField(
        label="6-digit code from your authenticator app, or a backup code",
        max_length=16,
        widget=forms.TextInput(
            attrs={
                "autocomplete": "one-time-code",
                "inputmode": "numeric",
                "autofocus": True,
                "autocapitalize": "off",
            }
        ),
    )

    def clean_token(self) -> str:
        return "".join(self.cleaned_data["token"].split())


class EnrolForm(forms.Form):
    token = forms.CharField(
        label="6-digit code shown in your app",
        max_length=8,
        widget=forms.TextInput(
            attrs={"autocomplete": "one-time-code", "inputmode": "numeric", "autofocus": True}
        ),
    )

    def clean_token(self) -> str:
        token = "".join(self.cleaned_data["token"].split())
        if not token.isdigit() or len(token) != 6:
            raise forms.ValidationError("Enter the 6 digits your authenticator app shows.")
        return token


class InviteForm(forms.Form):
    email = forms.EmailField(label="E-mail")
    role = forms.ChoiceField(choices=Role.choices, initial=Role.PRACTITIONER)


class RoleForm(forms.Form):
    role = forms.ChoiceField(choices=Role.choices)


class NewAccountForm(forms.Form):
    full_name = forms.CharField(
        label="Your full name",
        max_length=150,
        widget=forms.TextInput(attrs={"autocomplete": "name"}),
    )
    password = forms.CharField(
        label="Choose a password",
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text="At least 10 characters; not a common or all-numeric password.",
    )
    password_again = forms.CharField(
        label="Password again",
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )

    def clean(self):
        super().clean()
        data = self.cleaned_data
        if data.get("password") and data.get("password") != data.get("password_again"):
            self.add_error("password_again", "The two passwords differ.")
        return data


class ReauthForm(forms.Form):
    """The current password and a current code, asked again before a change to how the account
    signs in: a session left open (or stolen) is not enough. The password is checked through
    ``authenticate`` like at sign-in, so failures here count towards the same lockout."""

    current_password = forms.CharField(
        strip=False, widget=forms.PasswordInput(attrs={"autocomplete": "current-password"})
    )
    token = forms.CharField(
        label="Code from your authenticator app (or a backup code)",
        max_length=16,
        widget=forms.TextInput(
            attrs={"autocomplete": "one-time-code", "inputmode": "numeric", "autocapitalize": "off"}
        ),
    )

    def __init__(self, *args, request, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.request = request
        self.user = request.user
        self.locked_out = False
        self.failure = ""

    def clean_token(self) -> str:
        return "".join(self.cleaned_data["token"].split())

    def clean(self):
        from accounts import services

        super().clean()
        data = self.cleaned_data
        password, token = data.get("current_password"), data.get("token")
        if password is None or token is None:
            return data
        checked = authenticate(self.request, username=self.user.email, password=password)
        if getattr(self.request, "axes_locked_out", False):
            self.locked_out = True
            raise forms.ValidationError("Too many failed attempts.")
        if checked is None or checked.pk != self.user.pk:
            self.failure = "password"
            self.add_error("current_password", "That is not your current password.")
            return data
        if services.two_factor_match(self.user, token) is None:
            self.failure = "code"
            # Counts towards the sign-in lockout like a wrong password.
            user_login_failed.send(
                sender=__name__, credentials={"username": self.user.email}, request=self.request
            )
            self.add_error(
                "token",
                "That code is not right, or it was already used. Wait for the next code in "
                "your app and try again.",
            )
        return data


class PasswordChangeForm(ReauthForm):
    new_password = forms.CharField(
        strip=False, widget=forms.PasswordInput(attrs={"autocomplete": "new-password"})
    )

    def clean_new_password(self) -> str:
        password = self.cleaned_data["new_password"]
        password_validation.validate_password(password, self.user)
        return password


class ClinicSettingsForm(forms.Form):
    name = forms.CharField(label="Clinic name", max_length=150)
    logo = forms.FileField(
        required=False,
        label="Logo",
        help_text="PNG, JPEG or WebP, under 2 MB. Shown to patients on the "
        "consent pages and on PDF copies.",
        widget=forms.ClearableFileInput(attrs={"accept": "image/png,image/jpeg,image/webp"}),
    )
    remove_logo = forms.BooleanField(required=False, label="Remove the current logo")
    reply_to_email = forms.EmailField(
        required=False,
        label="Reply-to e-mail",
        help_text="Where replies to the clinic's e-mails go. They are sent in the clinic's "
        "name; without this address, a patient's reply reaches no one.",
        widget=forms.EmailInput(attrs={"autocomplete": "email"}),
    )
