"""The audit log's filter, read from the query string."""

from __future__ import annotations

import uuid

from django import forms

from audit.actions import ACTION_GROUPS
from audit.queries import LogFilter


class LogFilterForm(forms.Form):
    patient = forms.UUIDField(required=False, widget=forms.HiddenInput)
    patient_q = forms.CharField(
        label="Patient",
        required=False,
        max_length=100,
        widget=forms.TextInput(attrs={"placeholder": "Name or DOB", "type": "search"}),
    )
    actor = forms.ChoiceField(label="Staff member", required=False)
    action = forms.ChoiceField(label="Action", required=False)
    date_from = forms.DateField(
        label="From", required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    date_to = forms.DateField(
        label="To", required=False, widget=forms.DateInput(attrs={"type": "date"})
    )

    def __init__(self, *args, staff: list[tuple[uuid.UUID, str]], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # self.fields holds plain Fields to the type checker; these two are ChoiceFields.
        self.fields["actor"].choices = [("", "Anyone")] + [(str(pk), n) for pk, n in staff]  # type: ignore[attr-defined]
        self.fields["action"].choices = [("", "Any action")] + [  # type: ignore[attr-defined]
            (group, sorted(((a, label) for a, label in actions.items()), key=lambda c: c[1]))
            for group, actions in ACTION_GROUPS.items()
        ]

    def clean(self) -> dict:
        super().clean()
        data = self.cleaned_data
        if self.errors.pop("patient", None):
            # A hidden field (from a link): its problem is said where it can be seen.
            self.add_error(None, "That link's patient is not valid; type the patient's name.")
        start, end = data.get("date_from"), data.get("date_to")
        if start and end and start > end:
            raise forms.ValidationError("The 'From' date must be on or before the 'To' date.")
        return data

    def log_filter(self, patient_id: uuid.UUID | None = None) -> LogFilter:
        """The valid filter (call after ``is_valid``)."""
        data = self.cleaned_data
        return LogFilter(
            patient_id=patient_id or data.get("patient"),
            actor_id=uuid.UUID(data["actor"]) if data.get("actor") else None,
            action=data.get("action") or "",
            date_from=data.get("date_from"),
            date_to=data.get("date_to"),
        )
