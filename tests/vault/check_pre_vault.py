"""Run with tests.vault.pre_vault_settings: reads every vault object and the clinic logos of a
database made before the vault move and prints what it found as JSON."""

import json

import django

django.setup()

from clinic.models import Clinic  # noqa: E402
from clinic.tenancy import clinic_context  # noqa: E402
from vault import storage  # noqa: E402
from vault.models import Blob  # noqa: E402

MAGIC = {"original": b"\xff\xd8\xff", "display": b"\xff\xd8\xff", "thumb": b"\xff\xd8\xff"}
MAGIC.update(signature=b"\x89PNG", pdf=b"%PDF")
found = {"blobs": {}, "logos": 0, "streamed_equal": True}
for clinic in Clinic.objects.all():
    if clinic.logo:
        assert bytes(clinic.logo).startswith(b"\x89PNG")
        found["logos"] += 1
    with clinic_context(clinic.id):
        for blob in Blob.objects.filter(clinic=clinic):
            data = storage.blob_read(blob)
            assert data.startswith(MAGIC[blob.purpose]), blob.purpose
            assert len(data) == blob.size
            found["streamed_equal"] &= b"".join(storage.blob_iter(blob)) == data
            found["blobs"][blob.purpose] = found["blobs"].get(blob.purpose, 0) + 1
print(json.dumps(found))
