"""Signatures and PDF copies now point at the vault's Blob model: state only, same table."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("consent", "0002_signature_method"),
        ("vault", "0001_vault_adopts_blob_tables"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[],
            state_operations=[
                migrations.AlterField(
                    model_name="consentrecord",
                    name="signature",
                    field=models.OneToOneField(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to="vault.blob",
                    ),
                ),
                migrations.AlterField(
                    model_name="consentrecord",
                    name="pdf",
                    field=models.OneToOneField(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to="vault.blob",
                    ),
                ),
            ],
        ),
    ]
