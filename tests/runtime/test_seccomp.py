"""The seccomp deny-list: real syscalls in a forked child, plus the BPF program itself.

Each probe is chosen so that, without the filter, the kernel would answer with a
different errno (ENOENT, EBADF, EINVAL...) instead of EPERM, and would not touch
the host: a broken filter makes the tests fail rather than mount things.
"""

import ctypes
import errno
import glob
import importlib.util
import json
import os
import re
import signal
import socket
import struct
import subprocess
import sys
import threading
from pathlib import Path

import pytest

MODULE_PATH = Path(__file__).resolve().parents[2] / "src" / "nimbus" / "runtime" / "seccomp.py"
_spec = importlib.util.spec_from_file_location("nimbus_runtime_seccomp", MODULE_PATH)
seccomp = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(seccomp)

MACHINE = os.uname().machine
NRS = seccomp._ARCHES.get(MACHINE, {}).get("syscalls", {})
EPERM = errno.EPERM

pytestmark = pytest.mark.skipif(
    sys.platform != "linux" or MACHINE not in seccomp._ARCHES, reason="Linux x86_64/aarch64 only"
)

MISSING = b"/nonexistent-nimbus-seccomp-test"


def _libc():
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    libc.ptrace.restype = ctypes.c_long
    return libc


def _errno_of(ret):
    """0 on success, else errno (the libc convention: -1 and errno)."""
    return 0 if ret != -1 else ctypes.get_errno()


def _syscall(nr, *args):
    return _errno_of(_libc().syscall(ctypes.c_long(nr), *(ctypes.c_long(a) for a in args)))


def _fork_and_wait(child):
    """Run child() in a fresh process (it must os._exit); return its exit code."""
    pid = os.fork()
    if pid == 0:
        try:
            child()
        finally:
            os._exit(99)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


def _probes():
    """Runs in the filtered child: name -> result (errno, exit code or bool)."""
    libc = _libc()
    libc.mount.argtypes = [ctypes.c_char_p] * 3 + [ctypes.c_ulong, ctypes.c_char_p]
    r = {}
    # Denied outright (unfiltered, root would get ENOENT / EBADF / EINVAL).
    r["mount"] = _errno_of(libc.mount(b"none", MISSING, b"tmpfs", 0, None))
    r["umount2"] = _errno_of(libc.umount2(MISSING, 0))
    r["setns"] = _errno_of(libc.setns(-1, 0))
    r["bpf"] = _syscall(NRS["bpf"], 0xFFFF, 0, 0)
    r["sethostname"] = _errno_of(libc.sethostname(b"x" * 200, 200))
    # Namespace flags are refused, other unshare/clone flags are not.
    # (clone first: a successful unshare(CLONE_NEWUSER) would make it fail anyway.)
    pid = libc.syscall(ctypes.c_long(NRS["clone"]), ctypes.c_ulong(0x10000000 | signal.SIGCHLD),
                       *[ctypes.c_long(0)] * 4)  # fmt: skip
    if pid == 0:  # only reached if the filter let it through
        os._exit(0)
    if pid > 0:
        os.waitpid(pid, 0)
    r["clone_newuser"] = ctypes.get_errno() if pid == -1 else 0
    for name in ("CLONE_NEWUSER", "CLONE_NEWNS", "CLONE_NEWNET", "CLONE_NEWTIME"):
        r["unshare_" + name] = _errno_of(libc.unshare(getattr(seccomp, name)))
    r["unshare_files"] = _errno_of(libc.unshare(0x400))  # CLONE_FILES
    r["clone3"] = _syscall(NRS["clone3"], 0, 0)  # unfiltered: EINVAL (size 0)
    if MACHINE == "x86_64":
        r["x32_getpid"] = _syscall(0x40000000 | 39)
    r["personality_query"] = libc.personality(ctypes.c_ulong(0xFFFFFFFF)) >= 0
    # Ordinary work keeps working.
    r["fork"] = _fork_and_wait(lambda: os._exit(0))
    r["fork_inherits_filter"] = _fork_and_wait(
        lambda: os._exit(_errno_of(libc.mount(b"none", MISSING, b"tmpfs", 0, None)))
    )
    seen = []
    t = threading.Thread(target=lambda: seen.append(threading.get_ident()))
    t.start()
    t.join(10)
    r["thread"] = len(seen) == 1 and seen[0] != threading.get_ident()
    r["subprocess"] = subprocess.run(["/bin/true"], timeout=30).returncode
    spawned = os.posix_spawn("/bin/true", ["/bin/true"], dict(os.environ))
    r["posix_spawn"] = os.waitstatus_to_exitcode(os.waitpid(spawned, 0)[1])
    exec_probe = (
        "import ctypes; libc = ctypes.CDLL(None, use_errno=True); "
        f"libc.mount(b'none', {MISSING!r}, b'tmpfs', 0, None); print(ctypes.get_errno())"
    )
    out = subprocess.run([sys.executable, "-c", exec_probe], capture_output=True, timeout=60)
    r["exec_inherits_filter"] = out.stdout.decode().strip()
    path = f"/tmp/nimbus-seccomp-{os.getpid()}"
    with open(path, "w") as f:
        f.write("hello")
    with open(path) as f:
        r["file_io"] = f.read()
    os.unlink(path)
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        r["socket"] = s.getsockname()[1] > 0
    a, b = socket.socketpair()
    a.sendall(b"ping")
    r["socketpair"] = b.recv(4).decode()
    a.close()
    b.close()
    # Last: were the filter broken, TRACEME would make this child a tracee of pytest.
    r["ptrace_traceme"] = _errno_of(libc.ptrace(ctypes.c_long(0), 0, None, None))
    return r


