"""Slack incoming-webhook forwarder: renders job-auditor transitions as Block Kit and posts them."""
