"""photos.forms.FixedChoiceSelect keeps rendered selects: the HTML must be exactly what
Django's own Select draws, for every value and attribute set, and follow the value."""

from __future__ import annotations

import pytest
from django import forms

from patients.vocab import FacialArea
from photos.forms import CorrectDetailsForm, FixedChoiceSelect
from photos.models import Stage, View

pytestmark = [pytest.mark.embedded]


@pytest.mark.parametrize("choices", [Stage.choices, FacialArea.choices, View.choices])
def test_the_kept_html_is_djangos_own_for_every_value(choices):
    attrs = {"id": "correct-x", "aria-describedby": "correct-x_helptext"}
    for value, _ in [*choices, ("", "")]:
        for _ in range(2):  # drawn, then kept
            kept = FixedChoiceSelect(choices=choices).render("x", value, attrs=dict(attrs))
            plain = forms.Select(choices=choices).render("x", value, attrs=dict(attrs))
            assert kept == plain
    first, last = choices[0][0], choices[-1][0]
    html = FixedChoiceSelect(choices=choices).render("x", last, attrs=dict(attrs))
    assert f'value="{last}" selected' in html and f'value="{first}" selected' not in html


def test_the_correction_form_draws_the_photos_values():
    form = CorrectDetailsForm(
        initial={"stage": Stage.AFTER, "area": FacialArea.values[1], "view": View.values[2]},
        auto_id="correct-%s",
    )
    assert f'value="{Stage.AFTER}" selected' in str(form["stage"])
    assert f'value="{FacialArea.values[1]}" selected' in str(form["area"])
    assert f'value="{View.values[2]}" selected' in str(form["view"])
    assert 'id="correct-area"' in str(form["area"])
