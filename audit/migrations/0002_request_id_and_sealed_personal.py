"""Events gain a request id and a sealed personal field, both covered by the hash of events
written from now on (hash format 2). Events already written keep format 1, so their hashes
stay valid: adding a column with a default rewrites no row and fires no trigger."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("audit", "0001_audit_trail"),
    ]

    operations = [
        migrations.AddField(
            model_name="auditevent",
            name="request_id",
            field=models.CharField(blank=True, default="", max_length=64),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="auditevent",
            name="personal",
            field=models.BinaryField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="auditevent",
            name="hash_format",
            field=models.PositiveSmallIntegerField(default=1),
            preserve_default=False,
        ),
    ]
