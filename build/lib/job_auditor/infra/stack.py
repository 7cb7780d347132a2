"""The job-auditor stack of this repo's app.py: one JobAuditor construct, nothing more."""

from __future__ import annotations

from typing import Any

from aws_cdk import Stack
from constructs import Construct

from job_auditor.infra.config import JobAuditorProps
from job_auditor.infra.job_auditor import JobAuditor

# CDK leaves a construct named "Default" out of its children's logical ids: the stack's resources keep
# the ids they had before the construct existed, so updating a deployed stack replaces nothing.
CONSTRUCT_ID = "Default"


class JobAuditorStack(Stack):
    """A stack holding one JobAuditor built from `config` (the app's validated context)."""

    def __init__(
        self, scope: Construct, construct_id: str, *, config: JobAuditorProps, **kwargs: Any
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.job_auditor = JobAuditor(self, CONSTRUCT_ID, props=config)
        self.config = config
