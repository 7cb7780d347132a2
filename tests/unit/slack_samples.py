"""Event details (envelope v1) for the Slack forwarder's tests: one per status category, stuck, and odd."""

from __future__ import annotations

from typing import Any

ACCOUNT = "123456789012"
IMPORT_ARN = "arn:aws:bedrock:us-east-1:123456789012:model-import-job/a1b2c3d4e5f6"
COPY_ARN = "arn:aws:bedrock:eu-west-1:123456789012:model-copy-job/z9y8x7w6v5u4"
KB_ID = "11111111-2222-3333-4444-555555555555"

_BASE: dict[str, Any] = {
    "version": "1",
    "eventId": "09f6f1c6-c1d3-5c3a-b5ff-23e94444d7d2",
    "transition": "status-changed",
    "sequence": 2,
    "account": ACCOUNT,
    "region": "us-east-1",
    "jobKind": "bedrock-model-import",
    "jobId": IMPORT_ARN,
    "jobArn": IMPORT_ARN,
    "jobName": "llama-3-8b-import",
    "knowledgeBaseId": None,
    "previousStatus": "InProgress",
    "status": "Completed",
    "statusCategory": "SUCCEEDED",
    "creationTime": "2026-11-02T08:00:00Z",
    "lastModifiedTime": "2026-11-05T08:02:00Z",
    "endTime": "2026-11-05T08:02:00Z",
    "observedTime": "2026-11-05T08:05:00Z",
    "durationSeconds": 259320,
    "failureMessage": None,
    "failureMessageTruncated": False,
    "consoleUrl": "https://us-east-1.console.aws.amazon.com/go/view?arn=arn%3Aaws%3Abedrock%3Aus-east-1%3A123456789012%3Amodel-import-job%2Fa1b2c3d4e5f6",
    "jobsConsoleUrl": "https://us-east-1.console.aws.amazon.com/bedrock/home?region=us-east-1#/imported-models",
}

LONG_FAILURE = (
    "ValidationException: the model artifacts in s3://models/llama/ are not in a supported format "
    "<safetensors> & " + "config.json is missing `architectures`. " * 120
)[:3988] + " [truncated]"

SAMPLES: dict[str, dict[str, Any]] = {
    "succeeded": _BASE,
    "failed": _BASE
    | {
        "eventId": "5b0e1c8e-53f4-5d0f-9b6f-0d2a0f3c4b11",
        "jobKind": "bedrock-model-copy",
        "region": "eu-west-1",
        "jobId": COPY_ARN,
        "jobArn": COPY_ARN,
        "jobName": "prod-llama-copy",
        "status": "Failed",
        "statusCategory": "FAILED",
        "durationSeconds": 754,
        "creationTime": "2026-11-05T07:50:00Z",
        "endTime": "2026-11-05T08:02:34Z",
        "failureMessage": LONG_FAILURE,
        "failureMessageTruncated": True,
        "consoleUrl": "https://eu-west-1.console.aws.amazon.com/go/view?arn=arn%3Aaws%3Abedrock%3Aeu-west-1%3A123456789012%3Amodel-copy-job%2Fz9y8x7w6v5u4",
        "jobsConsoleUrl": "https://eu-west-1.console.aws.amazon.com/bedrock/home?region=eu-west-1#/custom-models",
    },
    "discovered": _BASE
    | {
        "eventId": "7d7e3f0a-0b5e-5b8e-8d8c-2f6f9e1a2b3c",
        "transition": "discovered",
        "sequence": 1,
        "previousStatus": None,
        "status": "InProgress",
        "statusCategory": "IN_PROGRESS",
        "endTime": None,
        "durationSeconds": 300,
    },
    "deleted": _BASE
    | {
        "eventId": "c3a1b2d4-1111-5222-8333-444455556666",
        "jobKind": "qconnect-import",
        "jobId": "f0e1d2c3-b4a5-4968-8776-655443322110",
        "jobArn": None,
        "jobName": None,
        "knowledgeBaseId": KB_ID,
        "previousStatus": "DELETE_IN_PROGRESS",
        "status": "DELETED",
        "statusCategory": "DELETED",
        "durationSeconds": 3600,
        "consoleUrl": "https://us-east-1.console.aws.amazon.com/connect/home?region=us-east-1",
        "jobsConsoleUrl": "https://us-east-1.console.aws.amazon.com/connect/home?region=us-east-1",
    },
    "ingestion-failed": _BASE
    | {
        "eventId": "d4d4d4d4-2222-5333-8444-555566667777",
        "jobKind": "bedrock-kb-ingestion",
        "jobId": "INGEST0008",
        "jobArn": None,
        "jobName": "INGEST0008",
        "knowledgeBaseId": "KBAAAAAAAA",
        "dataSourceId": "DS11111111",
        "previousStatus": "IN_PROGRESS",
        "status": "FAILED",
        "statusCategory": "FAILED",
        "durationSeconds": 1800,
        "endTime": None,
        "failureMessage": "Access denied to s3://docs/handbook.pdf; 20 files could not be parsed",
        "jobDetails": {
            "statistics": {
                "numberOfDocumentsScanned": 120,
                "numberOfNewDocumentsIndexed": 95,
                "numberOfDocumentsFailed": 20,
            }
        },
        "consoleUrl": "https://us-east-1.console.aws.amazon.com/bedrock/home?region=us-east-1#/knowledge-bases",
        "jobsConsoleUrl": "https://us-east-1.console.aws.amazon.com/bedrock/home?region=us-east-1#/knowledge-bases",
    },
    "partial": _BASE
    | {
        "eventId": "f1f1f1f1-3333-5444-8555-666677778888",
        "jobKind": "bedrock-batch-inference",
        "status": "PartiallyCompleted",
        "statusCategory": "PARTIAL",
        "failureMessage": "7 of 100 records failed",
        "jobDetails": {"totalRecordCount": 100, "successRecordCount": 93, "errorRecordCount": 7},
    },
    "expired": _BASE
    | {"jobKind": "bedrock-batch-inference", "status": "Expired", "statusCategory": "EXPIRED"},
    "stopped": _BASE
    | {
        "jobKind": "bedrock-evaluation",
        "previousStatus": "Stopping",
        "status": "Stopped",
        "statusCategory": "STOPPED",
    },
    "unknown": _BASE
    | {
        "eventId": "e8e8e8e8-0000-5000-8000-000000000001",
        "previousStatus": "InProgress",
        "status": "Validating",
        "statusCategory": "UNKNOWN",
        "endTime": None,
    },
    "stuck": _BASE
    | {
        "eventId": "a0a0a0a0-1111-5111-8111-222222222222",
        "transition": "stuck",
        "sequence": 3,
        "previousStatus": "InProgress",
        "status": "InProgress",
        "statusCategory": "IN_PROGRESS",
        "endTime": None,
        "durationSeconds": 93600,
        "stuckForSeconds": 86400,
    },
}
