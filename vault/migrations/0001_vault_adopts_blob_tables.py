"""The vault takes over the Blob and ClinicKey models from photos: state only.

The tables keep their names (photos_blob, photos_clinickey), rows, constraints and row-level
security; no stored byte changes, and the purposes bound into each object's associated data
stay as they were.
"""

import uuid

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True

    dependencies = [
        ("clinic", "0001_clinics_staff"),
        ("photos", "0001_photos_and_encrypted_blobs"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[],
            state_operations=[
                migrations.CreateModel(
                    name="Blob",
                    fields=[
                        (
                            "id",
                            models.UUIDField(
                                default=uuid.uuid4,
                                editable=False,
                                primary_key=True,
                                serialize=False,
                            ),
                        ),
                        (
                            "purpose",
                            models.CharField(
                                help_text="set by the user of the vault", max_length=20
                            ),
                        ),
                        ("key_version", models.PositiveIntegerField()),
                        ("wrapped_key", models.BinaryField(null=True)),
                        ("size", models.BigIntegerField(help_text="plaintext bytes")),
                        ("staged_ciphertext", models.BinaryField(editable=False, null=True)),
                        ("created_at", models.DateTimeField(auto_now_add=True)),
                        ("shredded_at", models.DateTimeField(blank=True, null=True)),
                        (
                            "clinic",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.PROTECT,
                                related_name="+",
                                to="clinic.clinic",
                            ),
                        ),
                    ],
                    options={"db_table": "photos_blob"},
                ),
                migrations.CreateModel(
                    name="ClinicKey",
                    fields=[
                        (
                            "id",
                            models.UUIDField(
                                default=uuid.uuid4,
                                editable=False,
                                primary_key=True,
                                serialize=False,
                            ),
                        ),
                        ("version", models.PositiveIntegerField()),
                        ("wrapped_key", models.BinaryField()),
                        (
                            "wrapped_by",
                            models.CharField(
                                help_text="master key id or kms:<key id>", max_length=120
                            ),
                        ),
                        ("created_at", models.DateTimeField(auto_now_add=True)),
                        ("retired_at", models.DateTimeField(blank=True, null=True)),
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
                        "db_table": "photos_clinickey",
                        "constraints": [
                            models.UniqueConstraint(
                                fields=("clinic", "version"), name="clinickey_version_unique"
                            )
                        ],
                    },
                ),
            ],
        ),
    ]
