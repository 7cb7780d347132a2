"""S3 for the fan-out: the Plan step's item list (when too large to pass inline) and the Distributed
Map's ResultWriter output (a manifest naming result files of the succeeded, failed and pending
children), read back by the Summarize step."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from job_auditor.auditor.ports import SourceError

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

# ResultWriter's manifest lists its result files under these keys (one file per up to 5 GB).
RESULT_STATUSES = ("SUCCEEDED", "FAILED", "PENDING")


class ItemStore:
    """JSON documents in the fan-out bucket."""

    def __init__(self, client: S3Client, bucket: str) -> None:
        self._s3 = client
        self.bucket = bucket

    def put_json(self, key: str, value: object) -> None:
        body = json.dumps(value, separators=(",", ":")).encode()
        try:
            self._s3.put_object(Bucket=self.bucket, Key=key, Body=body, ContentType="application/json")
        except ClientError as exc:
            raise SourceError(str(exc), exc.response["Error"].get("Code", "S3Error")) from exc

    def get_json(self, key: str, bucket: str | None = None) -> Any:
        try:
            body = self._s3.get_object(Bucket=bucket or self.bucket, Key=key)["Body"].read()
        except ClientError as exc:
            raise SourceError(str(exc), exc.response["Error"].get("Code", "S3Error")) from exc
        return json.loads(body)

    def map_results(self, bucket: str, manifest_key: str) -> Iterator[tuple[str, dict[str, Any]]]:
        """(status, result) for every child in a ResultWriter manifest: SUCCEEDED, FAILED or
        PENDING (never started), each result as Step Functions wrote it (Input, Output, Error, Cause)."""
        manifest = self.get_json(manifest_key, bucket)
        files = manifest.get("ResultFiles") or {}
        for status in RESULT_STATUSES:
            for entry in files.get(status) or []:
                for result in self.get_json(entry["Key"], bucket) or []:
                    yield status, result
