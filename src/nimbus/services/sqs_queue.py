"""One queue's hot state, in memory: visible, in-flight and delayed messages, receipt
handles, FIFO message groups and deduplication. No I/O: the service persists what
changes through the store.

Messages change state VISIBLE -> INFLIGHT -> (VISIBLE | DELETED) and DELAYED -> VISIBLE.
Timed transitions (end of a delay or of a visibility timeout) sit in one heap and are
applied lazily by `advance`, on every receive and every attribute read.
"""

from __future__ import annotations

import asyncio
import base64
import heapq
import itertools
import os
import random
from collections import deque
from collections.abc import Callable
from typing import Any

VISIBLE, INFLIGHT, DELAYED, DELETED = 0, 1, 2, 3
DEDUP_WINDOW_S = 300.0


class Message:
    __slots__ = (
        "attributes", "body", "dedup_id", "due", "first_receive", "gen", "group_id", "id",
        "key", "md5_attributes", "md5_body", "receipt", "receive_count", "sender", "sent",
        "seq", "state", "system",
    )  # fmt: skip

    def __init__(
        self,
        id: str,
        body: str,
        md5_body: str,
        attributes: dict[str, dict[str, Any]] | None,
        md5_attributes: str | None,
        sent: float,
        sender: str,
        seq: int,
        visible_at: float,
        group_id: str | None = None,
        dedup_id: str | None = None,
        receive_count: int = 0,
        first_receive: float | None = None,
        system: dict[str, str] | None = None,
    ) -> None:
        self.id = id
        self.body = body
        self.md5_body = md5_body
        self.attributes = attributes
        self.md5_attributes = md5_attributes
        self.sent = sent
        self.sender = sender
        self.seq = seq
        self.group_id = group_id
        self.dedup_id = dedup_id
        self.receive_count = receive_count
        self.first_receive = first_receive
        self.system = system  # AWSTraceHeader, DeadLetterQueueSourceArn
        self.state = DELETED  # until added to a queue
        self.gen = 0  # bumped on every state change: stale timers are ignored
        self.due = visible_at
        self.receipt: str | None = None
        self.key = 0  # its row in the store


def receipt_message_id(handle: str) -> str | None:
    """The message id inside a receipt handle; None if the handle is malformed."""
    try:
        raw = base64.urlsafe_b64decode(handle.encode("ascii") + b"=" * (-len(handle) % 4))
        message_id, _, nonce = raw.decode("ascii").split(" ")
    except (ValueError, UnicodeError):
        return None
    return message_id if len(message_id) == 36 and nonce else None


def _new_receipt(message: Message, rng: random.Random) -> str:
    raw = f"{message.id} {message.receive_count} {rng.getrandbits(192):048x}"
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


