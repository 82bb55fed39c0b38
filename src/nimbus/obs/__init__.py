"""Observability: log lines, log storage, metering records."""
