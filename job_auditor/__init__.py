"""job-auditor: announces every status transition of long-running AWS jobs, reliably and once.

`from job_auditor import JobAuditor` gives the CDK construct (`job_auditor.infra`). The Lambda functions
ship `job_auditor.auditor`, `job_auditor.contract` and `job_auditor.slack_forwarder` with this file and
`job_auditor.availability` (shared with the CDK side) and nothing else, so importing the package stays
free of aws-cdk-lib: the CDK names load on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

# The one version of the distribution (pyproject.toml reads it); CHANGELOG.md says what each changed.
__version__ = "0.3.0.dev0"

# Public name -> the module of this package that defines it (imported on first access, PEP 562).
_LAZY = {
    "JobAuditor": "job_auditor.infra.job_auditor",
    "JobAuditorStack": "job_auditor.infra.stack",
    "JobAuditorMemberRole": "job_auditor.infra.member_role",
    "JobAuditorMemberStack": "job_auditor.infra.member_role",
    "JobAuditorProps": "job_auditor.infra.config",
    "ConfigError": "job_auditor.infra.config",
    "add_nag_checks": "job_auditor.infra.nag",
}

if TYPE_CHECKING:
    from job_auditor.infra.config import ConfigError, JobAuditorProps
    from job_auditor.infra.job_auditor import JobAuditor
    from job_auditor.infra.member_role import JobAuditorMemberRole, JobAuditorMemberStack
    from job_auditor.infra.nag import add_nag_checks
    from job_auditor.infra.stack import JobAuditorStack

__all__ = [
    "ConfigError",
    "JobAuditor",
    "JobAuditorMemberRole",
    "JobAuditorMemberStack",
    "JobAuditorProps",
    "JobAuditorStack",
    "__version__",
    "add_nag_checks",
]


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'job_auditor' has no attribute {name!r}")
    import importlib  # noqa: PLC0415 (only when a CDK name is asked for)

    return getattr(importlib.import_module(_LAZY[name]), name)
