"""Hostile functions are contained, and the engine keeps serving everybody else.

DESIGN principle 3: every execution environment is a sandbox (mount/pid/ipc/uts
namespaces, a private size-limited /tmp, read-only code, cgroup limits, rlimits,
an unprivileged uid, seccomp). Each test deploys a real function that attempts
an attack and returns (or prints) what it observed; the test asserts that the
attack failed and then that an unrelated benign function still answers, both
warm and from a fresh cold start (so the zygote survived too).
"""

from __future__ import annotations

import errno
import json
import os
import socket
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from harness import EngineHarness
from nimbus.models import FunctionSpec, InvokeResult
from nimbus.runtime import landlock
from nimbus.sandbox.plan import interpreter_prefix

SANDBOX_UID_MIN = 990_000
REFUSED = {errno.EROFS, errno.EACCES, errno.EPERM}

BENIGN_FN = """
def handler(event, context):
    return {"echo": event.get("nonce"), "sum": sum(event.get("numbers", []))}
"""


@pytest.fixture(autouse=True)
def _needs_isolation(engine: EngineHarness) -> None:
    if not engine.engine.isolated:
        pytest.skip("the engine runs without isolation on this host (needs root)")


@pytest.fixture(scope="module")
def benign(engine: EngineHarness) -> FunctionSpec:
    return engine.deploy(BENIGN_FN)


def call(engine: EngineHarness, spec: FunctionSpec, event: Any = None) -> tuple[InvokeResult, Any]:
    result = engine.invoke(spec, json.dumps({} if event is None else event).encode())
    return result, json.loads(result.payload)


Serving = Callable[..., None]


@pytest.fixture
def still_serving(engine: EngineHarness, benign: FunctionSpec) -> Serving:
    """The shared check that others are still served after an attack.

    The module's long-lived benign function answers, and a brand-new function answers
    from a cold start (the zygote still forks) and then warm. `other` checks a private
    engine too.
    """

    def answers(harness: EngineHarness, spec: FunctionSpec, cold: bool | None) -> None:
        nonce = uuid.uuid4().hex
        result, body = call(harness, spec, {"nonce": nonce, "numbers": [1, 2, 39]})
        assert result.function_error is None, body
        assert body == {"echo": nonce, "sum": 42}
        assert result.record.outcome == "success"
        if cold is not None:
            assert result.record.cold is cold

    def check(other: EngineHarness | None = None) -> None:
        answers(engine, benign, None)
        for harness in (engine, other) if other else (engine,):
            fresh = harness.deploy(BENIGN_FN)
            answers(harness, fresh, True)
            answers(harness, fresh, False)

    return check


def host_pids_of_uid(uid: int) -> list[int]:
    """Host processes whose real, effective, saved or fs uid is `uid`."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            status = Path(f"/proc/{entry}/status").read_text()
        except OSError:
            continue
        for line in status.splitlines():
            if line.startswith("Uid:") and str(uid) in line.split()[1:]:
                found.append(int(entry))
    return found


def wait_no_process_of_uid(uid: int, timeout: float = 3.0) -> list[int]:
    deadline = time.monotonic() + timeout
    while (left := host_pids_of_uid(uid)) and time.monotonic() < deadline:
        time.sleep(0.02)
    return left


# 1. other functions' code and the host's files ---------------------------------------------

VICTIM_FN = """
MARKER = "victim-code-%s"
def handler(event, context):
    return MARKER
"""

SNOOP_FN = """
import os

MARKER = "snoop-code-%s"

def attempt(path):
    try:
        if os.path.isdir(path):
            return ["dir", sorted(os.listdir(path))]
        with open(path, "rb") as f:
            return ["file", f.read(200).decode("latin-1")]
    except OSError as e:
        return ["error", type(e).__name__]

def handler(event, context):
    own = open("/var/task/app.py").read()
    return {
        "own_code_has_marker": MARKER in own,
        "root": sorted(os.listdir("/")),
        "paths": {p: attempt(p) for p in event["paths"]},
    }
