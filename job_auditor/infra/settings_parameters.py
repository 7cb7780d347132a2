"""The functions' environment within Lambda's 4 KB: the largest settings in SSM parameters when needed.

Lambda refuses a function whose environment variables exceed 4 KB together, at deploy time, long after
synth passed. 300 account ids or 100 knowledge base ids are that large on their own. So the construct
measures the environment at synth and, only when it would not fit, moves the largest of the settings
the table marks `large` (accounts, organizational units, a kind's scope ids, the notify filter) into an
SSM String parameter each, read once per cold start: the variable SETTINGS_PARAMETERS names them and
each function's role may read exactly those parameters. What still cannot fit fails synth with a
ConfigError naming the settings.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence

from aws_cdk import aws_iam as iam
from aws_cdk import aws_ssm as ssm
from constructs import Construct

from job_auditor.contract.environment import SETTINGS_PARAMETERS, Setting, by_env_var
from job_auditor.infra.config import ConfigError

# Lambda's limit on a function's environment variables together. Measured here as the variables'
# compact JSON (names, values, quotes and separators), which is at least what Lambda counts.
ENVIRONMENT_LIMIT = 4096
# SSM Parameter Store: a Standard parameter holds up to 4 KB (free), an Advanced one up to 8 KB
# (charged per parameter-month).
STANDARD_PARAMETER_LIMIT = 4096
ADVANCED_PARAMETER_LIMIT = 8192
# A value CloudFormation fills in at deploy time (a table's or a parameter's generated name, a topic's
# ARN) is counted at this length: generated names are at most 255 characters, ARNs a little more.
TOKEN_ALLOWANCE = 320


# How CDK writes a reference into a string (a token's marker).
_TOKEN_MARKER = re.compile(r"\$\{Token\[[^\]]+\]\}")


def value_size(value: str) -> int:
    """The bytes `value` takes in the environment once deployed, its references counted at their most."""
    literal, references = _TOKEN_MARKER.subn("", value)
    return len(json.dumps(literal)) + TOKEN_ALLOWANCE * references


def environment_size(environment: Mapping[str, str]) -> int:
    """The environment as Lambda's limit counts it (see ENVIRONMENT_LIMIT)."""
    return 1 + sum(len(json.dumps(name)) + 1 + value_size(value) + 1 for name, value in environment.items())


def _described(setting: Setting) -> str:
    return setting.context_key or str(setting.env_var)


class SettingsParameters(Construct):
    """The environment of the functions that run the auditor's code, fitted into Lambda's 4 KB.

    `environment`: every variable the functions get; `reserve`: variables only some of them add (the
    fan-out's), counted so every function fits. Afterwards `environment` is what the functions get
    (with SETTINGS_PARAMETERS naming the moved variables' parameters) and `grant_read` lets a role
    read those parameters."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        environment: Mapping[str, str],
        reserve: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        self.parameters: dict[str, ssm.StringParameter] = {}
        env = dict(environment)
        reserved = environment_size(reserve or {}) - 1
        settings = by_env_var()
        movable = sorted(
            (name for name in env if name in settings and settings[name].large),
            key=lambda name: value_size(env[name]),
            reverse=True,
        )
        for name in movable:
            if environment_size(self._with_pointer(env)) + reserved <= ENVIRONMENT_LIMIT:
                break
            self.parameters[name] = self._parameter(settings[name], env.pop(name))
        env = self._with_pointer(env)
        if (size := environment_size(env) + reserved) > ENVIRONMENT_LIMIT:
            raise ConfigError(self._too_large(env, size, settings))
        self.environment = env

    def _with_pointer(self, env: Mapping[str, str]) -> dict[str, str]:
        """`env` and, once a variable moved, SETTINGS_PARAMETERS naming the parameters."""
        if not self.parameters:
            return dict(env)
        pointer = SETTINGS_PARAMETERS.form.write({n: p.parameter_name for n, p in self.parameters.items()})
        return {**env, str(SETTINGS_PARAMETERS.env_var): pointer}

    def _parameter(self, setting: Setting, value: str) -> ssm.StringParameter:
        size = len(value.encode())
        if size > ADVANCED_PARAMETER_LIMIT:
            raise ConfigError(
                f"invalid job-auditor context: {_described(setting)}: {size} bytes, more than an SSM "
                f"parameter holds ({ADVANCED_PARAMETER_LIMIT}, the Advanced tier) and more than Lambda's "
                f"environment ({ENVIRONMENT_LIMIT}) together: name fewer"
                + (" (or accounts=organization, listed at run time)" if setting.env_var == "ACCOUNTS" else "")
            )
        tier = ssm.ParameterTier.STANDARD if size <= STANDARD_PARAMETER_LIMIT else ssm.ParameterTier.ADVANCED
        return ssm.StringParameter(
            self,
            str(setting.env_var).title().replace("_", ""),
            string_value=value,
            tier=tier,
            description=f"job-auditor: {setting.env_var}, too large for the functions' environment",
        )

    @staticmethod
    def _too_large(env: Mapping[str, str], size: int, settings: Mapping[str, Setting]) -> str:
        largest = sorted(env, key=lambda name: value_size(env[name]), reverse=True)[:3]
        named = ", ".join(
            f"{_described(settings[name]) if name in settings else name} ({value_size(env[name])} bytes)"
            for name in largest
        )
        return (
            f"invalid job-auditor context: the functions' environment is {size} bytes with every list "
            f"that may go to SSM moved there, and Lambda takes {ENVIRONMENT_LIMIT}: the largest are "
            f"{named}"
        )

    def grant_read(self, grantees: Sequence[iam.IGrantable]) -> None:
        """Let each grantee read the moved settings' parameters (each parameter, nothing else)."""
        for parameter in self.parameters.values():
            for grantee in grantees:
                parameter.grant_read(grantee)
