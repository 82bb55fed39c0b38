"""The async event queue (real SQLite file): what is committed is handed out exactly once,
from memory or read back, including events from before a restart and retries."""

from __future__ import annotations

import asyncio
import random
import time
from pathlib import Path

from nimbus.store.events import AsyncEvent, EventQueue
from nimbus.store.sqlite import Database


def _event(i: int, now: float) -> AsyncEvent:
    return AsyncEvent(f"ev-{i:05d}", "000000000000", "fn", None, b'{"i": %d}' % i, now, 0, now)


async def _dispatch_all(queue: EventQueue, expected: int, seen: list[str]) -> None:
    """A dispatcher: takes what is due, 'runs' it, marks it done, until `expected` ran."""
    running: set[str] = set()
    while len(seen) < expected:
        for event in await queue.due(time.time(), 16, set(running)):
            seen.append(event.id)
            running.add(event.id)
        await asyncio.sleep(0)
        finished = [i for i in running if random.random() < 0.7]
        running.difference_update(finished)
        queue.done(finished)


def test_every_event_is_handed_out_once_while_accepting(tmp_path: Path) -> None:
    async def scenario() -> None:
        db = await Database.open(tmp_path / "nimbus.db")
        queue = EventQueue(db, reread_s=0.0)  # read the table back on every call: races
        await queue.start()
        seen: list[str] = []
        now = time.time()
        dispatcher = asyncio.create_task(_dispatch_all(queue, 600, seen))
        for wave in range(30):  # accepted in waves, while the dispatcher runs
            await asyncio.gather(*(queue.enqueue(_event(wave * 20 + i, now)) for i in range(20)))
        await asyncio.wait_for(dispatcher, 30)
        assert sorted(seen) == [f"ev-{i:05d}" for i in range(600)]  # none twice, none lost
        await queue.close()
        await db.close()

    asyncio.run(scenario())


def test_restart_and_retries_come_back_from_the_table(tmp_path: Path) -> None:
    async def scenario() -> None:
        now = time.time()
        db = await Database.open(tmp_path / "nimbus.db")
        first = EventQueue(db)
        await first.start()
        for i in range(5):
            await first.enqueue(_event(i, now))
        await first.close()  # a restart: nothing in memory any more
        queue = EventQueue(db)
        await queue.start()
        events = await queue.due(time.time(), 10, set())
        assert sorted(e.id for e in events) == [f"ev-{i:05d}" for i in range(5)]
        retried = events[0]
        retried.attempts = 1
        await queue.retry_at(retried, time.time() + 0.2, "Unhandled")
        queue.done([e.id for e in events[1:]])
        await queue.enqueue(_event(99, time.time()))  # fresh work, served from memory
        assert [e.id for e in await queue.due(time.time(), 10, {retried.id})] == ["ev-00099"]
        queue.done(["ev-00099"])
        await asyncio.sleep(0.7)  # the retry comes due; the re-read interval has passed
        again = await queue.due(time.time(), 10, set())
        assert [(e.id, e.attempts) for e in again] == [(retried.id, 1)]
        await queue.close()
        await db.close()

    asyncio.run(scenario())


def test_event_read_back_while_its_commit_lands_is_handed_out_once(tmp_path: Path) -> None:
    """due() reads the table while a batch is being committed: the batch's rows come back
    from SQLite and its events land in memory too; each must still be handed out once."""

    async def scenario() -> None:
        db = await Database.open(tmp_path / "nimbus.db")
        queue = EventQueue(db)
        await queue.start()
        accepted = asyncio.ensure_future(queue.enqueue(_event(1, time.time())))
        for _ in range(3):  # the enqueue, then the flusher: its commit is on the writer thread
            await asyncio.sleep(0)
        handed = [e.id for e in await queue.due(time.time(), 10, set())]  # read after it
        await accepted
        assert handed == ["ev-00001"]
        queue.done(handed)  # it ran at once, and its row is deleted by the next commit
        await queue.enqueue(_event(2, time.time()))
        for _ in range(2):  # what was handed out and not done is running: excluded
            handed += [e.id for e in await queue.due(time.time(), 10, set(handed[1:]))]
        assert handed == ["ev-00001", "ev-00002"]
        await queue.close()
        await db.close()

    asyncio.run(scenario())