"""


def test_cannot_read_other_functions_code_or_host_files(
    engine: EngineHarness, still_serving: Serving
) -> None:
    token = uuid.uuid4().hex
    victim = engine.deploy(VICTIM_FN % token)
    assert json.loads(engine.invoke(victim).payload) == f"victim-code-{token}"
    snoop = engine.deploy(SNOOP_FN % uuid.uuid4().hex)
    data_dir = engine.config.data_dir
    store_rel = Path(victim.code_dir).relative_to(engine.config.code_dir)
    prefix = interpreter_prefix(engine.engine.runtimes.interpreter(snoop.runtime))
    forbidden = [
        victim.code_dir,
        f"{victim.code_dir}/app.py",
        f"/.nimbus/code/{store_rel}/app.py",
        "/.nimbus/code",
        "/.nimbus/cgroup",
        str(data_dir),
        str(engine.config.code_dir),
        str(data_dir / "metering.jsonl"),
        str(data_dir / "logs"),
        "/root/.ssh",
        "/root/.bash_history",
        "/root/.profile",
        "/home",
        "/work",
        "/srv",
        "/sys/fs/cgroup",
        "/run",
    ]
    # Directories on the way to the interpreter prefix (bound because the runtime needs it).
    ancestors = [str(p) for p in Path(prefix).parents if str(p) != "/"]
    result, seen = call(engine, snoop, {"paths": [*forbidden, "/.nimbus", *ancestors]})
    assert result.function_error is None, seen
    assert seen["own_code_has_marker"]
    for path in forbidden:
        assert seen["paths"][path][0] == "error", (path, seen["paths"][path])
    # /.nimbus is only an empty mount point once the environment detached the private area.
    assert seen["paths"]["/.nimbus"] in (["dir", []], ["error", "FileNotFoundError"])
    # The root holds the system directories and the sandbox's own mount points, nothing else.
    system = {"bin", "sbin", "lib", "lib32", "lib64", "libx32", "usr", "etc"}
    own = {"dev", "proc", "tmp", "var", "opt", ".nimbus"}
    extra = {Path(prefix).parts[1]}
    assert set(seen["root"]) <= system | own | extra, seen["root"]
    # e.g. /root holds only `.pyenv`, /root/.pyenv only `versions`: the rest of /root is absent.
    for ancestor in ancestors:
        child = Path(prefix).relative_to(ancestor).parts[0]
        assert seen["paths"][ancestor] == ["dir", [child]], (ancestor, seen["paths"][ancestor])
    still_serving()


# 2. /etc/shadow ---------------------------------------------------------------------------

SHADOW_FN = """
import glob

def handler(event, context):
    out = {}
    for path in ["/etc/shadow", "/etc/gshadow", *glob.glob("/etc/ssh/ssh_host_*_key")]:
        try:
            with open(path, "rb") as f:
                out[path] = ["read", f.read().decode("latin-1")]
        except OSError as e:
            out[path] = ["error", type(e).__name__]
    return out
"""


def test_shadow_passwords_are_not_readable(engine: EngineHarness, still_serving: Serving) -> None:
    spec = engine.deploy(SHADOW_FN)
    result, seen = call(engine, spec)
    assert result.function_error is None, seen
    assert {"/etc/shadow", "/etc/gshadow"} <= set(seen)
    for path, (how, content) in seen.items():
        assert (how, content) in (("error", "PermissionError"), ("read", "")), path
    if os.path.exists("/etc/shadow"):  # the host's file is real: the sandbox hid it
        assert Path("/etc/shadow").read_text().startswith("root:")
    still_serving()


# 3. writing outside /tmp ----------------------------------------------------------------

WRITER_FN = """
import os

def handler(event, context):
    out = {}
    for path in event["paths"]:
        try:
            with open(path, "w") as f:
                f.write("pwned")
            out[path] = "written"
        except OSError as e:
            out[path] = e.errno
    with open("/tmp/ok.txt") as f:
        out["tmp_readback"] = f.read()
    return out
