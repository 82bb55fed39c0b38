"""Host-side sandbox policy: what an environment may see and use (cgroups, mounts, uids)."""
