"""The zygote: a lean, pre-initialised interpreter that forks execution environments.

Control protocol (SOCK_SEQPACKET, one JSON message per packet):
  engine -> zygote  {"op": "spawn", "id", "kind": "python"|"exec", "env", "handler",
                     "argv", "task_root", "confine"}  + fds [log, channel?]
  zygote -> engine  {"op": "spawned", "id", "pid"} | {"op": "failed", "id", "error"}
                    {"op": "exit", "pid", "status"}   (raw wait status)
With isolation each child is PID 1 of its own pid namespace (unshare(NEWPID)
before fork, setns back after), so killing it takes every process it started.
"""

import gc
import json
import os
import selectors
import signal
import socket
import sys
import traceback

from . import bootstrap, confine, libc, rootfs, seccomp

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


def _child(request, fds, own_fds):
    """In the forked child: never returns."""
    try:
        for fd in own_fds:
            os.close(fd)
        signal.set_wakeup_fd(-1)
        for sig in (signal.SIGCHLD, signal.SIGINT, signal.SIGTERM, signal.SIGPIPE):
            signal.signal(sig, signal.SIG_DFL)
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
            confine.apply(request["confine"])
        else:
            os.chdir(request["task_root"])
        if request["kind"] == "exec":
            argv = request["argv"]
            os.execve(argv[0], argv, env)
        task_root = request["task_root"]
        version = "python%d.%d" % sys.version_info[:2]
        sys.path[:0] = [task_root, "/opt/python/lib/%s/site-packages" % version, "/opt/python"]
        bootstrap.run(socket.socket(fileno=fds[1]), request["handler"])
    except BaseException:
        try:
            os.write(
                2, ("nimbus: environment failed to start: %s" % traceback.format_exc()).encode()
            )
        finally:
            os._exit(127)
    os._exit(0)


class Zygote(object):
    def __init__(self, control, isolate):
        self.control = control
        self.isolate = isolate
        self.children = set()
        self.wake_r, self.wake_w = os.pipe()
        os.set_blocking(self.wake_w, False)
        self.own_pidns = os.open("/proc/self/ns/pid", os.O_RDONLY) if isolate else -1

    def send(self, message):
        self.control.send(json.dumps(message).encode())

    def spawn(self, request, fds):
        try:
            if self.isolate:
                libc.unshare(libc.CLONE_NEWPID)
            pid = os.fork()
        except OSError as e:
            for fd in fds:
                os.close(fd)
            self.send({"op": "failed", "id": request["id"], "error": str(e)})
            return
        if pid == 0:
            own = [self.control.fileno(), self.wake_r, self.wake_w]
            if self.own_pidns >= 0:
                own.append(self.own_pidns)
            _child(request, fds, own)
        if self.isolate:
            libc.setns(self.own_pidns, libc.CLONE_NEWPID)
        for fd in fds:
            os.close(fd)
        self.children.add(pid)
        self.send({"op": "spawned", "id": request["id"], "pid": pid})

    def reap(self):
        while self.children:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            self.children.discard(pid)
            self.send({"op": "exit", "pid": pid, "status": status})

    def serve(self):
        signal.set_wakeup_fd(self.wake_w)
        signal.signal(signal.SIGCHLD, lambda *_: None)
        selector = selectors.DefaultSelector()
        selector.register(self.control, selectors.EVENT_READ)
        selector.register(self.wake_r, selectors.EVENT_READ)
        while True:
            for key, _ in selector.select():
                if key.fileobj is self.control:
                    message, fds, _flags, _addr = socket.recv_fds(self.control, 1 << 20, 4)
                    if not message:
                        self.shutdown()
                        return
                    self.spawn(json.loads(message), fds)
                else:
                    os.read(self.wake_r, 4096)
            self.reap()

    def shutdown(self):
        for pid in list(self.children):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def main(spec_json):
    spec = json.loads(spec_json)
    libc.prctl(libc.PR_SET_PDEATHSIG, signal.SIGKILL)  # die with the engine
    control = socket.socket(fileno=spec["control_fd"])
    _preload()
    zygote = Zygote(control, isolate=bool(spec.get("rootfs")))
    if spec.get("rootfs"):
        rootfs.enter(spec["rootfs"])
        seccomp.prepare()
    gc.collect()
    gc.freeze()
    zygote.send({"op": "ready", "pid": os.getpid(), "python": sys.version.split()[0]})
    zygote.serve()