"""


def test_writes_outside_tmp_are_refused(engine: EngineHarness, still_serving: Serving) -> None:
    spec = engine.deploy(WRITER_FN)
    code_before = sorted((p.name, p.read_bytes()) for p in Path(spec.code_dir).iterdir())
    denied = ["/var/task/x", "/var/task/app.py", "/etc/x", "/etc/passwd", "/usr/x", "/x",
              "/dev/x", "/opt/x", "/var/runtime/x", "/var/x", "/proc/sys/kernel/hostname",
              "/proc/sys/kernel/core_pattern"]  # fmt: skip
    result, seen = call(engine, spec, {"paths": [*denied, "/tmp/ok.txt", "/dev/shm/ok"]})
    assert result.function_error is None, seen
    for path in denied:
        assert seen[path] in REFUSED, (path, seen[path])
    assert seen["/tmp/ok.txt"] == seen["/dev/shm/ok"] == "written"
    assert seen["tmp_readback"] == "pwned"
    assert sorted((p.name, p.read_bytes()) for p in Path(spec.code_dir).iterdir()) == code_before
    still_serving()


# 4. /tmp: size-limited and private ------------------------------------------------------

TMP_FN = """
import errno, os, time, uuid

ENV_ID = uuid.uuid4().hex

def handler(event, context):
    if event.get("fill_mb"):
        written, error = 0, None
        chunk = b"x" * (1024 * 1024)
        try:
            with open("/tmp/fill", "wb") as f:
                for _ in range(event["fill_mb"]):
                    f.write(chunk)
                    f.flush()
                    written += len(chunk)
                os.fsync(f.fileno())
        except OSError as e:
            error = e.errno
        size = os.path.getsize("/tmp/fill")
        os.unlink("/tmp/fill")
        return {"error": error, "size": size}
    if event.get("mark"):
        with open("/tmp/" + event["mark"], "w") as f:
            f.write(ENV_ID)
    time.sleep(event.get("sleep", 0))
    return {"env": ENV_ID, "tmp": sorted(os.listdir("/tmp"))}
"""


def test_tmp_is_size_limited(engine: EngineHarness, still_serving: Serving) -> None:
    spec = engine.deploy(TMP_FN, ephemeral_mb=64, memory_mb=512)
    result, seen = call(engine, spec, {"fill_mb": 100})
    assert result.function_error is None, seen
    assert seen["error"] == errno.ENOSPC
    assert 60 * 2**20 <= seen["size"] <= 64 * 2**20
    still_serving()


def test_tmp_is_private_per_environment(engine: EngineHarness, still_serving: Serving) -> None:
    first = engine.deploy(TMP_FN)
    second = engine.deploy(TMP_FN)
    _, seen = call(engine, first, {"mark": "first-secret"})
    assert seen["tmp"] == ["first-secret"]
    _, other = call(engine, second)
    assert other["tmp"] == []  # another function has its own, empty /tmp
    # Two concurrent environments of the same function each have their own /tmp.
    events = [{"mark": "a", "sleep": 0.4}, {"mark": "b", "sleep": 0.4}]
    fresh = engine.deploy(TMP_FN)
    with ThreadPoolExecutor(2) as pool:
        a, b = pool.map(lambda event: call(engine, fresh, event)[1], events)
    assert a["env"] != b["env"]
    assert a["tmp"] == ["a"] and b["tmp"] == ["b"]
    still_serving()


# 5-7. fork bomb, memory bomb, infinite loop ----------------------------------------------

BOMB_FN = """
import json, os, time

def handler(event, context):
    if event.get("probe"):
        return {"uid": os.getuid()}
    if event.get("loop"):
        while True:
            pass
    if event.get("memory"):
        hog = []
        while True:
            hog.append(bytearray(16 * 1024 * 1024))
    me = os.getpid()
    stop = time.monotonic() + event["fork_s"]
    forks, errors = 0, set()
    while time.monotonic() < stop:  # every child runs this loop too: exponential growth
        try:
            pid = os.fork()
        except OSError as e:
            errors.add(e.errno)
            time.sleep(0.005)
            continue
        if pid:
            forks += 1
    if os.getpid() != me:
        while True:  # children linger until the environment is destroyed
            time.sleep(60)
    procs = len([p for p in os.listdir("/proc") if p.isdigit()])
    print("BOMB " + json.dumps({"forks": forks, "errors": sorted(errors), "procs": procs}))
    time.sleep(60)  # the function timeout ends this invocation
