"""Persistent state: the state store's tables and the code store (deployment packages)."""