class Queue:
    def __init__(
        self,
        qid: str,
        account: str,
        name: str,
        arn: str,
        attributes: dict[str, str],
        tags: dict[str, str],
        created: float,
        modified: float,
    ) -> None:
        self.qid = qid
        self.account = account
        self.name = name
        self.arn = arn
        self.attributes = attributes
        self.tags = tags
        self.created = created
        self.modified = modified
        self.fifo = name.endswith(".fifo")
        self.messages: dict[str, Message] = {}
        self.visible: deque[Message] = deque()  # standard queues
        self.groups: dict[str, deque[Message]] = {}  # FIFO: every live message, in order
        self.group_inflight: dict[str, int] = {}
        self.counts = [0, 0, 0, 0]  # by state
        self._timers: list[tuple[float, int, int, Message]] = []
        self._tiebreak = itertools.count()
        self.next_seq = 1
        self.dedup: dict[tuple[str, str], tuple[float, Message]] = {}
        self.changed = asyncio.Event()  # something became visible: wakes long polls
        self.last_purge = 0.0
        self.attempts: dict[str, tuple[float, list[Message]]] = {}  # ReceiveRequestAttemptId
        self.deleted = False
        self.rng = random.Random(int.from_bytes(os.urandom(32)))  # ids and receipt handles

    # attributes as numbers ---------------------------------------------------------
    def int_attr(self, name: str) -> int:
        return int(self.attributes[name])

    def _set(self, message: Message, state: int) -> None:
        self.counts[message.state] -= 1 if message.state != DELETED else 0
        message.state = state
        if state != DELETED:
            self.counts[state] += 1
        message.gen += 1

    def _timer(self, message: Message) -> None:
        heapq.heappush(self._timers, (message.due, next(self._tiebreak), message.gen, message))

    # adding --------------------------------------------------------------------------
    def add(self, message: Message, now: float) -> None:
        self.messages[message.id] = message
        if self.fifo:
            assert message.group_id is not None
            self.groups.setdefault(message.group_id, deque()).append(message)
        if message.due > now:
            self._set(message, DELAYED)
            self._timer(message)
        else:
            self._make_visible(message)

    def _make_visible(self, message: Message) -> None:
        was_inflight = message.state == INFLIGHT
        self._set(message, VISIBLE)
        message.receipt = None
        if self.fifo:
            if was_inflight and message.group_id is not None:
                self._group_done(message.group_id)
        else:
            self.visible.append(message)
        self.changed.set()

    def _group_done(self, group: str) -> None:
        left = self.group_inflight.get(group, 0) - 1
        if left > 0:
            self.group_inflight[group] = left
        else:
            self.group_inflight.pop(group, None)

    def advance(self, now: float) -> None:
        timers = self._timers
        while timers and timers[0][0] <= now:
            _, _, gen, message = heapq.heappop(timers)
            if gen == message.gen and message.state in (DELAYED, INFLIGHT):
                self._make_visible(message)

    def next_due(self) -> float | None:
        return self._timers[0][0] if self._timers else None

    # receiving ---------------------------------------------------------------------
    def take(
        self,
        limit: int,
        visibility: float,
        now: float,
        redrive: Callable[[Message], bool] | None = None,
        max_receives: int = 0,
    ) -> list[Message]:
        """Up to `limit` visible messages, now in flight for `visibility` seconds. A
        message already received `max_receives` times goes to `redrive` instead (which
        returns False when it could not move it)."""
        self.advance(now)
        retention = self.int_attr("MessageRetentionPeriod")
        taken: list[Message] = []
        for message in self._candidates(limit):
            if message.sent + retention <= now:
                self.remove(message)
                continue
            over = redrive is not None and 0 < max_receives <= message.receive_count
            if over and redrive is not None and redrive(message):
                continue
            self._receive(message, visibility, now)
            taken.append(message)
            if len(taken) >= limit:
                break
        return taken

    def _candidates(self, limit: int) -> Any:
        if not self.fifo:
            visible = self.visible
            while visible:
                message = visible.popleft()
                if message.state == VISIBLE:
                    yield message
            return
        # FIFO: from each group without messages in flight, its visible head run, in order.
        for group in list(self.groups):
            if self.group_inflight.get(group):
                continue
            members = self.groups.get(group)
            while members and members[0].state == DELETED:
                members.popleft()
            if not members:
                self.groups.pop(group, None)
                continue
            run = list(itertools.takewhile(lambda m: m.state == VISIBLE, members))
            yield from run

    def _receive(self, message: Message, visibility: float, now: float) -> None:
        self._set(message, INFLIGHT)
        message.receive_count += 1
        if message.first_receive is None:
            message.first_receive = now
        message.receipt = _new_receipt(message, self.rng)
        message.due = now + visibility
        if self.fifo and message.group_id is not None:
            self.group_inflight[message.group_id] = self.group_inflight.get(message.group_id, 0) + 1
        self._timer(message)

    # deleting and visibility -------------------------------------------------------
    def remove(self, message: Message) -> None:
        """Gone for good (deleted, expired, purged or moved to a dead-letter queue)."""
        if message.state == DELETED:
            return
        if message.state == INFLIGHT and self.fifo and message.group_id is not None:
            self._group_done(message.group_id)
        self._set(message, DELETED)
        message.receipt = None
        self.messages.pop(message.id, None)

    def change_visibility(self, message: Message, timeout: float, now: float) -> None:
        message.due = now + timeout
        message.gen += 1
        if timeout <= 0:
            self._make_visible(message)
        else:
            self._timer(message)

    def purge(self) -> list[int]:
        """The row keys of every message dropped."""
        keys = [m.key for m in self.messages.values()]
        for message in list(self.messages.values()):
            self.remove(message)
        self.visible.clear()
        self.groups.clear()
        self.group_inflight.clear()
        self._timers.clear()
        return keys

    # FIFO deduplication -------------------------------------------------------------
    def dedup_key(self, group_id: str, dedup_id: str) -> tuple[str, str]:
        scoped = self.attributes.get("DeduplicationScope") == "messageGroup"
        return (group_id if scoped else "", dedup_id)

    def duplicate_of(self, key: tuple[str, str], now: float) -> Message | None:
        found = self.dedup.get(key)
        if found is None:
            return None
        if found[0] <= now:
            del self.dedup[key]
            return None
        return found[1]

    def remember(self, key: tuple[str, str], message: Message, sent: float) -> None:
        self.dedup[key] = (sent + DEDUP_WINDOW_S, message)
        if len(self.dedup) > 1024 and len(self.dedup) % 1024 == 0:  # drop expired ones
            self.dedup = {k: v for k, v in self.dedup.items() if v[0] > sent}