"""


def test_fork_bomb_is_contained(make_engine: Any, still_serving: Serving) -> None:
    # A private engine with a small pids limit (default 1024) keeps the bomb quick and light;
    # the mechanism (pids cgroup + RLIMIT_NPROC + pid namespace) is the same.
    engine = make_engine(pids_limit=96)
    spec = engine.deploy(BOMB_FN, timeout_s=2, memory_mb=1769)  # 1 vCPU: reach the limit
    _, probe = call(engine, spec, {"probe": True})
    uid = probe["uid"]
    assert uid >= SANDBOX_UID_MIN and host_pids_of_uid(uid)
    started = time.monotonic()
    result, body = call(engine, spec, {"fork_s": 0.8})
    assert time.monotonic() - started < 4
    assert result.function_error == "Unhandled", body
    assert result.record.outcome == "timeout", body
    report = json.loads(result.log.split("BOMB ", 1)[1].splitlines()[0])
    assert errno.EAGAIN in report["errors"]  # the limit stopped it ...
    assert 48 < report["procs"] <= 96  # ... at the limit: it did try hard
    assert wait_no_process_of_uid(uid) == []  # the whole process tree is gone
    still_serving(engine)


def test_memory_bomb_is_killed(engine: EngineHarness, still_serving: Serving) -> None:
    spec = engine.deploy(BOMB_FN, memory_mb=128, timeout_s=10)
    _, probe = call(engine, spec, {"probe": True})
    result, body = call(engine, spec, {"memory": True})
    assert result.function_error == "Unhandled"
    assert result.record.outcome == "oom", body
    assert body["errorType"] == "Runtime.OutOfMemory"
    assert wait_no_process_of_uid(probe["uid"]) == []
    still_serving()


def test_infinite_loop_is_stopped_at_the_timeout(
    engine: EngineHarness, still_serving: Serving
) -> None:
    spec = engine.deploy(BOMB_FN, timeout_s=1)
    _, probe = call(engine, spec, {"probe": True})
    started = time.monotonic()
    result, body = call(engine, spec, {"loop": True})
    assert time.monotonic() - started < 2
    assert result.record.outcome == "timeout" and body["errorType"] == "Sandbox.Timedout"
    assert wait_no_process_of_uid(probe["uid"], timeout=1) == []  # no spinning process is left
    still_serving()


# 8. killing the parent, everybody, init ---------------------------------------------------

KILLER_FN = """
import os, signal

def handler(event, context):
    targets = {"init": 1, "everyone": -1, "parent": os.getppid(),
               "engine": event["engine_pid"], "zygote": event["zygote_pid"]}
    target = targets[event["target"]]
    try:
        os.kill(target, signal.SIGKILL)
        outcome = "sent"
    except OSError as e:
        outcome = e.errno
    return {"pid": os.getpid(), "ppid": os.getppid(), "target": target, "outcome": outcome}
"""


def zygote_pids() -> list[int]:
    """The engine's zygotes: children of this process running the runtime's entry.py."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == os.getpid() and b"entry.py" in cmdline:
            found.append(int(entry))
    return found


@pytest.mark.parametrize("target", ["init", "everyone", "parent", "engine", "zygote"])
def test_killing_parent_or_everyone_harms_nobody(
    engine: EngineHarness, still_serving: Serving, target: str
) -> None:
    spec = engine.deploy(KILLER_FN)
    call(engine, spec, {"target": "init", "engine_pid": 0, "zygote_pid": 0})  # warm up
    zygotes = zygote_pids()
    assert zygotes
    event = {"target": target, "engine_pid": os.getpid(), "zygote_pid": zygotes[0]}
    result, seen = call(engine, spec, event)
    # The function itself is PID 1 of its own pid namespace: it cannot see (or signal) the
    # zygote or the engine, and init of a namespace ignores SIGKILL sent from inside it.
    assert result.function_error is None, seen
    assert seen["pid"] == 1 and seen["ppid"] == 0  # its parent is outside its namespace
    if target in ("engine", "zygote", "everyone"):
        assert seen["outcome"] == errno.ESRCH
    assert all(Path(f"/proc/{pid}").exists() for pid in zygotes)
    assert zygote_pids() == zygotes
    still_serving()


