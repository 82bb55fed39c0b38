"""CPU placement: environments on the server's CPU while their invocations are short,
spread over every CPU (all their threads) once one runs long, back after short runs."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness import EngineHarness
from nimbus.engine.placing import PIN_AFTER_TICKS, TICK_S
from nimbus.sandbox.placement import REPIN_AFTER, CpuPlacement, allowed_cpus, set_affinity, threads

CPUS = sorted(os.sched_getaffinity(0))
pytestmark = pytest.mark.skipif(len(CPUS) < 2, reason="placement needs two CPUs")

REPORTER = """
import os, threading, time

def handler(event, context):
    seen = {}
    def helper():  # a thread the function starts: placement must move it too
        time.sleep(event.get("sleep", 0))
        seen["thread"] = sorted(os.sched_getaffinity(0))
    worker = threading.Thread(target=helper)
    worker.start()
    time.sleep(event.get("sleep", 0))
    worker.join()
    return {"main": sorted(os.sched_getaffinity(0)), "thread": seen["thread"]}
"""

SLOW_INIT = """
import os, time
time.sleep(0.2)

def handler(event, context):
    return sorted(os.sched_getaffinity(0))
"""


@pytest.fixture
def placement() -> CpuPlacement:
    found = CpuPlacement.choose("pinned")
    assert found is not None
    return found


@pytest.fixture
def placed(tmp_path: Path, placement: CpuPlacement) -> Iterator[EngineHarness]:
    harness = EngineHarness(tmp_path / "e", placement=placement)
    yield harness
    harness.close()


def call(harness: EngineHarness, spec: object, **event: float) -> dict[str, list[int]]:
    result = harness.invoke(spec, json.dumps(event).encode())  # type: ignore[arg-type]
    assert result.function_error is None, result.payload
    answer: dict[str, list[int]] = json.loads(result.payload)
    return answer


def test_choose() -> None:
    chosen = CpuPlacement.choose("pinned", [0, 1, 2, 3])
    assert chosen == CpuPlacement(frozenset({3}), frozenset({0, 1, 2, 3}))
    assert CpuPlacement.choose("pinned", [5]) is None  # one CPU: nothing to place
    assert CpuPlacement.choose("spread", [0, 1]) is None
    with pytest.raises(ValueError, match="must be one of auto, spread, pinned: 'everywhere'"):
        CpuPlacement.choose("everywhere", [0, 1])
    auto = CpuPlacement.choose("auto", [0, 1])
    assert auto == CpuPlacement(frozenset({1}), frozenset({0, 1}), adaptive=True)
    assert auto.describe().startswith("while invocations come one at a time, server and")
    assert "CPU 3" in chosen.describe() and "CPUs 0-3" in chosen.describe()


def test_short_runs_stay_long_runs_spread_then_come_back(
    placed: EngineHarness, placement: CpuPlacement
) -> None:
    hot, spread = sorted(placement.hot), sorted(placement.spread)
    spec = placed.deploy(REPORTER)

    def until_hot() -> int:
        """Short calls until the environment is back on the hot CPU; how many it took
        (a run this busy machine makes longer than 5 ms counts as long and starts over)."""
        for calls in range(1, REPIN_AFTER + 8):
            if call(placed, spec) == {"main": hot, "thread": hot}:
                return calls
        raise AssertionError("never re-pinned")

    until_hot()  # a cold start may already count as long
    # 50 ms is long: the environment (its runtime thread and the function's own thread)
    # is spread over every CPU while the invocation still runs.
    assert call(placed, spec, sleep=0.05) == {"main": spread, "thread": spread}
    assert call(placed, spec)["main"] == spread  # released until enough short runs
    assert until_hot() >= REPIN_AFTER


def test_a_slow_init_is_spread(placed: EngineHarness, placement: CpuPlacement) -> None:
    spec = placed.deploy(SLOW_INIT)
    result = placed.invoke(spec)
    assert json.loads(result.payload) == sorted(placement.spread)


def test_without_placement_nothing_is_pinned(make_engine: object) -> None:
    harness = make_engine()  # type: ignore[operator]
    spec = harness.deploy(REPORTER)
    assert call(harness, spec)["main"] == sorted(os.sched_getaffinity(0))


def test_allowed_cpus_reads_proc() -> None:
    listed = allowed_cpus(os.getpid())
    assert listed and all(part.replace("-", "").isdigit() for part in listed.split(","))


def test_auto_pins_one_at_a_time_and_spreads_when_invocations_overlap(tmp_path: Path) -> None:
    auto = CpuPlacement.choose("auto")
    assert auto is not None and auto.adaptive
    hot, spread = sorted(auto.hot), sorted(auto.spread)
    harness = EngineHarness(tmp_path / "e", placement=auto)
    try:
        switch = harness.engine.placing.switch
        assert switch is not None
        spec = harness.deploy(REPORTER)
        assert call(harness, spec)["main"] == spread  # it starts spread
        assert allowed_cpus(os.getpid()) == f"{spread[0]}-{spread[-1]}"

        def until(wanted: list[int]) -> None:
            """One invocation at a time until the environment is where it should be."""
            for _ in range(20 * PIN_AFTER_TICKS):  # ~20x the calm time it needs
                if call(harness, spec) == {"main": wanted, "thread": wanted}:
                    return
                time.sleep(TICK_S / 2)
            raise AssertionError(f"never placed on {wanted}")

        until(hot)  # invocations one at a time: the server's threads and the environment
        assert allowed_cpus(os.getpid()) == str(hot[-1])
        # A second invocation in flight spreads everything at once, the first one too.
        both = harness.invoke_many(spec, [{"sleep": 0.1}, {"sleep": 0.1}], concurrency=2)
        for result in both:
            assert json.loads(result.payload) == {"main": spread, "thread": spread}
        assert allowed_cpus(os.getpid()) == f"{spread[0]}-{spread[-1]}"
        until(hot)  # and back, once they come one at a time again
        time.sleep(4 * TICK_S)  # idle: everything spread again
        assert allowed_cpus(os.getpid()) == f"{spread[0]}-{spread[-1]}"
        assert switch.switches >= 4
    finally:
        harness.close()
        set_affinity(threads(os.getpid()), frozenset(CPUS))  # this test process' threads
