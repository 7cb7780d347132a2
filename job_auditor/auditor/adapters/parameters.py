"""SSM Parameter Store: the settings that did not fit in Lambda's 4 KB environment.

The construct moves the largest settings into String parameters when the environment would not fit
(infra/settings_parameters.py) and names them in SETTINGS_PARAMETERS; `load_settings` reads them
through a `ParameterReader`, which asks GetParameters once per name and process, so a warm invocation
makes no call.
"""

from __future__ import annotations

import threading
from collections.abc import Collection
from typing import TYPE_CHECKING

import boto3

from job_auditor.auditor.adapters.clients import RETRY_CONFIG

if TYPE_CHECKING:
    from mypy_boto3_ssm import SSMClient

# GetParameters takes at most ten names a call.
NAMES_PER_CALL = 10


class ParameterReader:
    """`read_parameters` of load_settings: parameter names -> values, each read from SSM once.

    A name SSM does not know (GetParameters' InvalidParameters) is left out of the answer, so the
    settings name the variable it should have held; any other error (access denied, throttling past
    the SDK's retries) fails the run with the SDK's own error."""

    def __init__(
        self,
        client: SSMClient | None = None,
        *,
        session: boto3.session.Session | None = None,
        region: str | None = None,
    ) -> None:
        # The client is built on first use: a function whose settings all fit its environment never
        # makes one.
        self._client = client
        self._session = session
        self._region = region
        self._values: dict[str, str] = {}
        self._lock = threading.Lock()

    def _ssm(self) -> SSMClient:
        if self._client is None:
            session = self._session or boto3.session.Session()
            self._client = session.client("ssm", region_name=self._region, config=RETRY_CONFIG)
        return self._client

    def __call__(self, names: Collection[str]) -> dict[str, str]:
        with self._lock:
            wanted = [name for name in dict.fromkeys(names) if name not in self._values]
            for start in range(0, len(wanted), NAMES_PER_CALL):
                response = self._ssm().get_parameters(Names=wanted[start : start + NAMES_PER_CALL])
                self._values |= {p["Name"]: p["Value"] for p in response["Parameters"]}
            return {name: self._values[name] for name in names if name in self._values}
