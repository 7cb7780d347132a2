"""The world the CLI's integration tests and golden terminal captures read: a few audit cycles on the
simulator and moto, and the stack's outputs as a deployed stack has them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from simulator.world import REGION, World

KINDS = "bedrock-model-import,bedrock-model-copy,qconnect-import"


@dataclass
class Story:
    w: World
    llama: str
    phi: str
    copy: str
    quick: str
    # What the bus consumer's queue received, in the cycles after the baseline.
    events: list[dict[str, Any]]


def tell(w: World) -> Story:
    """On a world opened with JOB_KINDS=KINDS: a baseline of three jobs, then the llama import
    completes and a phi import starts, then the copy job fails; the Q in Connect import and the phi
    import stay in progress. The stack is deployed at the end."""
    plane = w.plane
    llama = plane.create_model_import_job(region=REGION, name="llama-import", status="InProgress")
    copy = plane.create_model_copy_job(region=REGION, target_model_name="llama-eu", status="InProgress")
    kb = plane.create_knowledge_base(region=REGION, name="support-answers")
    quick = plane.create_import_job(region=REGION, knowledge_base_id=kb, status="START_IN_PROGRESS")
    w.run()
    w.advance(timedelta(minutes=5))
    plane.set_status(llama, "Completed")
    phi = plane.create_model_import_job(region=REGION, name="phi-import", status="InProgress")
    w.run()
    w.advance(timedelta(minutes=5))
    plane.set_status(copy, "Failed", failure_message="The key policy denies the target account")
    w.run()
    events = w.events_received()
    w.notifications_received()
    assert len(events) == 3
    w.deploy_stack()
    return Story(w, llama, phi, copy, quick, events)
