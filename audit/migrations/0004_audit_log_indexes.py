"""Indexes for the audit log's filters: each is (clinic, column, seq), so a filtered page is
one index range read newest first. The patient index replaces (clinic, patient_id), its
prefix. On PostgreSQL they are built CONCURRENTLY: every change in the app appends to this
table, and a plain CREATE INDEX over millions of events would hold all of them up."""

from django.contrib.postgres.operations import AddIndexConcurrently, RemoveIndexConcurrently
from django.db import migrations, models
from django.db.migrations.operations import AddIndex, RemoveIndex


class AddIndexWithoutLocking(AddIndexConcurrently):
    """CONCURRENTLY on PostgreSQL, a plain index elsewhere (SQLite, the embedded default)."""

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            return super().database_forwards(app_label, schema_editor, from_state, to_state)
        return AddIndex.database_forwards(self, app_label, schema_editor, from_state, to_state)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            return super().database_backwards(app_label, schema_editor, from_state, to_state)
        return AddIndex.database_backwards(self, app_label, schema_editor, from_state, to_state)


class RemoveIndexWithoutLocking(RemoveIndexConcurrently):
    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            return super().database_forwards(app_label, schema_editor, from_state, to_state)
        return RemoveIndex.database_forwards(self, app_label, schema_editor, from_state, to_state)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            return super().database_backwards(app_label, schema_editor, from_state, to_state)
        return RemoveIndex.database_backwards(self, app_label, schema_editor, from_state, to_state)


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("audit", "0003_patient_keys"),
    ]

    operations = [
        AddIndexWithoutLocking(
            model_name="auditevent",
            index=models.Index(
                fields=["clinic", "patient_id", "seq"], name="audit_clinic_patient_seq"
            ),
        ),
        AddIndexWithoutLocking(
            model_name="auditevent",
            index=models.Index(fields=["clinic", "actor_id", "seq"], name="audit_clinic_actor_seq"),
        ),
        AddIndexWithoutLocking(
            model_name="auditevent",
            index=models.Index(fields=["clinic", "action", "seq"], name="audit_clinic_action_seq"),
        ),
        RemoveIndexWithoutLocking(model_name="auditevent", name="audit_clinic_patient"),
    ]
