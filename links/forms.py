"""The date-of-birth form every patient link asks first."""

from __future__ import annotations

from datetime import date

from django import forms


def _dob_part(label: str, autocomplete: str, size: int) -> forms.CharField:
    # Text with a numeric keyboard rather than type=number (no spinners, no lost leading 0)
    # and never a date picker, which on a phone starts at today and needs decades of swiping.
    return forms.CharField(
        label=label,
        max_length=size,
        required=False,
        widget=forms.TextInput(
            attrs={
                "inputmode": "numeric",
                "pattern": "[0-9]*",
                "autocomplete": autocomplete,
                "size": size,
                "maxlength": size,
                "class": f"dob__part dob__part--{size}",
            }
        ),
    )


class IdentityForm(forms.Form):
    """The date of birth as three number fields: day, month, year."""

    day = _dob_part("Day", "bday-day", 2)
    month = _dob_part("Month", "bday-month", 2)
    year = _dob_part("Year", "bday-year", 4)

    label = "Your date of birth"
    help_text = (
        "For example 31 3 1985. So that only you can sign: it must match the clinic's record."
    )

    def clean(self):
        super().clean()
        data = self.cleaned_data
        parts = {name: (data.get(name) or "").strip() for name in ("day", "month", "year")}
        missing = [name for name, value in parts.items() if not value]
        if len(missing) == 3:
            raise forms.ValidationError("Enter your date of birth.", code="required")
        if missing:
            raise forms.ValidationError(
                f"Enter the {' and '.join(missing)} of your date of birth.", code="incomplete"
            )
        if not all(value.isdigit() for value in parts.values()) or len(parts["year"]) != 4:
            raise forms.ValidationError(
                "Enter your date of birth in numbers, for example 31 3 1985.", code="invalid"
            )
        try:
            data["date_of_birth"] = date(int(parts["year"]), int(parts["month"]), int(parts["day"]))
        except ValueError:
            raise forms.ValidationError(
                "That date does not exist. Check the day and month.", code="invalid"
            ) from None
        return data
