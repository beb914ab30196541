from django.db import migrations

from clinic.rls import PostgresSQL


class Migration(migrations.Migration):
    """E-mail search is a case-insensitive substring match (UPPER(email) LIKE ...): a trigram
    index on the same expression keeps it fast at 100k patients."""

    dependencies = [("patients", "0001_patients_treatments")]

    operations = [
        PostgresSQL(
            "CREATE INDEX patient_email_trgm ON patients_patient "
            "USING gin ((UPPER(email::text)) gin_trgm_ops)",
            "DROP INDEX IF EXISTS patient_email_trgm",
        ),
    ]
