import uuid

import django.db.models.deletion
from django.db import migrations, models

from clinic.rls import EnableClinicRLS


class Migration(migrations.Migration):
    dependencies = [
        ("audit", "0002_request_id_and_sealed_personal"),
        ("clinic", "0001_clinics_staff"),
    ]

    operations = [
        migrations.CreateModel(
            name="PatientKey",
            fields=[
                (
                    "id",
                    models.UUIDField(
                        default=uuid.uuid4, editable=False, primary_key=True, serialize=False
                    ),
                ),
                ("patient_id", models.UUIDField()),
                ("wrapped_key", models.BinaryField(null=True)),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                ("destroyed_at", models.DateTimeField(blank=True, null=True)),
                (
                    "clinic",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to="clinic.clinic",
                    ),
                ),
            ],
            options={
                "constraints": [
                    models.UniqueConstraint(
                        fields=("clinic", "patient_id"), name="audit_patient_key_unique"
                    )
                ],
            },
        ),
        EnableClinicRLS("audit_patientkey"),
    ]
