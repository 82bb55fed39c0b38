"""Start environments: the function's environment variables, sandbox plan, fds and transport."""

from __future__ import annotations

import asyncio
import os
import socket
import uuid
from collections import deque
from pathlib import Path
from typing import Any

from nimbus.config import EngineConfig
from nimbus.engine.channel_transport import ChannelTransport
from nimbus.engine.environment import Environment
from nimbus.engine.logpipe import LogPipe
from nimbus.engine.transport import Transport
from nimbus.engine.zygote import ZygoteProcess
from nimbus.errors import ServiceError
from nimbus.models import FunctionSpec
from nimbus.obs.logs import new_stream_name
from nimbus.sandbox.cgroups import CgroupManager, Limits
from nimbus.sandbox.plan import confine_spec

TASK_ROOT = "/var/task"
PYTHON_RUNTIME_API = (
    "127.0.0.1:9001"  # set for compatibility; Nimbus' Python runtime uses a channel
)


def function_environment(
    spec: FunctionSpec, stream: str, task_root: str, runtime_api: str, init_type: str
) -> dict[str, str]:
    """User variables plus Lambda's reserved ones (reserved names always win)."""
    env = dict(spec.environment)
    env.update(
        {
            "_HANDLER": spec.handler,
            "AWS_REGION": spec.region,
            "AWS_DEFAULT_REGION": spec.region,
            "AWS_LAMBDA_FUNCTION_NAME": spec.name,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(spec.memory_mb),
            "AWS_LAMBDA_FUNCTION_VERSION": spec.version,
            "AWS_LAMBDA_INITIALIZATION_TYPE": init_type,
            "AWS_LAMBDA_LOG_GROUP_NAME": spec.log_group_name,
            "AWS_LAMBDA_LOG_STREAM_NAME": stream,
            "AWS_LAMBDA_RUNTIME_API": runtime_api,
            "LAMBDA_TASK_ROOT": task_root,
            "LAMBDA_RUNTIME_DIR": "/var/runtime",
            "TZ": ":UTC",
            "LANG": "en_US.UTF-8",
            "PATH": "/var/lang/bin:/usr/local/bin:/usr/bin/:/bin:/opt/bin",
            "LD_LIBRARY_PATH": "/var/lang/lib:/lib64:/usr/lib64:/var/runtime:/var/runtime/lib:"
            "/var/task:/var/task/lib:/opt/lib",
        }
    )
    if not spec.is_custom_runtime:
        env["AWS_EXECUTION_ENV"] = f"AWS_Lambda_{spec.runtime}"
    if spec.log_format.upper() == "JSON":
        env["AWS_LAMBDA_LOG_FORMAT"] = "JSON"
    if spec.endpoint_url:
        env["AWS_ENDPOINT_URL"] = spec.endpoint_url
    env.update(spec.credentials)
    return env


class UidPool:
    """Each live environment gets its own unprivileged uid (so rlimits, signals and
    socket ownership are per environment)."""

    def __init__(self, base: int, count: int) -> None:
        self._free = deque(range(base, base + count))

    def take(self) -> int:
        if not self._free:
            raise ServiceError("no free sandbox uid: too many live environments")
        return self._free.popleft()

    def give_back(self, uid: int) -> None:
        self._free.append(uid)


class Launcher:
    def __init__(self, config: EngineConfig, cgroups: CgroupManager | None, isolate: bool) -> None:
        self.config = config
        self.cgroups = cgroups
        self.isolate = isolate
        self.uids = UidPool(config.sandbox_uid_base, config.sandbox_uid_count)

    def _code_rel(self, spec: FunctionSpec) -> str:
        code = Path(spec.code_dir).resolve()
        store = self.config.code_dir.resolve()
        if not code.is_relative_to(store):
            raise ServiceError(f"code directory {code} is not inside the code store {store}")
        return str(code.relative_to(store))

    async def launch(
        self, zygote: ZygoteProcess, spec: FunctionSpec, init_type: str = "on-demand"
    ) -> Environment:
        env_id = uuid.uuid4().hex[:16]
        stream = new_stream_name(spec.version)
        task_root = TASK_ROOT if self.isolate else str(Path(spec.code_dir).resolve())
        uid = self.uids.take() if self.isolate else None
        log_r, log_w = os.pipe()
        logs = LogPipe(log_r)
        child_fds = [log_w]
        transport: Transport | None = None
        request: dict[str, Any]
        try:
            if spec.is_custom_runtime:
                from nimbus.engine.runtime_server import HttpTransport

                http = HttpTransport(allowed_uid=uid)
                await http.start()
                transport = http
                runtime_api = http.address
                request = {"kind": "exec", "argv": [f"{task_root}/bootstrap"]}
            else:
                ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
                child_fds.append(theirs.detach())
                transport = await ChannelTransport.open(ours)
                runtime_api = PYTHON_RUNTIME_API
                request = {"kind": "python", "handler": spec.handler}
            request["env"] = function_environment(spec, stream, task_root, runtime_api, init_type)
            request["task_root"] = task_root
            if self.isolate:
                assert uid is not None
                limits = Limits(memory_mb=spec.memory_mb, pids=self.config.pids_limit)
                settings = self.cgroups.limit_settings(limits) if self.cgroups else []
                request["confine"] = confine_spec(
                    self._code_rel(spec),
                    uid,
                    spec.ephemeral_mb,
                    settings,
                    self.config.nofile_limit,
                    self.config.pids_limit,
                )
            environment = Environment(env_id, spec, stream, transport, logs, None, uid)
            environment.pid, cgroup_name = await zygote.spawn(request, child_fds)
            if cgroup_name and self.cgroups:
                environment.cgroup = self.cgroups.adopt(cgroup_name)
        except BaseException:
            logs.close()
            if transport is not None:
                transport.close()
            if uid is not None:
                self.uids.give_back(uid)
            raise
        finally:
            for fd in child_fds:  # the child has its own copies now (or never will)
                os.close(fd)
        return environment

    def release(self, environment: Environment) -> None:
        """Free what the (dead) environment held."""
        environment.transport.close()
        environment.logs.close()
        uid = environment.uid
        if environment.cgroup is None:
            if uid is not None:
                self.uids.give_back(uid)
            return
        # rmdir may have to wait for the kernel: never on the event loop. The uid is reused
        # only once the cgroup is gone, i.e. once no process of this environment is left.
        done = asyncio.get_running_loop().run_in_executor(None, environment.cgroup.destroy)
        if uid is not None:
            done.add_done_callback(lambda _: self.uids.give_back(uid))
