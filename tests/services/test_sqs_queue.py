"""The in-memory queue: states and counters, timers, FIFO groups, receipt handles."""

from __future__ import annotations

import uuid

from nimbus.services.sqs_attrs import DEFAULTS, FIFO_DEFAULTS
from nimbus.services.sqs_queue import (
    DELAYED,
    INFLIGHT,
    VISIBLE,
    Message,
    Queue,
    receipt_message_id,
)


def queue(fifo: bool = False) -> Queue:
    attributes = {**DEFAULTS, **(FIFO_DEFAULTS if fifo else {})}
    name = "q.fifo" if fifo else "q"
    return Queue("qid", "000000000000", name, "arn", attributes, {}, 0.0, 0.0)


def message(q: Queue, at: float, delay: float = 0.0, group: str | None = None) -> Message:
    m = Message(str(uuid.uuid4()), "b", "md5", None, None, at, "s", q.next_seq, at + delay, group)
    q.next_seq += 1
    q.add(m, at)
    return m


def test_states_counts_and_timers() -> None:
    q = queue()
    now = 1000.0
    visible = message(q, now)
    delayed = message(q, now, delay=5)
    assert (visible.state, delayed.state) == (VISIBLE, DELAYED)
    assert q.counts[:3] == [1, 0, 1]
    taken = q.take(10, 30, now)
    assert taken == [visible] and visible.state == INFLIGHT and visible.receive_count == 1
    assert q.counts[:3] == [0, 1, 1]
    assert q.take(10, 30, now + 4) == []
    assert q.take(10, 30, now + 5) == [delayed]
    assert q.take(10, 30, now + 29) == []
    again = q.take(10, 30, now + 30.5)  # visibility of the first one ran out
    assert again == [visible] and visible.receive_count == 2
    q.remove(visible)
    q.remove(delayed)
    assert q.counts[:3] == [0, 0, 0] and not q.messages


def test_receipt_handles() -> None:
    q = queue()
    m = message(q, 0.0)
    [taken] = q.take(1, 30, 0.0)
    assert taken.receipt is not None
    assert receipt_message_id(taken.receipt) == m.id
    assert receipt_message_id("garbage") is None
    assert receipt_message_id("") is None


def test_retention_drops_old_messages() -> None:
    q = queue()
    message(q, 0.0)
    assert q.take(10, 30, 345_600.0) == []
    assert not q.messages


def test_fifo_groups_and_redrive_callback() -> None:
    q = queue(fifo=True)
    a1, b1, a2 = message(q, 0, group="a"), message(q, 0, group="b"), message(q, 0, group="a")
    assert q.take(10, 30, 0) == [a1, a2, b1]
    assert q.take(10, 30, 0) == []  # both groups in flight
    q.change_visibility(a1, 0, 1)  # a1 back (a2 still in flight): group a stays locked
    assert q.take(10, 30, 1) == []
    q.remove(a2)
    assert q.take(10, 30, 1) == [a1]
    moved: list[Message] = []

    def redrive(m: Message) -> bool:
        q.remove(m)
        moved.append(m)
        return True

    q.change_visibility(a1, 0, 2)
    assert q.take(10, 30, 2, redrive, max_receives=2) == []
    assert moved == [a1]
