"""Confine a freshly forked environment (runs in the child, as root, before user code).

The zygote already placed the child in a new pid namespace (it is PID 1 there)
and in the template root. Here it joins its cgroups, takes private mount, ipc
and uts namespaces, mounts its own /tmp, /dev/shm, /proc and code, detaches the
node's private area, drops to its own unprivileged uid and installs seccomp.
"""

import os
import resource
import signal

from . import libc, seccomp

TASK_ROOT = "/var/task"


def apply(spec):
    for procs in spec.get("cgroup_procs", ()):
        with open(procs, "w") as f:
            f.write("0")
    libc.unshare(libc.CLONE_NEWNS | libc.CLONE_NEWIPC | libc.CLONE_NEWUTS)
    hardened = libc.MS_NOSUID | libc.MS_NODEV
    libc.mount("tmpfs", "/tmp", "tmpfs", hardened, "size=%dm,mode=1777" % spec["tmp_mb"])
    libc.mount("tmpfs", "/dev/shm", "tmpfs", hardened | libc.MS_NOEXEC, "size=64m,mode=1777")
    libc.bind("/.nimbus/code/" + spec["code"], TASK_ROOT, readonly=True, flags=hardened)
    libc.mount("proc", "/proc", "proc", hardened | libc.MS_NOEXEC)
    libc.umount("/.nimbus", libc.MNT_DETACH)
    libc.sethostname(spec.get("hostname", "localhost"))
    os.chdir(TASK_ROOT)
    limits = (
        (resource.RLIMIT_NOFILE, spec["nofile"]),
        (resource.RLIMIT_NPROC, spec["nproc"]),
        (resource.RLIMIT_CORE, 0),
    )
    for which, value in limits:
        resource.setrlimit(which, (value, value))
    uid = spec["uid"]
    os.setgroups([])
    os.setresgid(uid, uid, uid)
    os.setresuid(uid, uid, uid)
    # Changing credentials clears the parent-death signal: set it afterwards.
    libc.prctl(libc.PR_SET_PDEATHSIG, signal.SIGKILL)
    seccomp.install_filter()
