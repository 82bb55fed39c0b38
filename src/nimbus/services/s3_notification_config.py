"""A bucket's notification configuration: validated as S3 does, matched against changes.

Pure logic (no I/O). The shape in and out is botocore's `NotificationConfiguration`
(TopicConfigurations / QueueConfigurations / LambdaFunctionConfigurations, each with Id,
the destination ARN, Events and Filter.Key.FilterRules).
"""

from __future__ import annotations

import base64
import uuid
from dataclasses import dataclass
from typing import Any

from nimbus.errors import InvalidArgument, MalformedXML

# kind -> (list member, ARN member, ARN prefix, what S3 calls it in errors)
KINDS: dict[str, tuple[str, str, str, str]] = {
    "topic": ("TopicConfigurations", "TopicArn", "arn:aws:sns:", "topic"),
    "queue": ("QueueConfigurations", "QueueArn", "arn:aws:sqs:", "queue"),
    "lambda": ("LambdaFunctionConfigurations", "LambdaFunctionArn", "arn:aws:lambda:", "Lambda"),
}
# Every event type S3 accepts in a configuration (botocore's Event enum). Nimbus emits the
# ObjectCreated / ObjectRemoved ones; the others are accepted and simply never happen.
EVENT_TYPES = frozenset(
    [
        "s3:ReducedRedundancyLostObject",
        "s3:ObjectCreated:*",
        "s3:ObjectCreated:Put",
        "s3:ObjectCreated:Post",
        "s3:ObjectCreated:Copy",
        "s3:ObjectCreated:CompleteMultipartUpload",
        "s3:ObjectRemoved:*",
        "s3:ObjectRemoved:Delete",
        "s3:ObjectRemoved:DeleteMarkerCreated",
        "s3:ObjectRestore:*",
        "s3:ObjectRestore:Post",
        "s3:ObjectRestore:Completed",
        "s3:Replication:*",
        "s3:Replication:OperationFailedReplication",
        "s3:Replication:OperationNotTracked",
        "s3:Replication:OperationMissedThreshold",
        "s3:Replication:OperationReplicatedAfterThreshold",
        "s3:ObjectRestore:Delete",
        "s3:LifecycleTransition",
        "s3:IntelligentTiering",
        "s3:ObjectAcl:Put",
        "s3:LifecycleExpiration:*",
        "s3:LifecycleExpiration:Delete",
        "s3:LifecycleExpiration:DeleteMarkerCreated",
        "s3:ObjectTagging:*",
        "s3:ObjectTagging:Put",
        "s3:ObjectTagging:Delete",
        "s3:ObjectAnnotation:*",
        "s3:ObjectAnnotation:Put",
        "s3:ObjectAnnotation:Delete",
        "s3:ObjectRetention:Put",
    ]
)
MAX_FILTER_VALUE = 1024


@dataclass(frozen=True)
class Target:
    """One configuration entry: where events of these types under this filter go."""

    kind: str  # topic | queue | lambda
    id: str
    arn: str
    events: tuple[str, ...]  # as configured, e.g. "s3:ObjectCreated:*"
    prefix: str | None
    suffix: str | None
    rules: tuple[tuple[str, str], ...]  # (Prefix|Suffix, value) as given, for Get

    def wants(self, event_name: str, key: str) -> bool:
        """Whether a change (`ObjectCreated:Put`, key as stored) goes to this target."""
        name = "s3:" + event_name
        if not any(_covers(event, name) for event in self.events):
            return False
        if self.prefix and not key.startswith(self.prefix):
            return False
        return not (self.suffix and not key.endswith(self.suffix))

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"Id": self.id, KINDS[self.kind][1]: self.arn}
        out["Events"] = list(self.events)
        if self.rules:
            rules = [{"Name": name, "Value": value} for name, value in self.rules]
            out["Filter"] = {"Key": {"FilterRules": rules}}
        return out


def _invalid(message: str, name: str, value: str) -> InvalidArgument:
    return InvalidArgument(message, ArgumentName=name, ArgumentValue=value)


def _covers(configured: str, event: str) -> bool:
    if configured.endswith(":*"):
        return event.startswith(configured[:-1])
    return configured == event


def _events_overlap(a: tuple[str, ...], b: tuple[str, ...]) -> bool:
    return any(_covers(x, y) or _covers(y, x) for x in a for y in b)


