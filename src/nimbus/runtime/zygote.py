"""The zygote: a lean, pre-initialised interpreter that forks execution environments.

Control protocol (SOCK_SEQPACKET, one JSON message per packet):
  engine -> zygote  {"op": "spawn", "id", "kind": "python"|"exec", "env", "handler",
                     "argv", "task_root", "confine"}  + fds [log, channel?]
  zygote -> engine  {"op": "spawned", "id", "pid"} | {"op": "failed", "id", "error"}
                    {"op": "exit", "pid", "status"}   (raw wait status)

The zygote keeps a few *blanks*: children forked ahead of time that already did
the function-independent part of entering a sandbox (their own pid namespace,
where they are PID 1 so killing them takes everything they start; private
mount/ipc/uts namespaces; their /proc). A spawn hands the request to a blank
and forks a replacement after replying, so no fork sits on a cold start's path.
"""

import gc
import json
import os
import selectors
import signal
import socket
import sys
import time
import traceback

from . import bootstrap, confine, libc, rootfs, seccomp

REFILL_DELAY_S = 0.02

# Modules most handlers import: loaded once here, shared copy-on-write by every fork.
PRELOAD = (
    "base64",
    "collections",
    "copy",
    "datetime",
    "decimal",
    "functools",
    "hashlib",
    "http.client",
    "io",
    "itertools",
    "json",
    "logging",
    "math",
    "random",
    "re",
    "string",
    "tempfile",
    "threading",
    "typing",
    "urllib.parse",
    "uuid",
    "zlib",
)


def _preload():
    import importlib

    for name in PRELOAD:
        try:
            importlib.import_module(name)
        except ImportError:
            pass


def _blank(sock, own_fds, isolate, cgroup):
    """A pre-forked child: prepare what every sandbox needs, wait for a request. Never returns."""
    try:
        for fd in own_fds:
            os.close(fd)
        signal.set_wakeup_fd(-1)
        for sig in (signal.SIGCHLD, signal.SIGINT, signal.SIGTERM, signal.SIGPIPE):
            signal.signal(sig, signal.SIG_DFL)
        libc.prctl(libc.PR_SET_PDEATHSIG, signal.SIGKILL)  # die with the zygote
        os.setsid()  # no controlling terminal, own session and process group
        if isolate:
            confine.prepare(cgroup)
        bootstrap.warm_up()
        message, fds, _flags, _addr = socket.recv_fds(sock, 1 << 20, 4)
        if not message:
            os._exit(0)
        sock.close()
        _run(json.loads(message), fds, cgroup)
    except BaseException:
        try:
            os.write(
                2, ("nimbus: environment failed to start: %s" % traceback.format_exc()).encode()
            )
        finally:
            os._exit(127)
    os._exit(0)


def _run(request, fds, cgroup):
    """Become the environment described by `request`."""
    log_fd = fds[0]
    null = os.open("/dev/null", os.O_RDONLY)
    os.dup2(null, 0)
    os.dup2(log_fd, 1)
    os.dup2(log_fd, 2)
    os.close(null)
    os.close(log_fd)
    env = request["env"]
    os.environ.clear()
    os.environ.update(env)
    if request.get("confine"):
        confine.apply(request["confine"], cgroup)
    else:
        os.chdir(request["task_root"])
    if request["kind"] == "exec":
        argv = request["argv"]
        os.execve(argv[0], argv, env)
    task_root = request["task_root"]
    version = "python%d.%d" % sys.version_info[:2]
    sys.path[:0] = [task_root, "/opt/python/lib/%s/site-packages" % version, "/opt/python"]
    bootstrap.run(socket.socket(fileno=fds[1]), request["handler"])


