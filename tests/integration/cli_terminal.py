"""The `job-auditor` CLI at a fixed time, as the golden terminal captures run it in tmux:

    python -m tests.integration.cli_terminal 2026-11-02T09:10:00Z status --kind bedrock-model-import

The clock stands at the given time (ages and windows read against it), and a run's duration, which the
auditor measures on the monotonic clock time-machine leaves running, reads 0, so a capture is the same
on every machine. botocore's adaptive retry refills its token bucket on the real clock: on a stopped
one, a throttled call would wait forever. A process still running after a minute prints its threads'
stacks and exits, so that a capture shows why."""

from __future__ import annotations

import faulthandler
import sys
from datetime import datetime
from types import SimpleNamespace
from unittest.mock import patch

import time_machine
from botocore.retries import bucket


def main(argv: list[str]) -> None:
    from job_auditor.auditor import source_auditor
    from job_auditor.cli import main as cli_main

    faulthandler.dump_traceback_later(60, exit=True)
    with (
        patch.object(source_auditor, "time", SimpleNamespace(monotonic=lambda: 0.0)),
        patch.object(bucket.Clock, "current_time", lambda _: time_machine.escape_hatch.time.time()),
        time_machine.travel(datetime.fromisoformat(argv[0]), tick=False),
    ):
        cli_main(argv[1:])


if __name__ == "__main__":
    main(sys.argv[1:])
