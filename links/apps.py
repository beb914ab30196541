from django.apps import AppConfig


class LinksConfig(AppConfig):
    """Links a patient opens without an account (consent requests, shared comparisons, next
    follow-up uploads and withdrawals): one abstract model, one usable-check, one date-of-birth
    lock, one start view and one problem page. Above patients (it checks their date of birth)
    and the trail (every check is audited); below every room that sends such a link."""

    name = "links"
    # Its floor in the house: it may import only rooms on lower floors (tests/test_layers.py).
    floor = 5
