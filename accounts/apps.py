from django.apps import AppConfig


class AccountsConfig(AppConfig):
    """Staff accounts: sign-in, two-factor, invitations, the staff and clinic settings pages.
    Its models (User, Invitation, the two-factor devices) stay in ``clinic`` with their tables;
    this room holds what people do with them, which audits and so stands above the trail."""

    name = "accounts"
    # Its floor in the house: it may import only rooms on lower floors (tests/test_layers.py).
    floor = 2
