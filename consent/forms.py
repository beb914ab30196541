from __future__ import annotations

from django import forms

from consent.models import MARKETING_USES, ConsentTemplate, ConsentUse, WithdrawalChannel


class SignForm(forms.Form):
    """One unticked box per use offered, the typed name and the drawn signature."""

    full_name = forms.CharField(
        label="Type your full name",
        max_length=150,
        error_messages={"required": "Type your full name."},
        widget=forms.TextInput(attrs={"autocomplete": "name"}),
    )
    signature = forms.CharField(widget=forms.HiddenInput, required=False)
    typed_signature = forms.BooleanField(
        required=False,
        label="I can't draw a signature: my typed name above is my signature",
        help_text="For signing with a keyboard or a screen reader. It is recorded that you "
        "chose this.",
    )

    def __init__(self, *args, template: ConsentTemplate, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.template = template
        self.use_fields = []
        for code, label, sentence, required in template.uses():
            name = f"use_{code}"
            self.fields[name] = forms.BooleanField(
                required=False,
                label=label + (" (needed for your treatment)" if required else ""),
                help_text=sentence,
            )
            if required:
                self.fields[name].widget.attrs["data-required"] = label
            self.use_fields.append(self[name])

    def clean(self):
        super().clean()
        data = self.cleaned_data
        # Checked here as well as in the page and the service, so the answer names the box.
        for code, label, _sentence, required in self.template.uses():
            if required and not data.get(f"use_{code}"):
                self.add_error(
                    f"use_{code}",
                    f"To go ahead with treatment the clinic needs your consent to: {label}. "
                    "Tick it, or contact the clinic if you do not agree.",
                )
        return data

    def uses_granted(self) -> list[str]:
        return [code for code, *_ in self.template.uses() if self.cleaned_data.get(f"use_{code}")]


class StaffWithdrawalForm(forms.Form):
    uses = forms.MultipleChoiceField(
        choices=ConsentUse.choices,
        widget=forms.CheckboxSelectMultiple,
        label="Uses the patient withdraws",
        error_messages={"required": "Choose at least one use."},
    )
    channel = forms.ChoiceField(
        choices=[c for c in WithdrawalChannel.choices if c[0] != WithdrawalChannel.LINK],
        label="How did the patient ask?",
    )
    note = forms.CharField(required=False, max_length=300, label="Note (optional)")

    def __init__(self, *args, active: set[str], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # self.fields holds plain Fields to the type checker; this one is a ChoiceField.
        self.fields["uses"].choices = [c for c in ConsentUse.choices if c[0] in active]  # type: ignore[attr-defined]


class TemplateForm(forms.Form):
    title = forms.CharField(max_length=150)
    body = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 14}),
        help_text="Plain language. A blank line starts a new paragraph.",
    )
    offered = forms.MultipleChoiceField(
        choices=ConsentUse.choices,
        widget=forms.CheckboxSelectMultiple,
        label="Uses the form offers",
    )
    required = forms.MultipleChoiceField(
        choices=ConsentUse.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        label="Uses needed to go ahead with treatment",
    )

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        for code, label in ConsentUse.choices:
            self.fields[f"text_{code}"] = forms.CharField(
                required=False, max_length=300, label=f"Sentence for “{label}”"
            )

    def use_texts(self) -> dict[str, str]:
        return {code: self.cleaned_data.get(f"text_{code}", "") for code in ConsentUse.values}


class MarketingAddForm(forms.Form):
    use = forms.ChoiceField(
        choices=[c for c in ConsentUse.choices if c[0] in MARKETING_USES], label="Use it for"
    )
