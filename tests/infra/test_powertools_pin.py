"""The Powertools layer the stack deploys by default is the release requirements.txt pins for local runs."""

from __future__ import annotations

import re
from pathlib import Path

from job_auditor.infra.config import JobAuditorProps, load_config

REQUIREMENTS = Path(__file__).resolve().parents[2] / "requirements.txt"


def _pinned_powertools() -> str:
    (version,) = re.findall(
        r"^aws-lambda-powertools(?:\[[^\]]*\])?==([\d.]+)\s*$", REQUIREMENTS.read_text(), flags=re.M
    )
    return str(version)


def test_default_layer_version_is_the_pinned_release() -> None:
    # Given requirements.txt's pin, When the context does not name a layer version, Then the pin is used
    assert JobAuditorProps().powertools_layer_version == _pinned_powertools()


def test_latest_only_on_request() -> None:
    assert load_config({"powertoolsLayerVersion": "latest"}).powertools_layer_version == "latest"
