"""The export request form: who it is for, why, and which treatment (or all)."""

from __future__ import annotations

from django import forms

from exports.models import ExportReason
from exports.services import RECIPIENT_MAX
from photos.uploads import MAX_BUNDLE_CHECK_BYTES


class ExportForm(forms.Form):
    recipient = forms.CharField(
        label="Recipient",
        max_length=RECIPIENT_MAX,
        help_text="Who receives it, e.g. the insurer and claim number, or the patient.",
    )
    reason = forms.ChoiceField(label="Reason", choices=ExportReason.choices)
    episode = forms.ChoiceField(label="Treatments", required=False)

    def __init__(self, *args, episodes=(), **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.episodes = {str(e.pk): e for e in episodes}
        # self.fields holds plain Fields to the type checker; this one is a ChoiceField.
        self.fields["episode"].choices = [("", "All treatments")] + [  # type: ignore[attr-defined]
            (pk, str(e)) for pk, e in self.episodes.items()
        ]

    def clean_episode(self):
        value = self.cleaned_data.get("episode") or ""
        return self.episodes.get(value)


class BundleCheckForm(forms.Form):
    bundle = forms.FileField(
        label="Evidence bundle (ZIP)",
        help_text="A bundle this clinic exported, as the recipient holds it.",
    )

    def clean_bundle(self):
        upload = self.cleaned_data["bundle"]
        if getattr(upload, "over_limit", False):
            raise forms.ValidationError(
                f"The bundle is {upload.size / 2**20:.0f} MB; this page checks bundles up to "
                f"{MAX_BUNDLE_CHECK_BYTES // 2**20} MB. Check a larger one on the server with "
                "`manage.py verify_export FILE.zip`."
            )
        head = upload.read(4)
        upload.seek(0)
        if head[:2] != b"PK":
            raise forms.ValidationError("That is not a ZIP file. Choose the bundle's .zip file.")
        return upload
