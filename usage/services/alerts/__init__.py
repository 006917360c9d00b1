"""Alerts (docs/alerts.md): channels (validation and sending), delivery (records, retries), evaluation."""
