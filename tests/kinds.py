"""A job kind no module of the system describes, for the tests that prove the registry drives
everything: Bedrock provisioned throughput (a real botocore list/get pair with statuses)."""

from __future__ import annotations

from types import MappingProxyType

from job_auditor.contract.kinds import IamGrant, JobKindSpec, StatusCategory

THROUGHPUT = JobKindSpec(
    id="bedrock-provisioned-throughput",
    display_name="Bedrock provisioned throughput",
    detail_type="Bedrock Provisioned Throughput Status Change",
    client="bedrock",
    list_method="list_provisioned_model_throughputs",
    list_result_key="provisionedModelSummaries",
    time_filter_param="creationTimeAfter",
    time_filter_before_param="creationTimeBefore",
    sort_params=MappingProxyType({"sortBy": "CreationTime", "sortOrder": "Ascending"}),
    max_page_size=1000,
    id_field="provisionedModelArn",
    name_field="provisionedModelName",
    status_field="status",
    creation_time_field="creationTime",
    last_modified_field="lastModifiedTime",
    end_time_field=None,
    failure_field="failureMessage",
    arn_field="provisionedModelArn",
    status_filter_param="statusEquals",
    get_method="get_provisioned_model_throughput",
    get_id_param="provisionedModelId",
    get_result_key=None,
    statuses=MappingProxyType(
        {
            "Creating": StatusCategory.IN_PROGRESS,
            "Updating": StatusCategory.IN_PROGRESS,
            "InService": StatusCategory.SUCCEEDED,
            "Failed": StatusCategory.FAILED,
        }
    ),
    jobs_console_url="https://{region}.console.aws.amazon.com/bedrock/home?region={region}#/provisioned-throughput",
    iam=(
        IamGrant(("bedrock:ListProvisionedModelThroughputs",), None),
        IamGrant(("bedrock:GetProvisionedModelThroughput",), "provisioned-model/*"),
    ),
    enabled_by_default=False,
)