class Zygote(object):
    def __init__(self, control, isolate, blanks, cgroups):
        self.control = control
        self.cgroup_controllers = cgroups  # e.g. ["cpu", "memory", "pids"] or ["unified"]
        self.made = 0
        self.isolate = isolate
        self.target_blanks = blanks
        self.blanks = []  # [(pid, socket)], oldest first
        self.children = set()  # pids handed to the engine (blanks are not reported)
        self.wake_r, self.wake_w = os.pipe()
        os.set_blocking(self.wake_w, False)
        self.own_pidns = os.open("/proc/self/ns/pid", os.O_RDONLY) if isolate else -1

    def send(self, message):
        self.control.send(json.dumps(message).encode())

    def make_cgroup(self):
        """A fresh cgroup for the next blank: it joins it while nobody waits (joining can
        take milliseconds when the kernel has to synchronise RCU)."""
        if not self.cgroup_controllers:
            return None
        self.made += 1
        name = "z%d-%d" % (os.getpid(), self.made)
        for controller in self.cgroup_controllers:
            os.mkdir(confine.cgroup_dir(controller, name))
        return [self.cgroup_controllers, name]

    def drop_cgroup(self, cgroup):
        if cgroup:
            for controller in cgroup[0]:
                try:
                    os.rmdir(confine.cgroup_dir(controller, cgroup[1]))
                except OSError:
                    pass

    def fork_blank(self, inherited=()):
        """`inherited`: fds the zygote holds for a request in flight (closed in the blank)."""
        cgroup = self.make_cgroup()
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        if self.isolate:
            libc.unshare(libc.CLONE_NEWPID)  # the next child is PID 1 of a new namespace
        try:
            pid = os.fork()
        except OSError:
            pid = -1
        if pid == 0:  # the blank: never returns into the zygote's code
            ours.close()
            own = [self.control.fileno(), self.wake_r, self.wake_w]
            own += [b[1].fileno() for b in self.blanks] + list(inherited)
            if self.own_pidns >= 0:
                own.append(self.own_pidns)
            _blank(theirs, own, self.isolate, cgroup)
            os._exit(127)
        if self.isolate:
            libc.setns(self.own_pidns, libc.CLONE_NEWPID)  # later children: back to ours
        theirs.close()
        if pid < 0:
            ours.close()
            self.drop_cgroup(cgroup)
            raise OSError("fork failed")
        self.blanks.append((pid, ours, cgroup))

    def spawn(self, request, fds):
        try:
            if not self.blanks:
                self.fork_blank(inherited=fds)
            pid, sock, cgroup = self.blanks.pop(0)
            socket.send_fds(sock, [json.dumps(request).encode()], fds)
            sock.close()
        except OSError as e:
            self.send({"op": "failed", "id": request["id"], "error": str(e)})
            return
        finally:
            for fd in fds:
                os.close(fd)
        self.children.add(pid)
        self.send(
            {
                "op": "spawned",
                "id": request["id"],
                "pid": pid,
                "cgroup": cgroup[1] if cgroup else None,
            }
        )

    def reap(self):
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            if os.WIFSTOPPED(status) or os.WIFCONTINUED(status):
                # Only a process that made us its tracer stops here: never let it linger.
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                continue
            if pid in self.children:
                self.children.discard(pid)
                self.send({"op": "exit", "pid": pid, "status": status})
            else:  # a blank died unused
                for blank in [b for b in self.blanks if b[0] == pid]:
                    self.blanks.remove(blank)
                    blank[1].close()
                    self.drop_cgroup(blank[2])

    def refill(self):
        while len(self.blanks) < self.target_blanks:
            try:
                self.fork_blank()
            except OSError:
                return

    def serve(self):
        signal.set_wakeup_fd(self.wake_w)
        signal.signal(signal.SIGCHLD, lambda *_: None)
        selector = selectors.DefaultSelector()
        selector.register(self.control, selectors.EVENT_READ)
        selector.register(self.wake_r, selectors.EVENT_READ)
        self.refill()
        refill_at = None
        while True:
            timeout = None if refill_at is None else max(0.0, refill_at - time.monotonic())
            for key, _ in selector.select(timeout):
                if key.fileobj is self.control:
                    try:
                        message, fds, _flags, _addr = socket.recv_fds(self.control, 1 << 20, 4)
                    except OSError:  # the engine went away
                        message = b""
                    if not message:
                        self.shutdown()
                        return
                    self.spawn(json.loads(message), fds)
                    # Refill a little later: forking now would compete for the CPU with
                    # the environment that is starting (on 2 cores that doubles a cold start).
                    refill_at = time.monotonic() + REFILL_DELAY_S
                else:
                    os.read(self.wake_r, 4096)
            self.reap()
            if refill_at is not None and time.monotonic() >= refill_at:
                refill_at = None
                self.refill()

    def shutdown(self):
        for pid in list(self.children) + [b[0] for b in self.blanks]:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def main(spec_json):
    spec = json.loads(spec_json)
    libc.prctl(libc.PR_SET_PDEATHSIG, signal.SIGKILL)  # die with the engine
    control = socket.socket(fileno=spec["control_fd"])
    _preload()
    rootfs_spec = spec.get("rootfs") or {}
    if spec.get("sdk_path"):  # after the function's own paths (they are prepended per child)
        sys.path.append(spec["sdk_path"])
    zygote = Zygote(
        control,
        isolate=bool(rootfs_spec),
        blanks=spec.get("blanks", 2),
        cgroups=sorted(rootfs_spec.get("cgroups", {})),
    )
    if spec.get("rootfs"):
        rootfs.enter(spec["rootfs"])
        seccomp.prepare()
    gc.collect()
    gc.freeze()
    zygote.send(
        {
            "op": "ready",
            "pid": os.getpid(),
            "python": sys.version.split()[0],
            "cache_tag": sys.implementation.cache_tag,  # bytecode of the SDK is made for it
        }
    )
    zygote.serve()
