"""Photos hand Blob and ClinicKey to the vault: state only, the tables stay as they are."""

import django.db.models.deletion
from django.db import migrations, models


def _blob(**extra):
    return models.OneToOneField(
        on_delete=django.db.models.deletion.PROTECT, related_name="+", to="vault.blob", **extra
    )


class Migration(migrations.Migration):
    dependencies = [
        ("photos", "0001_photos_and_encrypted_blobs"),
        ("vault", "0001_vault_adopts_blob_tables"),
        ("consent", "0003_blobs_in_vault"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[],
            state_operations=[
                migrations.AlterField(model_name="photo", name="original", field=_blob()),
                migrations.AlterField(
                    model_name="photo", name="display", field=_blob(null=True, blank=True)
                ),
                migrations.AlterField(
                    model_name="photo", name="thumb", field=_blob(null=True, blank=True)
                ),
                migrations.DeleteModel(name="Blob"),
                migrations.DeleteModel(name="ClinicKey"),
            ],
        ),
    ]
