"""CloudWatch Logs, the reading half, over the node's log store."""

from __future__ import annotations

import base64
from typing import Any

from nimbus.errors import ResourceNotFound
from nimbus.obs.logs import LogStore


def _token(offset: int) -> str:
    return base64.urlsafe_b64encode(str(offset).encode()).decode()


def _offset(token: str | None) -> int:
    if not token:
        return 0
    try:
        return int(base64.urlsafe_b64decode(token.encode()))
    except ValueError:
        return 0


class LogsService:
    def __init__(self, store: LogStore, region: str) -> None:
        self.store = store
        self.region = region

    def _group(self, account: str, name: str) -> str:
        if not self.store.streams(name):
            raise ResourceNotFound("The specified log group does not exist.")
        return name

    async def describe_log_groups(self, account: str, p: dict[str, Any]) -> dict[str, Any]:
        prefix = p.get("logGroupNamePrefix", "")
        groups = [g for g in self.store.groups() if g.startswith(prefix)]
        return {
            "logGroups": [
                {"logGroupName": g, "arn": self._arn(account, g) + ":*", "storedBytes": 0}
                for g in groups
            ]
        }

    def _arn(self, account: str, group: str) -> str:
        return f"arn:aws:logs:{self.region}:{account}:log-group:{group}"

    async def describe_log_streams(self, account: str, p: dict[str, Any]) -> dict[str, Any]:
        group = self._group(account, p["logGroupName"])
        streams = []
        for name, path in self.store.streams(group):
            stat = path.stat()
            streams.append(
                {
                    "logStreamName": name,
                    "creationTime": int(stat.st_ctime * 1000),
                    "lastIngestionTime": int(stat.st_mtime * 1000),
                    "lastEventTimestamp": int(stat.st_mtime * 1000),
                    "storedBytes": stat.st_size,
                    "arn": f"{self._arn(account, group)}:log-stream:{name}",
                }
            )
        if p.get("descending"):
            streams.reverse()
        return {"logStreams": streams[: p.get("limit", 50)]}

    async def get_log_events(self, account: str, p: dict[str, Any]) -> dict[str, Any]:
        group = self._group(account, p["logGroupName"])
        events = self.store.events(
            group, p.get("startTime", 0), p.get("endTime"), {p["logStreamName"]}
        )
        start = _offset(p.get("nextToken"))
        limit = p.get("limit", 10_000)
        page = events[start : start + limit]
        return {
            "events": [{"timestamp": t, "message": m, "ingestionTime": t} for t, _, m in page],
            "nextForwardToken": "f/" + _token(start + len(page)),
            "nextBackwardToken": "b/" + _token(start),
        }

    async def filter_log_events(self, account: str, p: dict[str, Any]) -> dict[str, Any]:
        group = self._group(account, p["logGroupName"])
        names = set(p.get("logStreamNames") or ()) or None
        events = self.store.events(group, p.get("startTime", 0), p.get("endTime"), names)
        pattern = (p.get("filterPattern") or "").strip().strip('"')
        if pattern:
            events = [e for e in events if pattern in e[2]]
        start = _offset(p.get("nextToken"))
        limit = p.get("limit", 10_000)
        page = events[start : start + limit]
        out: dict[str, Any] = {
            "events": [
                {
                    "logStreamName": s,
                    "timestamp": t,
                    "message": m,
                    "ingestionTime": t,
                    "eventId": f"{t}{i:08d}",
                }
                for i, (t, s, m) in enumerate(page, start)
            ],
            "searchedLogStreams": [],
        }
        if start + len(page) < len(events):
            out["nextToken"] = _token(start + len(page))
        return out
