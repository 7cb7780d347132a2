"""A local, wire-faithful simulator of the job APIs job-auditor polls.

Every registered job kind's list, get and scope discovery operations (Bedrock model import, copy,
evaluation, customization and batch inference jobs, knowledge base ingestion jobs, Amazon Q in Connect
import jobs), served from botocore's model by one engine (`simulator.modeled`) over REST-JSON to real
boto3 clients, with a controllable clock, a record of served calls and seeded fault injection.
"""

from simulator.call_log import CallLog, CallRecord
from simulator.clock import SimClock
from simulator.errors import ApiError
from simulator.faults import FaultDecision, FaultPlan, FaultRates, FaultRule
from simulator.httpd import SimulatorServer
from simulator.modeled_store import ModeledJob
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
    "ModeledJob",
    "SimClock",
    "SimulatorServer",
]
