"""What the Slack forwarder shares with its construct (infra/slack_webhook.py). Standard library only."""

from __future__ import annotations

# The idempotency table's name, in the forwarder's environment.
IDEMPOTENCY_TABLE_ENV = "IDEMPOTENCY_TABLE_NAME"
# Its partition key and TTL attribute, as Powertools Idempotency's DynamoDBPersistenceLayer writes them.
IDEMPOTENCY_KEY_ATTRIBUTE = "id"
IDEMPOTENCY_EXPIRY_ATTRIBUTE = "expiration"
