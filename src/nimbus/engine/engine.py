"""The Invoker: concurrency limits, warm reuse, cold starts, timeouts, logs and metering."""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import time
import uuid
from collections import defaultdict
from pathlib import Path
from typing import Protocol

from nimbus.config import EngineConfig
from nimbus.engine import outcomes
from nimbus.engine.environment import Environment
from nimbus.engine.launcher import Launcher
from nimbus.engine.placing import Placing
from nimbus.engine.pool import FunctionPool
from nimbus.engine.runtimes import RuntimeRegistry
from nimbus.engine.transport import EnvironmentGone
from nimbus.engine.zygote import ZygoteProcess
from nimbus.errors import EngineClosed, RequestTooLarge, TooManyRequests
from nimbus.models import FunctionSpec, Invocation, InvocationRecord, InvokeResult, billed_ms
from nimbus.models import gb_seconds as to_gb_seconds
from nimbus.obs import logs
from nimbus.sandbox import host, sdk
from nimbus.sandbox.cgroups import CgroupManager
from nimbus.sandbox.placement import CpuPlacement
from nimbus.sandbox.plan import rootfs_spec
from nimbus.types import LogSink, MeteringSink

log = logging.getLogger("nimbus.engine")
MAX_REQUEST_BYTES = 6 * 1024 * 1024


@functools.lru_cache(maxsize=4096)  # once per function, not per invoke
def _base_arn(arn: str) -> str:
    """Reserved concurrency is per function, across its versions and aliases."""
    return ":".join(arn.split(":")[:7])


@functools.lru_cache(maxsize=4096)
def _account(arn: str) -> str:
    return arn.split(":")[4]


class Peers(Protocol):
    """The other cells of this server (cells/): the account-wide limit counts their
    invocations in flight too."""

    def in_flight_elsewhere(self) -> int: ...

    def report_in_flight(self, count: int) -> None: ...


