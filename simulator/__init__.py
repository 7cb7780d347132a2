"""A local, wire-faithful simulator of the job APIs job-auditor polls.

Bedrock ListModelImportJobs / GetModelImportJob / ListModelCopyJobs / GetModelCopyJob and Amazon Q in
Connect ListImportJobs / GetImportJob / ListKnowledgeBases (hand-written handlers), and every other
registered job kind's list, get and scope discovery operations from botocore's model
(`simulator.modeled`), served over REST-JSON to real boto3 clients, with a controllable clock, a
record of served calls and seeded fault injection.
"""

import sys
from pathlib import Path

# The simulator serves what the job-kind registry describes (lambdas/contract, standard library only,
# shipped in the Lambda asset): its import root must be importable however the simulator is started
# (python -m simulator.server, make demo, the tests).
_CONTRACT_ROOT = str(Path(__file__).resolve().parent.parent / "lambdas")
if _CONTRACT_ROOT not in sys.path:
    sys.path.append(_CONTRACT_ROOT)


from simulator.call_log import CallLog, CallRecord  # noqa: E402 (after the contract root)
from simulator.clock import SimClock  # noqa: E402 (after the contract root)
from simulator.errors import ApiError  # noqa: E402 (after the contract root)
from simulator.faults import FaultDecision, FaultPlan, FaultRates, FaultRule  # noqa: E402 (after the contract root)
from simulator.httpd import SimulatorServer  # noqa: E402 (after the contract root)
from simulator.records import ImportJob, KnowledgeBase, ModelCopyJob, ModelImportJob  # noqa: E402 (after the contract root)
from simulator.state import DEFAULT_ACCOUNT_ID, ControlPlane  # noqa: E402 (after the contract root)

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
