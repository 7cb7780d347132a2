"""The record of the AWS calls the simulator served: what tests count API calls with."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class CallRecord:
    """One AWS operation the server answered."""

    operation: str
    region: str
    params: Mapping[str, str]
    status: int
    error_code: str | None
    at: datetime
    # The account the caller's credentials belong to, and the access key they signed with.
    account: str = ""
    access_key: str = ""


class CallLog:
    """A thread-safe, append-only record of served AWS calls."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._records: list[CallRecord] = []

    def append(self, record: CallRecord) -> None:
        """Record one call."""
        with self._lock:
            self._records.append(record)

    def snapshot(self) -> list[CallRecord]:
        """A copy of the records so far."""
        with self._lock:
            return list(self._records)

    def clear(self) -> None:
        """Forget every record."""
        with self._lock:
            self._records.clear()

    def __len__(self) -> int:
        with self._lock:
            return len(self._records)

    def __iter__(self) -> Iterator[CallRecord]:
        return iter(self.snapshot())

    def count(
        self,
        operation: str | None = None,
        *,
        region: str | None = None,
        status: int | None = None,
        account: str | None = None,
    ) -> int:
        """How many recorded calls match every given criterion."""
        return sum(
            1
            for r in self.snapshot()
            if (operation is None or r.operation == operation)
            and (region is None or r.region == region)
            and (status is None or r.status == status)
            and (account is None or r.account == account)
        )
