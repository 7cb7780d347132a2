"""Test hygiene for Powertools: its Logger/Metrics read these at import time of the handler."""

import os

os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "job-auditor")
os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "JobAuditor")
os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
