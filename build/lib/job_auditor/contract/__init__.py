"""What the CDK app and the Lambda functions share: the job-kind registry (`contract.kinds`), the
environment variables' names, forms and parsers (`contract.environment`), the state table's key schema
(`contract.state_schema`) and the Slack forwarder's environment (`contract.slack_forwarder`).

Standard library only: the CDK app imports it without the Lambda's dependencies, and the Lambda ships
it in its asset (tests/unit/test_contract.py checks both)."""