@pytest.fixture(scope="module")
def probes():
    rfd, wfd = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(rfd)
        try:
            seccomp.install_filter()
            result = _probes()
        except BaseException as exc:
            result = {"error": repr(exc)}
        with os.fdopen(wfd, "w") as f:
            json.dump(result, f)
        os._exit(0)
    os.close(wfd)
    with os.fdopen(rfd) as f:
        data = f.read()
    _, status = os.waitpid(pid, 0)
    if os.WIFSTOPPED(status):
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    result = json.loads(data)
    assert "error" not in result, result["error"]
    return result


@pytest.mark.parametrize(
    "name",
    ["mount", "umount2", "setns", "bpf", "sethostname", "ptrace_traceme", "unshare_CLONE_NEWUSER",
     "unshare_CLONE_NEWNS", "unshare_CLONE_NEWNET", "unshare_CLONE_NEWTIME", "clone_newuser"]
    + (["x32_getpid"] if MACHINE == "x86_64" else []),
)  # fmt: skip
def test_denied_with_eperm(probes, name):
    assert probes[name] == EPERM, f"{name}: {os.strerror(probes[name] or 0)}"


def test_clone3_reports_enosys_so_glibc_falls_back(probes):
    assert probes["clone3"] == errno.ENOSYS


def test_ordinary_work_still_allowed(probes):
    assert probes["unshare_files"] == 0
    assert probes["personality_query"] is True
    assert probes["fork"] == 0
    assert probes["thread"] is True
    assert probes["subprocess"] == 0
    assert probes["posix_spawn"] == 0
    assert probes["file_io"] == "hello"
    assert probes["socket"] is True
    assert probes["socketpair"] == "ping"


def test_filter_inherited_by_children_and_exec(probes):
    assert probes["fork_inherits_filter"] == EPERM
    assert probes["exec_inherits_filter"] == str(EPERM)


# --- the BPF program, checked by a tiny interpreter (covers aarch64 on any host) ---


def _run_bpf(program, nr, arch, arg0=0):
    data = struct.pack("=iIQ6Q", nr, arch, 0, arg0, 0, 0, 0, 0, 0)
    pc, acc = 0, 0
    while True:
        code, jt, jf, k = program[pc]
        pc += 1
        if code == 0x20:  # ld [k]
            acc = struct.unpack_from("=I", data, k)[0]
        elif code == 0x06:  # ret k
            return k
        elif code in (0x15, 0x35, 0x45):  # jeq, jge, jset
            hit = {0x15: acc == k, 0x35: acc >= k, 0x45: bool(acc & k)}[code]
            pc += jt if hit else jf
        else:
            raise AssertionError(f"unexpected opcode {code:#x}")


ERR_EPERM = seccomp.SECCOMP_RET_ERRNO | EPERM
ALLOW = seccomp.SECCOMP_RET_ALLOW