# 9. ptrace, mount, user namespaces, setuid ----------------------------------------------

PRIVILEGE_FN = """
import ctypes, os, signal, time

libc = ctypes.CDLL(None, use_errno=True)
libc.ptrace.restype = ctypes.c_long
libc.ptrace.argtypes = [ctypes.c_long, ctypes.c_long, ctypes.c_void_p, ctypes.c_void_p]
libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong,
                       ctypes.c_void_p]
PTRACE_TRACEME, PTRACE_ATTACH = 0, 16
CLONE_NEWNS, CLONE_NEWUSER, CLONE_NEWNET = 0x20000, 0x10000000, 0x40000000

def errno_of(ret):
    return 0 if ret != -1 else ctypes.get_errno()

def py(fn, *args):
    try:
        fn(*args)
        return 0
    except OSError as e:
        return e.errno

def attach_own_child():
    child = os.fork()
    if child == 0:
        time.sleep(30)
        os._exit(0)
    try:
        return errno_of(libc.ptrace(PTRACE_ATTACH, child, None, None))
    finally:
        os.kill(child, signal.SIGKILL)

PROBES = {
    "attach_init": lambda: errno_of(libc.ptrace(PTRACE_ATTACH, 1, None, None)),
    "attach_own_child": attach_own_child,
    "traceme": lambda: errno_of(libc.ptrace(PTRACE_TRACEME, 0, None, None)),
    "mount_tmpfs": lambda: errno_of(libc.mount(b"none", b"/tmp", b"tmpfs", 0, None)),
    "remount_root_rw": lambda: errno_of(libc.mount(None, b"/", None, 0x20, None)),
    "unshare_user": lambda: errno_of(libc.unshare(CLONE_NEWUSER)),
    "unshare_mount": lambda: errno_of(libc.unshare(CLONE_NEWNS)),
    "unshare_net": lambda: errno_of(libc.unshare(CLONE_NEWNET)),
    "chroot": lambda: py(os.chroot, "/tmp"),
    "setuid_0": lambda: py(os.setuid, 0),
    "setgid_0": lambda: py(os.setgid, 0),
    "seteuid_0": lambda: py(os.seteuid, 0),
}

def in_child(probe):
    # Each attempt runs in a throwaway child: if one succeeded, the environment itself
    # would stay untouched (and the test would fail instead of hanging).
    pid = os.fork()
    if pid == 0:
        try:
            code = probe()
        except BaseException:
            code = 255
        os._exit(code)
    return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])

def handler(event, context):
    seen = {name: in_child(probe) for name, probe in PROBES.items()}
    seen["uid"] = os.getuid()
    return seen
"""


def test_privileged_operations_are_refused(engine: EngineHarness, still_serving: Serving) -> None:
    spec = engine.deploy(PRIVILEGE_FN, timeout_s=5)
    result, seen = call(engine, spec)
    assert result.function_error is None, seen
    assert seen.pop("uid") >= SANDBOX_UID_MIN
    assert seen == dict.fromkeys(seen, errno.EPERM), seen
    assert len(seen) == 12
    still_serving()


# 10. the /proc view and the host name ------------------------------------------------------

PROC_FN = """
import os, socket, time

def handler(event, context):
    child = os.fork()
    if child == 0:
        time.sleep(30)
        os._exit(0)
    try:
        pids = sorted(int(p) for p in os.listdir("/proc") if p.isdigit())
        with open("/proc/1/cmdline", "rb") as f:
            init = f.read().split(b"\\0")[0].decode()
    finally:
        os.kill(child, 9)
        os.waitpid(child, 0)
    return {"pids": pids, "me": os.getpid(), "child": child, "init": init,
            "hostname": socket.gethostname(), "nodename": os.uname().nodename}
"""