class Engine:
    def __init__(
        self,
        config: EngineConfig,
        logs_sink: LogSink,
        metering: MeteringSink,
        placement: CpuPlacement | None = None,
        peers: Peers | None = None,
    ) -> None:
        self.config = config
        self.peers = peers
        # Environments share the server's CPU while their invocations are short (placing.py).
        self.placing = Placing(placement, lambda: list(self._by_pid.values()))
        self.logs = logs_sink
        self.metering = metering
        self.runtimes = RuntimeRegistry(config.runtime_paths)
        self.isolation = host.IsolationReport()
        self._launcher: Launcher | None = None
        self._sdk: Path | None = None  # boto3 & co. for functions (sandbox/sdk.py)
        self._sdk_compiling: dict[str, asyncio.Task[None]] = {}
        self._cgroups: CgroupManager | None = None
        self._zygotes: dict[str, ZygoteProcess] = {}
        self._zygote_locks: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)
        self._pools: dict[tuple[str, str, str], FunctionPool] = {}
        self._by_pid: dict[int, Environment] = {}
        self._early_exits: dict[int, int] = {}
        self._in_flight = 0
        self._fn_in_flight: defaultdict[str, int] = defaultdict(int)
        self._reaper: asyncio.Task[None] | None = None
        self._switcher: asyncio.Task[None] | None = None
        self._closing = False
        self._idle_waiters: set[asyncio.Task[None]] = set()

    # lifecycle -----------------------------------------------------------------
    async def start(self) -> None:
        mode = self.config.isolation
        want = mode in ("auto", "full")
        if want and os.geteuid() == 0:
            self._cgroups = CgroupManager.detect(f"nimbus-{os.getpid()}-{uuid.uuid4().hex[:6]}")
        self.isolation = host.probe(self._cgroups.version if self._cgroups else None)
        isolate = want and self.isolation.namespaces
        if mode == "full" and not self.isolation.full:
            raise RuntimeError(
                "full isolation requested but unavailable: " + "; ".join(self.isolation.missing)
            )
        if want and not self.isolation.full:
            for reason in self.isolation.missing:
                log.warning("ISOLATION DEGRADED: %s", reason)
        self.config.code_dir.mkdir(parents=True, exist_ok=True)
        self.config.run_dir.mkdir(parents=True, exist_ok=True)
        self._launcher = Launcher(self.config, self._cgroups if isolate else None, isolate)
        self._sdk = await asyncio.to_thread(sdk.prepare, self.config.data_dir)
        self._reaper = asyncio.create_task(self._reap_forever())
        if self.placing.switch is not None:
            self._switcher = asyncio.create_task(self.placing.switch.run(lambda: self._in_flight))

    async def close(self) -> None:
        """Stop taking work, wait for in-flight invocations, then tear everything down."""
        self._closing = True
        while self._in_flight:
            await asyncio.sleep(0.01)
        for task in (self._reaper, self._switcher):
            if task is not None:
                task.cancel()
        for task in self._sdk_compiling.values():
            task.cancel()
        await asyncio.gather(*self._sdk_compiling.values(), return_exceptions=True)
        for pool in self._pools.values():
            for env in pool.idle:
                env.kill()
        for zygote in self._zygotes.values():
            zygote.stop()  # its children die with it
        for env in list(self._by_pid.values()):
            env.on_exit(9)
            self._forget(env)
        if self._cgroups is not None:
            self._cgroups.remove_node()

    @property
    def isolated(self) -> bool:
        return bool(self._launcher and self._launcher.isolate)

    async def ensure_runtime(self, runtime: str) -> None:
        """Raise RuntimeNotInstalled, or have the runtime's zygote running."""
        self.runtimes.interpreter(runtime)
        await self._zygote(runtime)

    # zygotes ---------------------------------------------------------------------
    async def _zygote(self, runtime: str) -> ZygoteProcess:
        key = "provided" if runtime.startswith("provided") else runtime
        zygote = self._zygotes.get(key)
        if zygote is not None and zygote.alive:
            return zygote
        async with self._zygote_locks[key]:
            zygote = self._zygotes.get(key)
            if zygote is not None and zygote.alive:
                return zygote
            interpreter = self.runtimes.interpreter(runtime)
            rootfs = None
            sdk_path = str(self._sdk) if self._sdk else None
            if self.isolated:
                mountpoint = self.config.run_dir / f"root-{key}"
                mountpoint.mkdir(parents=True, exist_ok=True)
                dirs = self._cgroups.mount_dirs() if self._cgroups else {}
                sdk_bind = (str(self._sdk), sdk.SANDBOX_PATH) if self._sdk else None
                sdk_path = sdk.SANDBOX_PATH if self._sdk else None
                rootfs = rootfs_spec(mountpoint, interpreter, self.config.code_dir, dirs, sdk_bind)
            zygote = ZygoteProcess(key, interpreter, rootfs, self._on_exit, sdk_path)
            await zygote.start()
            if self._sdk and key not in self._sdk_compiling and not key.startswith("provided"):
                self._sdk_compiling[key] = asyncio.create_task(
                    sdk.compile_for(self._sdk, interpreter, zygote.cache_tag)
                )
            self._zygotes[key] = zygote
            return zygote

    def _on_exit(self, pid: int, status: int) -> None:
        env = self._by_pid.get(pid)
        if env is None:
            self._early_exits[pid] = status
            return
        env.on_exit(status)
        self._forget(env)

    def _forget(self, env: Environment) -> None:
        self._by_pid.pop(env.pid, None)
        assert self._launcher is not None
        self._launcher.release(env)

    # environments ------------------------------------------------------------------
    async def _start_env(self, spec: FunctionSpec, init_type: str) -> Environment:
        """Fork + INIT; returns an environment ready for its first event (or doomed by INIT)."""
        if self._launcher is None:
            raise EngineClosed("the engine is not started")
        zygote = await self._zygote(spec.runtime)
        if len(self._by_pid) >= self.config.max_environments:
            self._evict_least_recently_used()
        started = time.perf_counter()
        env = await self._launcher.launch(zygote, spec, init_type)
        release = self.placing.launched(env)  # a heavy INIT must not hold the server's CPU
        self._by_pid[env.pid] = env
        if env.pid in self._early_exits:
            self._on_exit(env.pid, self._early_exits.pop(env.pid))
        init_timeout = max(spec.timeout_s, 10.0)
        try:
            answer = await asyncio.wait_for(env.transport.ready(), init_timeout)
        except (EnvironmentGone, TimeoutError):
            env.kill()
            env.init_answer = None
        else:
            env.init_answer = answer
            if answer is not None:
                env.kill()  # INIT failed: never reused
        finally:
            if release is not None:
                release.cancel()
        env.init_ms = (time.perf_counter() - started) * 1000
        return env

    def _evict_least_recently_used(self) -> None:
        """Make room: idle environments of every function compete, the coldest goes."""
        pools = [p for p in self._pools.values() if p.idle]
        if pools:
            pool = min(pools, key=lambda p: p.idle[0].last_used)
            pool.idle.pop(0).kill()

    def _pool(self, spec: FunctionSpec) -> FunctionPool:
        pool = self._pools.get(spec.pool_key)
        if pool is None:
            limit = self.config.init_concurrency or 2 * (os.cpu_count() or 1)
            pool = self._pools[spec.pool_key] = FunctionPool(limit)
        return pool

    async def prewarm(self, spec: FunctionSpec, count: int) -> int:
        pool = self._pool(spec)
        missing = max(0, count - len(pool.idle))
        pool.starting += missing
        try:
            started = await asyncio.gather(
                *(self._start_env(spec, "provisioned-concurrency") for _ in range(missing)),
                return_exceptions=True,
            )
        finally:
            for _ in range(missing):
                pool.started()
        for env in started:
            if isinstance(env, Environment) and env.alive and not env.doomed:
                env.init_ms = None  # provisioned environments report no Init Duration
                pool.put_back(env)
        return len(pool.idle)

    async def retire(self, function_arn: str) -> None:
        base = _base_arn(function_arn)
        for key, pool in list(self._pools.items()):
            if _base_arn(key[0]) == base:
                for env in pool.idle:
                    env.kill()
                pool.idle.clear()

    # invoke --------------------------------------------------------------------------
    def _admit(self, spec: FunctionSpec) -> str:
        if self._closing:
            raise EngineClosed("Nimbus is shutting down")
        fn = _base_arn(spec.arn)
        reserved = spec.reserved_concurrency
        if reserved is not None and self._fn_in_flight[fn] >= reserved:
            raise TooManyRequests(
                "Rate Exceeded.", "ReservedFunctionConcurrentInvocationLimitExceeded"
            )
        peers = self.peers
        elsewhere = peers.in_flight_elsewhere() if peers is not None else 0
        if self._in_flight + elsewhere >= self.config.concurrency_limit:
            raise TooManyRequests("Rate Exceeded.", "ConcurrentInvocationLimitExceeded")
        self._in_flight += 1
        self._fn_in_flight[fn] += 1
        self.placing.admitted(self._in_flight)
        if peers is not None:
            peers.report_in_flight(self._in_flight)
        return fn

    def _leave(self, fn: str) -> None:
        self._in_flight -= 1
        self._fn_in_flight[fn] -= 1
        if not self._fn_in_flight[fn]:
            del self._fn_in_flight[fn]
        if self.peers is not None:
            self.peers.report_in_flight(self._in_flight)

    async def invoke(self, spec: FunctionSpec, invocation: Invocation) -> InvokeResult:
        if len(invocation.payload) > MAX_REQUEST_BYTES:
            raise RequestTooLarge(
                f"Request must be smaller than {MAX_REQUEST_BYTES} bytes for the "
                "InvokeFunction operation"
            )
        self.runtimes.interpreter(spec.runtime)  # RuntimeNotInstalled before taking a slot
        fn = self._admit(spec)
        pool = self._pool(spec)
        try:
            env = pool.take_idle() or await pool.acquire()  # the warm case needs no await
            cold = env is None
            if env is None:
                try:
                    env = await self._start_env(spec, "on-demand")
                finally:
                    pool.started()
            pool.busy += 1
            try:
                return await self._run(env, spec, invocation, cold)
            finally:
                pool.busy -= 1
                if env.alive and not env.doomed and not self._closing:
                    pool.put_back(env)
                else:
                    env.kill()
        finally:
            self._leave(fn)

    async def _run(
        self, env: Environment, spec: FunctionSpec, invocation: Invocation, cold: bool
    ) -> InvokeResult:
        request_id = invocation.request_id
        init_ms = env.init_ms if env.invocations == 0 else None
        init_output = env.logs.take() if env.invocations == 0 else ""
        env.invocations += 1
        failed_init = env.doomed  # INIT failed or the process died during INIT
        wall_start = time.time()
        started = time.perf_counter()
        answered = False  # the runtime answered over its channel (output already read)
        if failed_init:
            answer = env.init_answer
            if answer is None:
                await env.exited  # the exit status names the failure
            verdict = (
                outcomes.from_answer(answer)
                if answer is not None
                else outcomes.from_death(env, request_id)
            )
            duration_ms = 0.0
        else:
            invocation.deadline_ms = int(wall_start * 1000 + spec.timeout_s * 1000)
            if not invocation.invoked_arn:
                invocation.invoked_arn = spec.arn
            self.placing.arm_deadline(env, spec.timeout_s)
            try:
                answer = await env.transport.invoke(invocation)
                verdict = outcomes.from_answer(answer)
                answered = True
            except EnvironmentGone:
                await env.exited  # OOM/timeout/exit status are known once it is reaped
                verdict = outcomes.from_death(env, request_id)
            finally:
                if env.timer is not None:
                    env.timer.cancel()
                    env.timer = None
            duration_ms = (time.perf_counter() - started) * 1000
            self.placing.finished(env, duration_ms)
            if verdict.outcome == "timeout":
                duration_ms = spec.timeout_s * 1000
        billed = billed_ms(duration_ms + (init_ms or 0.0))
        record = InvocationRecord(
            account=_account(spec.arn),
            request_id=request_id,
            function=spec.name,
            version=spec.version,
            start=wall_start,
            duration_ms=duration_ms,
            billed_ms=billed,
            memory_mb=spec.memory_mb,
            max_memory_mb=env.max_memory_mb(),
            gb_seconds=to_gb_seconds(billed, spec.memory_mb),
            init_ms=init_ms,
            cold=cold,
            outcome=verdict.outcome,
        )
        if spec.log_format.upper() == "JSON":
            head, tail = (
                logs.json_start_line(request_id, spec.version),
                logs.json_report_line(record),
            )
        else:
            head = logs.start_line(request_id, spec.version)
            tail = logs.end_line(request_id) + logs.report_line(record)
        # INIT output precedes START in the stream; when INIT failed it is also this
        # invocation's own log (it says why).
        middle = (init_output if failed_init else "") + env.logs.take(drain=not answered)
        text = head + middle + tail + verdict.trailer
        self.logs.write(
            spec.log_group_name, env.stream, ("" if failed_init else init_output) + text
        )
        self.metering.record(record)
        return InvokeResult(
            payload=verdict.payload,
            function_error=verdict.function_error,
            executed_version=spec.version,
            log=text,
            record=record,
        )

    # housekeeping ----------------------------------------------------------------------
    async def _reap_forever(self) -> None:
        while True:
            await asyncio.sleep(self.config.reap_interval_s)
            self.reap()

    def reap(self) -> int:
        """Destroy idle environments past their keep-alive; returns how many."""
        now = time.monotonic()
        reaped = 0
        for key, pool in list(self._pools.items()):
            for env in pool.expired(self.config.keep_alive_s, now):
                env.kill()
                reaped += 1
            if pool.empty:
                del self._pools[key]
        return reaped

    def stats(self) -> dict[str, int]:
        idle = sum(len(p.idle) for p in self._pools.values())
        busy = sum(p.busy for p in self._pools.values())
        return {
            "idle": idle,
            "busy": busy,
            "in_flight": self._in_flight,
            "environments": len(self._by_pid),
        }