@pytest.mark.parametrize("machine", sorted(seccomp._ARCHES))
def test_program_decisions(machine):
    arch = seccomp._ARCHES[machine]
    nrs, audit = arch["syscalls"], arch["audit_arch"]
    prog = seccomp.build_program(machine)
    assert len(prog) < 4096 and prog[-1][0] == 0x06
    for name in seccomp.DENIED_SYSCALLS:
        if name in nrs:
            assert _run_bpf(prog, nrs[name], audit) == ERR_EPERM, name
    read_nr = 0 if machine == "x86_64" else 63
    assert _run_bpf(prog, read_nr, audit) == ALLOW
    assert _run_bpf(prog, read_nr, 0x40000003) == seccomp.SECCOMP_RET_KILL_PROCESS  # i386
    assert _run_bpf(prog, nrs["clone3"], audit) == seccomp.SECCOMP_RET_ERRNO | errno.ENOSYS
    fork_flags = 0x01200000 | signal.SIGCHLD  # CLONE_CHILD_SETTID | CLONE_CHILD_CLEARTID
    thread_flags = 0x003D0F00  # glibc pthread_create
    for flags in (fork_flags, thread_flags, 0x4111):  # last: CLONE_VM|CLONE_VFORK|SIGCHLD
        assert _run_bpf(prog, nrs["clone"], audit, flags) == ALLOW
    assert _run_bpf(prog, nrs["unshare"], audit, 0x400) == ALLOW
    for flag in ("NEWUSER", "NEWNS", "NEWPID", "NEWNET", "NEWUTS", "NEWIPC", "NEWCGROUP"):
        bit = getattr(seccomp, "CLONE_" + flag)
        assert _run_bpf(prog, nrs["clone"], audit, bit | signal.SIGCHLD) == ERR_EPERM, flag
        assert _run_bpf(prog, nrs["unshare"], audit, bit) == ERR_EPERM, flag
        # Only the low 32 bits are flags: high garbage must not hide them.
        assert _run_bpf(prog, nrs["unshare"], audit, (1 << 40) | bit) == ERR_EPERM, flag
    assert _run_bpf(prog, nrs["unshare"], audit, seccomp.CLONE_NEWTIME) == ERR_EPERM
    x32 = _run_bpf(prog, 0x40000000 | read_nr, audit)
    assert x32 == (ERR_EPERM if arch["x32"] else ALLOW)


def test_unsupported_architecture_raises():
    with pytest.raises(OSError):
        seccomp.build_program("sparc64")


@pytest.mark.parametrize(
    "machine, header",
    [("x86_64", "/usr/include/x86_64-linux-gnu/asm/unistd_64.h"),
     ("aarch64", "/usr/include/asm-generic/unistd.h")],
)  # fmt: skip
def test_syscall_numbers_match_kernel_headers(machine, header):
    if not os.path.exists(header):
        pytest.skip(f"{header} not installed")
    text = Path(header).read_text()
    for name, nr in seccomp._ARCHES[machine]["syscalls"].items():
        m = re.search(rf"^#define __NR(?:3264)?_{name}\s+(\d+)", text, re.M)
        assert m, f"{name} missing from {header}"
        assert int(m.group(1)) == nr, name


# --- the module under each interpreter a function may use (python3.9+) ---

INTERPRETER_PROBE = """
import ctypes, importlib.util, json, os, sys
spec = importlib.util.spec_from_file_location("seccomp", sys.argv[1])
mod = importlib.util.module_from_spec(spec)
spec.loader.exec_module(mod)
mod.install_filter()
libc = ctypes.CDLL(None, use_errno=True)
libc.mount(b"none", b"/nonexistent-nimbus-seccomp-test", b"tmpfs", 0, None)
mount_errno = ctypes.get_errno()
pid = os.fork()
if pid == 0:
    os._exit(0)
print(json.dumps({"version": sys.version_info[:2], "mount": mount_errno,
                  "fork": os.waitpid(pid, 0)[1]}))
"""


@pytest.mark.parametrize("minor", [9, 10, 11, 12, 13])
def test_module_works_under_interpreter(minor):
    found = sorted(glob.glob(f"/root/.pyenv/versions/3.{minor}*/bin/python3.{minor}"))
    if not found:
        pytest.skip(f"python3.{minor} not installed")
    out = subprocess.run(
        [found[-1], "-I", "-c", INTERPRETER_PROBE, str(MODULE_PATH)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert result == {"version": [3, minor], "mount": EPERM, "fork": 0}