def test_proc_shows_only_own_processes_and_hostname_is_private(
    engine: EngineHarness, still_serving: Serving
) -> None:
    spec = engine.deploy(PROC_FN)
    result, seen = call(engine, spec)
    assert result.function_error is None, seen
    assert seen["me"] == 1
    assert seen["pids"] == sorted([1, seen["child"]])
    assert "python" in seen["init"]
    host = socket.gethostname()
    assert seen["hostname"] == seen["nodename"] == "localhost"
    if host != "localhost":
        assert seen["hostname"] != host
    still_serving()


# 11. another environment's invocation and the runtime channel ----------------------------

HOLDER_FN = """
import os, time

def handler(event, context):
    secret = event["secret"]
    with open("/tmp/secret.txt", "w") as f:
        f.write(secret)
    with open("/dev/shm/secret", "w") as f:
        f.write(secret)
    print("holding " + secret, flush=True)
    time.sleep(event["hold"])
    return "held"
"""

SCANNER_FN = """
import os, stat, time

SKIP = {"/proc/kcore", "/proc/self", "/proc/thread-self", "/sys", "/dev"}

def scan(top, needles, found, stop, mine):
    for root, dirs, files in os.walk(top):
        if time.monotonic() > stop:
            return False
        if root == "/proc":
            dirs[:] = [d for d in dirs if d not in mine]
        dirs[:] = [d for d in dirs if os.path.join(root, d) not in SKIP]
        for name in files:
            path = os.path.join(root, name)
            if path in SKIP:
                continue
            if time.monotonic() > stop:
                return False
            try:
                if not stat.S_ISREG(os.lstat(path).st_mode):
                    continue
                fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
                try:
                    data = os.read(fd, 4 << 20)
                finally:
                    os.close(fd)
            except OSError:
                continue
            for needle in needles:
                if needle.encode() in data:
                    found.setdefault(needle, []).append(path)
    return True

def handler(event, context):
    control = event["control"]
    with open("/tmp/control.txt", "w") as f:  # proves the scanner finds what is there
        f.write(control)
    mine = {str(os.getpid())}
    pids = sorted(p for p in os.listdir("/proc") if p.isdigit())
    fds = {}
    for fd in os.listdir("/proc/self/fd"):
        try:
            fds[fd] = os.readlink("/proc/self/fd/" + fd)
        except OSError:
            pass
    stop = time.monotonic() + event["budget"]
    found, complete = {}, {}
    needles = [event["secret"], control]
    priority = ["/tmp", "/dev/shm", "/var", "/.nimbus", "/opt", "/proc", "/etc", "/root"]
    rest = sorted("/" + d for d in os.listdir("/") if "/" + d not in priority + ["/dev", "/sys"])
    for top in priority + rest:
        complete[top] = scan(top, needles, found, stop, mine)
    return {"pids": pids, "fds": fds, "found": found, "complete": complete}
"""


def test_cannot_see_another_environments_invocation(
    engine: EngineHarness, still_serving: Serving
) -> None:
    holder = engine.deploy(HOLDER_FN)
    scanner = engine.deploy(SCANNER_FN, memory_mb=1769)  # one full vCPU: scan more, faster
    secret = "nimbus-secret-" + uuid.uuid4().hex
    control = "nimbus-control-" + uuid.uuid4().hex
    call(engine, holder, {"secret": "warm-up", "hold": 0})  # both warm: no cold start delays
    call(engine, scanner, {"secret": "warm-up", "control": "warm-up", "budget": 0})
    with ThreadPoolExecutor(1) as pool:
        held = pool.submit(call, engine, holder, {"secret": secret, "hold": 2.5})
        time.sleep(0.3)
        result, seen = call(engine, scanner, {"secret": secret, "control": control, "budget": 1.5})
        assert held.result()[1] == "held"
    assert result.function_error is None, seen
    assert seen["pids"] == ["1"]
    assert seen["found"].get(control) == ["/tmp/control.txt"]
    assert secret not in seen["found"], seen["found"][secret]
    # Everything that can change at run time was scanned in full (the rest is best effort:
    # read-only binds of the host's system directories).
    dynamic = ["/tmp", "/dev/shm", "/var", "/.nimbus", "/opt", "/proc"]
    assert all(seen["complete"][top] for top in dynamic), seen["complete"]
    # Only the environment's own channel: one socket and one log pipe (possibly under several
    # descriptors), /dev/null for stdin; nothing that belongs to another environment.
    fds = seen["fds"]
    assert fds["0"] == "/dev/null" and fds["1"].startswith("pipe:") and fds["2"] == fds["1"]
    assert len({t for t in fds.values() if t.startswith("socket:")}) == 1, fds
    assert {t for t in fds.values() if t.startswith("pipe:")} == {fds["1"]}, fds
    still_serving()


