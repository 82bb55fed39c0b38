"""ListObjects(V2) and ListObjectVersions over the object store: prefix, delimiter with
CommonPrefixes (skipping whole rolled-up prefixes instead of reading every key under them),
markers, and page sizes."""

from __future__ import annotations

from dataclasses import dataclass, field

from nimbus.store.objects import ObjectStore, ObjectVersion

_BATCH = 1000


@dataclass
class Listing:
    entries: list[ObjectVersion] = field(default_factory=list)
    prefixes: list[str] = field(default_factory=list)
    truncated: bool = False
    last: str | None = None  # the last key or common prefix returned
    last_is_prefix: bool = False
    last_version: ObjectVersion | None = None  # versions: where the next page starts

    @property
    def count(self) -> int:
        return len(self.entries) + len(self.prefixes)


def rollup(key: str, prefix: str, delimiter: str) -> str | None:
    """The common prefix `key` rolls up into, if any."""
    if not delimiter:
        return None
    at = key.find(delimiter, len(prefix))
    return key[: at + len(delimiter)] if at >= 0 else None


def past(common: str) -> str | None:
    """The smallest string above every key that starts with `common`."""
    last = ord(common[-1])
    return common[:-1] + chr(last + 1) if last < 0x10FFFF else None


async def list_keys(
    store: ObjectStore,
    bucket: str,
    prefix: str,
    delimiter: str,
    after: str | None,
    max_keys: int,
    skip_prefix: bool = False,
) -> Listing:
    """Current objects after `after` (skip_prefix: `after` is a common prefix already
    listed: skip every key under it)."""
    out = Listing()
    start, inclusive = after, False
    if after is not None and skip_prefix and past(after) is not None:
        start, inclusive = past(after), True
    while True:
        batch = await store.list_latest(bucket, prefix, start, _BATCH, inclusive)
        jumped = False
        for version in batch:
            common = rollup(version.key, prefix, delimiter)
            if common is not None and common == out.last and out.last_is_prefix:
                continue  # only when `past` was impossible
            if out.count >= max_keys:
                out.truncated = True
                return out
            if common is None:
                out.entries.append(version)
                out.last, out.last_is_prefix = version.key, False
                continue
            out.prefixes.append(common)
            out.last, out.last_is_prefix = common, True
            beyond = past(common)
            if beyond is not None:
                start, inclusive, jumped = beyond, True, True
                break
        if not jumped:
            if len(batch) < _BATCH:
                return out
            start, inclusive = batch[-1].key, False


async def list_versions(
    store: ObjectStore,
    bucket: str,
    prefix: str,
    delimiter: str,
    key_marker: str | None,
    after_seq: int | None,
    max_keys: int,
) -> Listing:
    """Versions and delete markers, key order then newest first, after the markers."""
    out = Listing()
    key, seq, inclusive = key_marker, after_seq, False
    if key_marker is not None and after_seq is None:
        common = rollup(key_marker, prefix, delimiter)
        if common is not None and common == key_marker and past(common) is not None:
            key, inclusive = past(common), True
    while True:
        batch = await store.list_versions(bucket, prefix, key, seq, _BATCH, inclusive)
        jumped = False
        for version in batch:
            common = rollup(version.key, prefix, delimiter)
            if out.count >= max_keys:
                out.truncated = True
                return out
            if common is None:
                out.entries.append(version)
                out.last, out.last_is_prefix, out.last_version = version.key, False, version
                continue
            if out.prefixes and out.prefixes[-1] == common:
                continue
            out.prefixes.append(common)
            out.last, out.last_is_prefix, out.last_version = common, True, None
            beyond = past(common)
            if beyond is not None:
                key, seq, inclusive, jumped = beyond, None, True, True
                break
        if not jumped:
            if len(batch) < _BATCH:
                return out
            key, seq, inclusive = batch[-1].key, batch[-1].seq, False
