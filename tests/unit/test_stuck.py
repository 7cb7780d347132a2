from datetime import timedelta

import pytest

from job_auditor.auditor.domain.diff import stuck
from job_auditor.auditor.domain.events import build_detail
from job_auditor.auditor.domain.jobs import JobState
from job_auditor.auditor.settings import SettingsError, load_settings
from job_auditor.contract.environment import stuck_hours_form
from job_auditor.contract.kinds import kind_ids
from job_auditor.infra.config import ConfigError, load_config
from tests.unit.factories import SOURCE, T0, job
from tests.unit.test_settings import VALID

DAY = timedelta(hours=24)


def _state(
    status: str = "InProgress", since_hours: float = 25, notified_hours: float | None = None
) -> JobState:
    j = job(1, status)
    return JobState(
        j.job_id,
        status,
        j.created_at,
        3,
        name=j.name,
        arn=j.arn,
        status_since=T0 - timedelta(hours=since_hours),
        stuck_notified_at=None if notified_hours is None else T0 - timedelta(hours=notified_hours),
    )


def test_job_in_progress_beyond_the_threshold_gets_one_alert() -> None:
    before = _state(since_hours=25)
    (alert,) = stuck(SOURCE, {before.job_id: before}, [job(1)], T0, DAY)
    assert (alert.type, alert.previous_status, alert.status) == ("stuck", "InProgress", "InProgress")
    assert alert.sequence == 4
    detail = build_detail(alert)
    assert detail["transition"] == "stuck"
    assert detail["stuckForSeconds"] == 25 * 3600
    committed = alert.as_state()
    assert committed.stuck_notified_at == T0
    assert committed.status_since == before.status_since


def test_no_alert_below_the_threshold_for_terminal_jobs_or_when_the_status_moved() -> None:
    assert stuck(SOURCE, {"x": _state(since_hours=23)}, [job(1)._replace(job_id="x")], T0, DAY) == []
    done = _state("Completed", since_hours=100)
    assert stuck(SOURCE, {done.job_id: done}, [job(1, "Completed")], T0, DAY) == []
    moving = _state(since_hours=100)
    assert stuck(SOURCE, {moving.job_id: moving}, [job(1, "Completed")], T0, DAY) == []


@pytest.mark.parametrize(
    ("notified_hours", "repeat", "alerts"),
    [(1, None, 0), (100, None, 0), (5, timedelta(hours=6), 0), (6, timedelta(hours=6), 1)],
)
def test_alert_once_or_every_repeat_period(
    notified_hours: float, repeat: timedelta | None, alerts: int
) -> None:
    before = _state(since_hours=200, notified_hours=notified_hours)
    assert len(stuck(SOURCE, {before.job_id: before}, [job(1)], T0, DAY, repeat)) == alerts


def test_unknown_status_can_be_stuck_too() -> None:
    before = _state("Paused", since_hours=30)
    assert len(stuck(SOURCE, {before.job_id: before}, [job(1, "Paused")], T0, DAY)) == 1


def test_stuck_thresholds_per_kind_from_the_environment() -> None:
    settings = load_settings(VALID | {"STUCK_AFTER_HOURS": "qconnect-import=6,bedrock-model-copy=48"})
    assert settings.stuck_threshold("qconnect-import") == timedelta(hours=6)
    assert settings.stuck_threshold("bedrock-model-copy") == timedelta(hours=48)
    assert settings.stuck_threshold("bedrock-model-import") == timedelta(hours=24)
    assert load_settings(VALID | {"STUCK_AFTER_HOURS": "12"}).stuck_threshold("qconnect-import") == timedelta(
        hours=12
    )
    with pytest.raises(SettingsError, match=r"STUCK_AFTER_HOURS: expected whole hours .*, got 'batch=3'"):
        load_settings(VALID | {"STUCK_AFTER_HOURS": "batch=3"})


@pytest.mark.parametrize(
    ("value", "thresholds"),
    [
        ("1", dict.fromkeys(kind_ids(), 1)),
        ("99999", dict.fromkeys(kind_ids(), 99999)),
        (
            " qconnect-import = 6 ,, bedrock-model-import=48",
            {"qconnect-import": 6, "bedrock-model-import": 48},
        ),
        # The same pair twice is only repeated.
        ("qconnect-import=6,qconnect-import=6", {"qconnect-import": 6}),
    ],
)
def test_stuck_hours_forms_both_configs_accept(value: str, thresholds: dict[str, int]) -> None:
    # Given a form the Lambda and the CDK context both accept
    # When each parses it, Then both agree (the CDK writes the thresholds on as STUCK_AFTER_HOURS)
    assert load_settings(VALID | {"STUCK_AFTER_HOURS": value}).stuck_after_hours == thresholds
    assert load_config({"stuckAfterHours": value}).stuck_after_hours == thresholds


@pytest.mark.parametrize(
    "value",
    # Leading zeros and more than 5 digits: the Lambda took these and the CDK context did not.
    [
        "024",
        "123456",
        "qconnect-import=06",
        "qconnect-import=123456",
        "0",
        "qconnect-import=0",
        "batch=3",
        "+5",
        # One kind with two thresholds is ambiguous (the last one used to win silently).
        "qconnect-import=6,qconnect-import=12",
    ],
)
def test_stuck_hours_forms_both_configs_reject(value: str) -> None:
    # Given a malformed stuck threshold
    # When the Lambda's settings and the CDK context load it, Then both reject it, quoting it
    with pytest.raises(SettingsError) as lambda_error:
        load_settings(VALID | {"STUCK_AFTER_HOURS": value})
    with pytest.raises(ConfigError) as cdk_error:
        load_config({"stuckAfterHours": value})
    assert f"STUCK_AFTER_HOURS: expected {stuck_hours_form()}" in str(lambda_error.value)
    assert f"stuckAfterHours: expected {stuck_hours_form()}" in str(cdk_error.value)
    assert value.rsplit(",", maxsplit=1)[-1] in str(lambda_error.value)