def _affix_overlap(a: str | None, b: str | None, *, suffix: bool) -> bool:
    if not a or not b:
        return True  # no filter matches everything
    if suffix:
        return a.endswith(b) or b.endswith(a)
    return a.startswith(b) or b.startswith(a)


def new_id() -> str:
    """S3's generated ids: base64 of a random UUID's text."""
    return base64.b64encode(str(uuid.uuid4()).encode()).decode()


def _target(kind: str, entry: dict[str, Any]) -> Target:
    _, arn_member, arn_prefix, _ = KINDS[kind]
    arn = entry.get(arn_member)
    events = entry.get("Events") or []
    if not arn or not events:
        raise MalformedXML()
    if not arn.startswith(arn_prefix) or len(arn.split(":", 6)) < 6:
        raise _invalid("The ARN could not be parsed", arn_member, arn)
    for event in events:
        if event not in EVENT_TYPES:
            raise _invalid("The event is not supported for notifications", "Event", event)
    prefix: str | None = None
    suffix: str | None = None
    rules: list[tuple[str, str]] = []
    for rule in ((entry.get("Filter") or {}).get("Key") or {}).get("FilterRules") or []:
        name, value = rule.get("Name"), rule.get("Value")
        if name is None or value is None:
            raise MalformedXML()
        lowered = name.lower()
        if lowered not in ("prefix", "suffix"):
            raise _invalid(
                "filter rule name must be either prefix or suffix", "FilterRule.Name", name
            )
        if len(value.encode()) > MAX_FILTER_VALUE:
            raise _invalid(
                "Size of filter rule value cannot exceed 1024 bytes in UTF-8 representation",
                "FilterRule.Value",
                value,
            )
        if (prefix if lowered == "prefix" else suffix) is not None:
            raise _invalid(
                f"Cannot specify more than one {lowered} rule in a filter.",
                "FilterRule.Name",
                name,
            )
        if lowered == "prefix":
            prefix = value
        else:
            suffix = value
        rules.append((lowered.capitalize(), value))  # S3 answers "Prefix" / "Suffix"
    return Target(
        kind, entry.get("Id") or new_id(), arn, tuple(events), prefix, suffix, tuple(rules)
    )


def parse(config: dict[str, Any]) -> list[Target]:
    """Validate a NotificationConfiguration; its targets, ids filled in. An empty
    configuration (no entries) turns notifications off."""
    targets = [
        _target(kind, entry)
        for kind, (member, *_) in KINDS.items()
        for entry in config.get(member) or []
    ]
    ids: set[str] = set()
    for target in targets:
        if target.id in ids:
            raise _invalid("Configuration Id must be unique", "Id", target.id)
        ids.add(target.id)
    for i, a in enumerate(targets):
        for b in targets[i + 1 :]:
            if (
                _events_overlap(a.events, b.events)
                and _affix_overlap(a.prefix, b.prefix, suffix=False)
                and _affix_overlap(a.suffix, b.suffix, suffix=True)
            ):
                raise _invalid(
                    "Configurations overlap. Configurations on the same bucket cannot share "
                    "a common event type.",
                    "Event",
                    ", ".join(sorted(set(a.events) | set(b.events))),
                )
    return targets


def as_config(targets: list[Target]) -> dict[str, Any]:
    """The stored targets in GetBucketNotificationConfiguration's shape."""
    out: dict[str, Any] = {}
    for kind, (member, *_) in KINDS.items():
        entries = [t.as_dict() for t in targets if t.kind == kind]
        if entries:
            out[member] = entries
    return out


def from_stored(rows: list[dict[str, Any]]) -> list[Target]:
    return [
        Target(
            r["kind"],
            r["id"],
            r["arn"],
            tuple(r["events"]),
            r.get("prefix"),
            r.get("suffix"),
            tuple((n, v) for n, v in r.get("rules") or []),
        )
        for r in rows
    ]


def to_stored(targets: list[Target]) -> list[dict[str, Any]]:
    return [
        {
            "kind": t.kind,
            "id": t.id,
            "arn": t.arn,
            "events": list(t.events),
            "prefix": t.prefix,
            "suffix": t.suffix,
            "rules": [list(rule) for rule in t.rules],
        }
        for t in targets
    ]
