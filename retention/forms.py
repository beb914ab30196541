"""Retention's forms: the clinic's rules, a legal hold, and the erasure confirmation."""

from __future__ import annotations

from django import forms

from consent.models import WithdrawalChannel
from retention.services import (
    ADULT_YEARS_RANGE,
    EARLY_REASON_MAX,
    HOLD_REASON_MAX,
    MINOR_AGE_RANGE,
)


class PolicyForm(forms.Form):
    adult_years = forms.IntegerField(
        label="Adults: years after the last treatment",
        min_value=ADULT_YEARS_RANGE[0],
        max_value=ADULT_YEARS_RANGE[1],
        help_text="The default is 8. Insurers often ask for 10: check your policy.",
        widget=forms.NumberInput(attrs={"inputmode": "numeric", "class": "input--short"}),
    )
    minor_until_age = forms.IntegerField(
        label="Patients treated under 18: until their birthday of",
        min_value=MINOR_AGE_RANGE[0],
        max_value=MINOR_AGE_RANGE[1],
        help_text="The default is 25 (and never less than the adult period).",
        widget=forms.NumberInput(attrs={"inputmode": "numeric", "class": "input--short"}),
    )


class HoldForm(forms.Form):
    # The patient page also carries the export form, whose "reason" must keep its own id.
    prefix = "hold"
    reason = forms.CharField(
        label="Why the record must be kept",
        max_length=HOLD_REASON_MAX,
        help_text="The complaint or claim, e.g. “Claim ref. MDU-2291, opened 3 March”.",
        widget=forms.Textarea(attrs={"rows": 2}),
    )


def normalised(text: str) -> str:
    return " ".join(text.split()).casefold()


class EraseForm(forms.Form):
    """Typing the patient's full name confirms the erasure of that one record."""

    confirm_name = forms.CharField(label="Type the patient's full name to confirm", max_length=201)
    early_reason = forms.CharField(
        label="Why erase before the retention period ends",
        required=False,
        max_length=EARLY_REASON_MAX,
        help_text="Recorded with the erasure, e.g. “Patient asked for erasure (Art. 17); no "
        "claim or complaint open”.",
        widget=forms.Textarea(attrs={"rows": 2}),
    )

    def __init__(self, *args, patient, early: bool, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.patient = patient
        self.fields["confirm_name"].widget.attrs["autocomplete"] = "off"
        if early:
            self.fields["early_reason"].required = True
        else:
            del self.fields["early_reason"]

    def clean_confirm_name(self) -> str:
        typed = self.cleaned_data["confirm_name"]
        if normalised(typed) != normalised(self.patient.full_name):
            raise forms.ValidationError(
                "That is not this patient's full name as on their record; nothing was erased."
            )
        return typed


MARKETING_CHANNELS = [c for c in WithdrawalChannel.choices if c[0] != WithdrawalChannel.LINK]


class MarketingEraseForm(forms.Form):
    channel = forms.ChoiceField(label="How the patient asked", choices=MARKETING_CHANNELS)
