"""How the simulator's records look on the wire: the JSON of each API's summaries and jobs, with the
timestamp formats each API uses (ISO 8601 for Bedrock, epoch seconds for Q in Connect)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from simulator.records import ImportJob, KnowledgeBase, ModelCopyJob, ModelImportJob, to_micros

Body = dict[str, Any]


def iso(when: datetime) -> str:
    """Bedrock's wire timestamp: ISO 8601, UTC, milliseconds."""
    when = when.astimezone(UTC)
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


def epoch(when: datetime) -> float | int:
    """Q in Connect's wire timestamp: epoch seconds (a JSON number, fractional when needed)."""
    micros = to_micros(when)
    return micros // 1_000_000 if micros % 1_000_000 == 0 else micros / 1_000_000


def _drop_none(body: Body) -> Body:
    return {k: v for k, v in body.items() if v is not None}


def render_import_job_summary(job: ModelImportJob) -> Body:
    """A ModelImportJobSummary."""
    return _drop_none(
        {
            "jobArn": job.arn,
            "jobName": job.name,
            "status": job.status,
            "lastModifiedTime": iso(job.last_modified_time),
            "creationTime": iso(job.creation_time),
            "endTime": iso(job.end_time) if job.end_time else None,
            "importedModelArn": job.imported_model_arn,
            "importedModelName": job.imported_model_name,
        }
    )


def render_import_job(job: ModelImportJob) -> Body:
    """A GetModelImportJob response."""
    return _drop_none(
        {
            "jobArn": job.arn,
            "jobName": job.name,
            "importedModelName": job.imported_model_name,
            "importedModelArn": job.imported_model_arn,
            "roleArn": job.role_arn,
            "modelDataSource": {"s3DataSource": {"s3Uri": job.s3_uri}},
            "status": job.status,
            "failureMessage": job.failure_message,
            "creationTime": iso(job.creation_time),
            "lastModifiedTime": iso(job.last_modified_time),
            "endTime": iso(job.end_time) if job.end_time else None,
        }
    )


def render_copy_job(job: ModelCopyJob) -> Body:
    """A ModelCopyJobSummary; GetModelCopyJob returns the same members."""
    return _drop_none(
        {
            "jobArn": job.arn,
            "status": job.status,
            "creationTime": iso(job.creation_time),
            "targetModelArn": job.target_model_arn,
            "targetModelName": job.target_model_name,
            "sourceAccountId": job.source_account_id,
            "sourceModelArn": job.source_model_arn,
            "failureMessage": job.failure_message,
            "sourceModelName": job.source_model_name,
        }
    )


def render_q_import_job_summary(job: ImportJob) -> Body:
    """An ImportJobSummary."""
    return {
        "importJobId": job.import_job_id,
        "knowledgeBaseId": job.knowledge_base_id,
        "uploadId": job.upload_id,
        "knowledgeBaseArn": job.knowledge_base_arn,
        "importJobType": job.import_job_type,
        "status": job.status,
        "createdTime": epoch(job.created_time),
        "lastModifiedTime": epoch(job.last_modified_time),
        "metadata": dict(job.metadata),
    }


def render_q_import_job(job: ImportJob) -> Body:
    """An ImportJobData (GetImportJob wraps it in `importJob`)."""
    return _drop_none(
        {
            **render_q_import_job_summary(job),
            "url": job.url,
            "failedRecordReport": job.failed_record_report,
            "urlExpiry": epoch(job.url_expiry),
        }
    )


def render_knowledge_base(kb: KnowledgeBase) -> Body:
    """A KnowledgeBaseSummary."""
    return {
        "knowledgeBaseId": kb.knowledge_base_id,
        "knowledgeBaseArn": kb.arn,
        "name": kb.name,
        "knowledgeBaseType": kb.knowledge_base_type,
        "status": kb.status,
        "lastModifiedTime": epoch(kb.last_modified_time),
    }
