"""Changes to the vault that are recorded in the clinic's audit trail."""

from __future__ import annotations

from typing import Any

from audit.personal import patient_keys_rewrap
from audit.services import record
from clinic.models import Clinic
from clinic.tenancy import clinic_context
from vault import keys


def clinic_keys_rotate(
    *, clinic: Clinic, new_clinic_key: bool = False, actor_label: str = "rotate_keys"
) -> dict[str, Any]:
    """Re-wrap the clinic's keys under the current master key (or KMS key); with
    ``new_clinic_key`` also start a new clinic key version and re-wrap every data key under it.
    No object is re-encrypted. Audited in the clinic's trail; returns what was done."""
    keys.forget_cached_keys()
    with clinic_context(clinic.id):
        details: dict[str, Any] = {
            "clinic_keys_rewrapped": keys.rewrap_clinic_keys(clinic.id),
            "wrapped_by": keys.current_wrapper_id(),
            # The trail's patient keys hang off the master key too (audit.sealing).
            "patient_keys_rewrapped": patient_keys_rewrap(clinic.id),
        }
        if new_clinic_key:
            version, data_keys = keys.rotate_clinic_key(clinic.id)
            details.update(new_version=version, data_keys_rewrapped=data_keys)
        record(clinic=clinic, action="keys.rotated", actor_label=actor_label, details=details)
    return details
