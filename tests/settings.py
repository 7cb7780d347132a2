"""A setting no module of the system describes, for the tests that prove the settings table drives
everything (as tests/kinds.py does for a job kind): bounds, a default, a form, help."""

from __future__ import annotations

from job_auditor.contract.environment import Setting
from job_auditor.contract.forms import Bounds, whole

PROBE = Setting(
    whole(Bounds(2, 9)),
    "probeRetries",
    "PROBE_RETRIES",
    "4",
    "how many times the probe retries (a setting only the tests know)",
    example="7",
)
