"""Event sources: triggers that turn outside events into invocations."""
