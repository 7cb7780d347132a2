"""A local, wire-faithful simulator of the job APIs job-auditor polls.

Bedrock ListModelImportJobs / GetModelImportJob / ListModelCopyJobs / GetModelCopyJob and Amazon Q in
Connect ListImportJobs / GetImportJob / ListKnowledgeBases (hand-written handlers), and every other
registered job kind's list, get and scope discovery operations from botocore's model
(`simulator.modeled`), served over REST-JSON to real boto3 clients, with a controllable clock, a
record of served calls and seeded fault injection.
"""

from simulator.call_log import CallLog, CallRecord
from simulator.clock import SimClock
from simulator.errors import ApiError
from simulator.faults import FaultDecision, FaultPlan, FaultRates, FaultRule
from simulator.httpd import SimulatorServer
from simulator.records import ImportJob, KnowledgeBase, ModelCopyJob, ModelImportJob
from simulator.state import DEFAULT_ACCOUNT_ID, ControlPlane

__all__ = [
    "DEFAULT_ACCOUNT_ID",
    "ApiError",
    "CallLog",
    "CallRecord",
    "ControlPlane",
    "FaultDecision",
    "FaultPlan",
    "FaultRates",
    "FaultRule",
    "ImportJob",
    "KnowledgeBase",
    "ModelCopyJob",
    "ModelImportJob",
    "SimClock",
    "SimulatorServer",
]
