"""One entry per setting: a setting described in the table alone reaches the CDK props (validated, with
its bounds and its message), the function's environment in the template, the Lambda's settings and
the README's tables; and the README's tables are the table's."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from job_auditor.auditor.settings import SettingsError, load_settings
from job_auditor.contract.environment import Setting, registered_setting, settings
from job_auditor.infra import reference
from job_auditor.infra.config import (
    ConfigError,
    JobAuditorOptions,
    JobAuditorProps,
    cdk_settings,
    load_config,
)
from tests.infra.conftest import synth
from tests.settings import PROBE
from tests.unit.test_settings import VALID

ROOT = Path(__file__).resolve().parents[2]
FORM = "a whole number from 2 to 9, e.g. 7"


@pytest.fixture
def probe() -> Iterator[Setting]:
    with registered_setting(PROBE) as setting:
        yield setting


def test_the_setting_reaches_the_cdk_props_validated(probe: Setting) -> None:
    # Given the setting in the table only / When the context or a keyword argument gives it
    assert load_config({"probeRetries": "7"}).value("probe_retries") == 7
    assert JobAuditorProps(probe_retries=3).value("probe_retries") == 3  # type: ignore[call-arg]
    # Then its default is the table's, and a value outside its bounds fails naming it and its form
    assert load_config({}).value("probe_retries") == 4
    with pytest.raises(ConfigError) as caught:
        load_config({"probeRetries": "10"})
    assert str(caught.value) == f"invalid job-auditor context: probeRetries: expected {FORM}, got '10'"
    with pytest.raises(ConfigError, match=f"probe_retries: expected {FORM}, got '1'"):
        JobAuditorProps(probe_retries=1)  # type: ignore[call-arg]


def test_the_setting_reaches_the_functions_environment_and_the_lambda_reads_it(
    probe: Setting, tmp_path: Path
) -> None:
    # Given a stack synthesized with the setting's context key
    synthesized = synth({"stackName": "JobAuditorProbe", "probeRetries": "7"}, tmp_path)
    function = synthesized.resources("AWS::Lambda::Function")[
        synthesized.logical_id(synthesized.stack.job_auditor.function)
    ]
    env = function["Properties"]["Environment"]["Variables"]
    # Then the function's environment carries it, and the Lambda's settings read it back
    assert env["PROBE_RETRIES"] == "7"
    assert load_settings(VALID | {"PROBE_RETRIES": env["PROBE_RETRIES"]}).value("probe_retries") == 7
    assert load_settings(VALID).value("probe_retries") == 4
    with pytest.raises(SettingsError, match="PROBE_RETRIES: expected a whole number from 2 to 9, got '10'"):
        load_settings(VALID | {"PROBE_RETRIES": "10"})


def test_the_setting_reaches_the_readmes_tables(probe: Setting) -> None:
    assert (
        "| `probeRetries` | `4` | `-c probeRetries=7` | how many times the probe retries (a setting only the "
        "tests know) (2 to 9) |" in reference.context_table()
    )
    assert "| `PROBE_RETRIES` | `4` | `probeRetries` |" in reference.environment_table()
    # and the README as committed no longer matches: the check says how to regenerate it
    assert reference.render((ROOT / "README.md").read_text()) != (ROOT / "README.md").read_text()


def test_the_readmes_tables_are_the_settings_table() -> None:
    # Given the README as committed / When its tables are generated from the settings table again
    readme = (ROOT / "README.md").read_text()
    # Then nothing changes (if this fails: python -m job_auditor.infra.reference README.md)
    assert reference.render(readme) == readme, f"the README's tables are stale: run `{reference.REGENERATE}`"


def test_the_check_command_fails_on_a_stale_readme_naming_the_command(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    stale = tmp_path / "README.md"
    stale.write_text((ROOT / "README.md").read_text().replace("| `regions` |", "| `regionz` |"))
    assert reference.main(["--check", str(stale)]) == 1
    assert reference.REGENERATE in capsys.readouterr().err
    assert reference.main([str(stale)]) == 0
    assert reference.main(["--check", str(stale)]) == 0


def test_the_keyword_arguments_are_the_tables_settings() -> None:
    # The typed keyword arguments (for editors and mypy) name exactly the settings with a context key
    assert set(JobAuditorOptions.__annotations__) == {s.name for s in cdk_settings()}


def test_every_setting_is_described_once() -> None:
    names = [s.name for s in settings()]
    keys = [s.context_key for s in settings() if s.context_key]
    variables = [s.env_var for s in settings() if s.env_var]
    for listed in (names, keys, variables):
        assert len(listed) == len(set(listed))
    # and every setting says what it does
    assert [s.name for s in settings() if not s.help] == []


def test_every_default_is_in_its_own_form() -> None:
    # Given every setting's default / Then its form reads it (a default the parser refuses would fail
    # every synth and every run)
    values = {s.name: s.default_value({"accounts": ()}) for s in settings()}
    assert (values["reconcile_every_minutes"], values["audit_mode"], values["accounts"]) == (60, "direct", ())