# 12. limits and credentials inside ----------------------------------------------------------

LIMITS_FN = """
import os, resource

def handler(event, context):
    status = dict(line.split(":", 1) for line in open("/proc/self/status").read().splitlines())
    opened = []
    try:
        while True:
            opened.append(os.open("/dev/null", os.O_RDONLY))
    except OSError as e:
        emfile = e.errno
    for fd in opened:
        os.close(fd)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (4096, 4096))
        raised = True
    except (ValueError, OSError):
        raised = False
    return {
        "nofile": resource.getrlimit(resource.RLIMIT_NOFILE),
        "nproc": resource.getrlimit(resource.RLIMIT_NPROC),
        "core": resource.getrlimit(resource.RLIMIT_CORE),
        "opened": len(opened), "emfile": emfile, "raised": raised,
        "ids": [os.getuid(), os.geteuid(), os.getgid(), os.getegid()],
        "groups": os.getgroups(),
        "status": {k: v.strip() for k, v in status.items()
                   if k.startswith("Cap") or k in ("NoNewPrivs", "Seccomp")},
    }
"""


def test_runs_unprivileged_with_limits(engine: EngineHarness, still_serving: Serving) -> None:
    spec = engine.deploy(LIMITS_FN)
    result, seen = call(engine, spec)
    assert result.function_error is None, seen
    nofile = engine.config.nofile_limit
    assert nofile == 1024 and seen["nofile"] == [nofile, nofile]
    assert seen["nproc"] == [engine.config.pids_limit] * 2 and seen["core"] == [0, 0]
    assert seen["emfile"] == errno.EMFILE and seen["opened"] < nofile
    assert seen["raised"] is False
    uid = seen["ids"][0]
    assert uid >= SANDBOX_UID_MIN and seen["ids"] == [uid] * 4 and seen["groups"] == []
    status = seen["status"]
    for cap in ("CapInh", "CapPrm", "CapEff", "CapAmb", "CapBnd"):
        assert int(status[cap], 16) == 0, (cap, status[cap])
    assert status["NoNewPrivs"] == "1" and status["Seccomp"] == "2"
    still_serving()


# 13. what leaks through the host's terminal and network -------------------------------------

TTY_FN = """
import fcntl, os, termios

def handler(event, context):
    with open("/proc/self/stat") as f:
        tty_nr = int(f.read().rsplit(")", 1)[1].split()[4])  # 0: no controlling terminal
    try:
        fd = os.open("/dev/tty", os.O_RDWR | os.O_NOCTTY)
    except OSError as e:
        return {"tty": e.errno, "tty_nr": tty_nr}
    try:
        fcntl.ioctl(fd, termios.TIOCSTI, b"#")  # a keystroke typed into the admin's shell
        injected = True
    except OSError:
        injected = False
    os.write(fd, b"written-by-the-function\\r\\n")
    return {"tty": "opened", "injected": injected, "tty_nr": tty_nr}
"""

