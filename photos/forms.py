from __future__ import annotations

from datetime import timedelta

from django import forms
from django.utils import timezone

from patients.models import Patient, TreatmentEpisode
from patients.vocab import FacialArea
from photos.models import Stage, View


class FixedChoiceSelect(forms.Select):
    """A select over one of the fixed vocabularies (stage, area, view), rendered once per name,
    value and attributes and then kept: Django draws each option through its own template,
    and the correction form's three selects were a third of the viewer's time."""

    LIMIT = 512
    _rendered: dict[tuple, str] = {}

    def render(self, name, value, attrs=None, renderer=None):  # noqa: ANN001, ANN201 - Django's
        key = (
            name,
            str(value),
            tuple(sorted((attrs or {}).items())),
            tuple(sorted(self.attrs.items())),
            tuple((str(v), str(label)) for v, label in self.choices),
        )
        html = self._rendered.get(key)
        if html is None:
            html = super().render(name, value, attrs, renderer)
            if len(self._rendered) < self.LIMIT:
                self._rendered[key] = html
        return html


class PhotoDetailsForm(forms.Form):
    """What a batch of photos shows; one set of details for every file sent with it."""

    episode = forms.ModelChoiceField(
        queryset=TreatmentEpisode.objects.none(), label="Treatment", empty_label=None
    )
    stage = forms.ChoiceField(choices=Stage.choices, initial=Stage.BEFORE, widget=FixedChoiceSelect)
    area = forms.ChoiceField(
        choices=FacialArea.choices, label="Facial area", widget=FixedChoiceSelect
    )
    view = forms.ChoiceField(choices=View.choices, initial=View.FRONT, widget=FixedChoiceSelect)
    taken_at = forms.DateTimeField(
        required=False,
        label="Taken at",
        help_text="Leave empty to use the time the camera recorded (or now).",
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"],
    )
    notes = forms.CharField(
        required=False, max_length=500, widget=forms.TextInput(attrs={"autocomplete": "off"})
    )

    def __init__(self, *args, patient: Patient, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        episodes = TreatmentEpisode.objects.filter(clinic_id=patient.clinic_id, patient=patient)
        # self.fields holds plain Fields to the type checker; this one is a ModelChoiceField.
        self.fields["episode"].queryset = episodes  # type: ignore[attr-defined]
        self.fields["episode"].label_from_instance = lambda e: (  # type: ignore[attr-defined]
            f"{e.get_treatment_type_display()}, {e.performed_on:%d %b %Y}"
            + (f" ({', '.join(e.area_labels)})" if e.areas else "")
        )
        latest = episodes.first()
        if latest is not None and not self.is_bound:
            self.initial.setdefault("episode", latest.pk)
            if latest.areas:
                self.initial.setdefault("area", latest.areas[0])

    def clean_taken_at(self):
        when = self.cleaned_data.get("taken_at")
        if when and when > timezone.now() + timedelta(minutes=5):
            raise forms.ValidationError("A photo cannot be taken in the future.")
        return when


class DeleteForm(forms.Form):
    reason = forms.CharField(
        max_length=300,
        label="Why is this photo being deleted?",
        help_text="Kept in the audit trail, e.g. 'wrong patient' or 'blurred duplicate'.",
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
    )


class CorrectDetailsForm(forms.Form):
    """What a photo shows, corrected after upload (the original is not touched)."""

    stage = forms.ChoiceField(choices=Stage.choices, widget=FixedChoiceSelect)
    area = forms.ChoiceField(
        choices=FacialArea.choices, label="Facial area", widget=FixedChoiceSelect
    )
    view = forms.ChoiceField(choices=View.choices, widget=FixedChoiceSelect)


def per_file_choices(values: list[str], count: int, field: str, choices) -> list[str | None]:
    """The per-file values of ``field`` sent beside ``count`` files ('' or missing: the form's
    value). Raises ValidationError naming the file's position when a value is unknown."""
    allowed = {value for value, _ in choices}
    if len(values) > count:
        raise forms.ValidationError(f"More {field} values than photos were sent.")
    result: list[str | None] = []
    for index in range(count):
        value = values[index] if index < len(values) else ""
        if value and value not in allowed:
            raise forms.ValidationError(
                f"Photo {index + 1}: {value[:40]!r} is not a known {field}."
            )
        result.append(value or None)
    return result
