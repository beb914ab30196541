from __future__ import annotations

from datetime import date

from django import forms
from django.utils import timezone

from clinic.models import Clinic
from clinic.selectors import practitioners_of
from patients.models import Patient, TreatmentEpisode
from patients.vocab import FacialArea, TreatmentType

OLDEST_AGE_YEARS = 130


class DateInput(forms.DateInput):
    input_type = "date"

    def __init__(self, **kwargs):
        super().__init__(format="%Y-%m-%d", **kwargs)


class PatientForm(forms.ModelForm):
    class Meta:
        model = Patient
        fields = ["first_name", "last_name", "date_of_birth", "email", "phone", "notes"]
        widgets = {
            "date_of_birth": DateInput(),
            "notes": forms.Textarea(attrs={"rows": 3}),
            "first_name": forms.TextInput(attrs={"autocomplete": "off"}),
            "last_name": forms.TextInput(attrs={"autocomplete": "off"}),
            "phone": forms.TextInput(attrs={"inputmode": "tel", "autocomplete": "off"}),
            "email": forms.EmailInput(attrs={"autocomplete": "off"}),
        }
        labels = {"email": "E-mail", "notes": "Notes (not shown to the patient)"}

    def clean_date_of_birth(self) -> date:
        dob = self.cleaned_data["date_of_birth"]
        today = timezone.localdate()
        if dob > today:
            raise forms.ValidationError("The date of birth cannot be in the future.")
        if today.year - dob.year > OLDEST_AGE_YEARS:
            raise forms.ValidationError(
                f"Check the year: that would make the patient over {OLDEST_AGE_YEARS}."
            )
        return dob

    def validate_unique(self) -> None:
        # Uniqueness within the clinic is checked by the service, with a clear message.
        pass


class EpisodeForm(forms.ModelForm):
    areas = forms.MultipleChoiceField(
        choices=FacialArea.choices,
        widget=forms.CheckboxSelectMultiple,
        error_messages={"required": "Choose at least one area treated."},
    )

    class Meta:
        model = TreatmentEpisode
        fields = [
            "treatment_type",
            "areas",
            "performed_on",
            "practitioner",
            "product",
            "batch_number",
            "notes",
        ]
        widgets = {"performed_on": DateInput(), "notes": forms.Textarea(attrs={"rows": 3})}
        labels = {
            "performed_on": "Date of treatment",
            "product": "Product used",
            "batch_number": "Product batch / lot number",
        }

    def __init__(self, *args, clinic: Clinic, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # self.fields holds plain Fields to the type checker; a ChoiceField and a ModelChoiceField.
        self.fields["treatment_type"].choices = [  # type: ignore[attr-defined]
            ("", "Choose a treatment…"),
            *TreatmentType.choices,
        ]
        self.fields["practitioner"].queryset = practitioners_of(clinic=clinic)  # type: ignore[attr-defined]
        self.fields["practitioner"].label_from_instance = lambda u: u.full_name or u.email  # type: ignore[attr-defined]

    def clean_performed_on(self) -> date:
        day = self.cleaned_data["performed_on"]
        if day > timezone.localdate():
            raise forms.ValidationError(
                "A treatment is recorded once given: the date cannot be in the future."
            )
        return day
