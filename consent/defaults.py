"""The consent form that ships with the product: plain language, one choice per use."""

from consent.models import ConsentUse

TITLE = "Your consent to clinical photographs"

BODY = """\
We would like to take photographs of your face or the area we treat, before and after your \
treatment. This form explains what we do with them and lets you choose.

Photographs are part of your medical record. They help us plan your treatment, check how you \
respond to it, and show what was done if a question is ever raised, for example by an insurer \
or a regulator.

Your photographs are encrypted and kept on our secure system, never on a personal phone. Only \
the clinicians treating you and staff who need them for your care can see them, and every \
time someone looks at them it is recorded.

We keep your record for as long as the law and our professional bodies require (usually eight \
years after your last treatment, or until your 25th birthday if you were treated under 18).

Some uses are optional. You can say yes to none, some or all of them. Saying no will not change \
the care you receive. Where we share a photograph we will not show your name, and we will try to \
avoid anything that identifies you, but a face can be recognised.

You can withdraw any optional use at any time with the link in the e-mails we send you, or by \
telling us. We will then stop using your photographs for that purpose at once. We cannot recall \
material that was already printed or published before you withdrew.
"""

USE_TEXTS = {
    ConsentUse.CLINICAL_RECORD: "Photographs taken and kept in your medical record for your "
    "care. We need this to treat you.",
    ConsentUse.WEBSITE: "Before and after photographs shown on our clinic's website.",
    ConsentUse.SOCIAL_MEDIA: "Before and after photographs posted on our clinic's social media "
    "accounts, such as Instagram or Facebook.",
    ConsentUse.PRINT: "Photographs in printed material such as leaflets and in-clinic displays.",
    ConsentUse.TRAINING: "Photographs shown to other clinicians for training and education.",
    ConsentUse.PUBLICATION: "Photographs in medical journals, articles or conference talks.",
}

USES_OFFERED = list(ConsentUse.values)
USES_REQUIRED = [ConsentUse.CLINICAL_RECORD.value]