ENGINE_ON_A_TERMINAL = """
import fcntl, pathlib, sys, termios
fcntl.ioctl(0, termios.TIOCSCTTY, 0)  # like `nimbus server` started from a shell
sys.path.insert(0, sys.argv[1])
from harness import EngineHarness
harness = EngineHarness(pathlib.Path(sys.argv[2]), sandbox_uid_base=int(sys.argv[3]))
try:
    print(harness.invoke(harness.deploy(sys.argv[4])).payload.decode())
finally:
    harness.close()
"""


def test_environment_cannot_reach_the_servers_terminal(tmp_path: Path) -> None:
    tests_dir = str(Path(__file__).resolve().parents[1])
    master, slave = os.openpty()
    try:
        done = subprocess.run(
            [sys.executable, "-c", ENGINE_ON_A_TERMINAL, tests_dir, str(tmp_path / "nimbus"),
             "998000", textwrap.dedent(TTY_FN)],
            stdin=slave, capture_output=True, start_new_session=True, timeout=30, check=False,
        )  # fmt: skip
    finally:
        os.close(slave)
        os.close(master)
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    seen = json.loads(done.stdout.decode().strip().splitlines()[-1])
    # Neither a controlling terminal (it would be the operator's: TIOCSTI types into their
    # shell) nor a /dev/tty to open.
    assert seen["tty_nr"] == 0, seen
    assert seen["tty"] in (errno.ENXIO, errno.ENOENT), seen


NETWORK_FN = """
import socket

def attempt(family, address):
    s = socket.socket(family, socket.SOCK_STREAM)
    s.settimeout(1)
    try:
        s.connect(address)
        return "connected"
    except OSError as e:
        return e.errno
    finally:
        s.close()

def handler(event, context):
    if "abstract" in event:
        lines = open("/proc/net/unix").read().splitlines()[1:]
        names = [f[-1][1:] for f in map(str.split, lines) if len(f) == 8 and f[-1][0] == "@"]
        return {"listed": event["abstract"] in names,
                "connect": attempt(socket.AF_UNIX, "\\0" + event["abstract"])}
    return {"connect": attempt(socket.AF_INET, ("127.0.0.1", event["port"]))}
"""


def accepted(server: socket.socket) -> bool:
    server.setblocking(False)
    try:
        conn, _ = server.accept()
    except BlockingIOError:
        return False
    conn.close()
    return True


@pytest.mark.skipif(not landlock.supported(), reason="needs Landlock ABI 6 (Linux >= 6.12)")
def test_host_abstract_unix_sockets_are_unreachable(
    engine: EngineHarness, still_serving: Serving
) -> None:
    """Landlock's abstract-socket scope: no connecting to the host's abstract sockets
    (containerd-shim, D-Bus ...) even without a network namespace."""
    spec = engine.deploy(NETWORK_FN)
    name = "nimbus-hostile-" + uuid.uuid4().hex
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as server:
        server.bind("\0" + name)
        server.listen()
        result, seen = call(engine, spec, {"abstract": name})
        reached = accepted(server)
    assert result.function_error is None, seen
    still_serving()
    assert seen["connect"] != "connected" and not reached, seen


@pytest.mark.xfail(
    strict=True,
    reason="no network namespace: environments can list the host's sockets in /proc/net/unix",
)
def test_host_sockets_are_not_listed(engine: EngineHarness) -> None:
    spec = engine.deploy(NETWORK_FN)
    name = "nimbus-hostile-" + uuid.uuid4().hex
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as server:
        server.bind("\0" + name)
        server.listen()
        _, seen = call(engine, spec, {"abstract": name})
    assert not seen["listed"]


@pytest.mark.xfail(
    strict=True,
    reason="no network namespace: environments can connect to services bound to the host's "
    "loopback (databases, NATS, the Nimbus API's local endpoints ...)",
)
def test_host_loopback_services_are_unreachable(
    engine: EngineHarness, still_serving: Serving
) -> None:
    spec = engine.deploy(NETWORK_FN)
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        result, seen = call(engine, spec, {"port": server.getsockname()[1]})
        reached = accepted(server)
    assert result.function_error is None, seen
    still_serving()
    assert seen["connect"] != "connected" and not reached, seen
