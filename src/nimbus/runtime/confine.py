"""Confine an environment (runs in the forked child, as root, before any user code).

`prepare` runs ahead of time in a blank (see zygote.py), `apply` once the
function is known. The zygote already made the child PID 1 of a new pid
namespace inside the template root (rootfs.py).
"""

import os
import resource
import signal

from . import landlock, libc, seccomp

TASK_ROOT = "/var/task"
HARDENED = libc.MS_NOSUID | libc.MS_NODEV


def cgroup_dir(controller, name):
    """Where the node's cgroups are seen from inside the template root."""
    return "/.nimbus/cgroup/%s/%s" % (controller, name)


def prepare(cgroup):
    """Function-independent: join our cgroup, private mount/ipc/uts namespaces, our /proc."""
    if cgroup:
        controllers, name = cgroup
        for controller in controllers:
            with open(cgroup_dir(controller, name) + "/cgroup.procs", "w") as f:
                f.write("0")
    libc.unshare(libc.CLONE_NEWNS | libc.CLONE_NEWIPC | libc.CLONE_NEWUTS)
    libc.mount("proc", "/proc", "proc", HARDENED | libc.MS_NOEXEC)
    libc.sethostname("localhost")


def apply(spec, cgroup):
    """Set our cgroup limits, mount /tmp, /dev/shm and the code, hide Nimbus, drop privileges."""
    if cgroup:
        for controller, filename, value in spec.get("cgroup_limits", ()):
            with open("%s/%s" % (cgroup_dir(controller, cgroup[1]), filename), "w") as f:
                f.write(value)
    libc.mount("tmpfs", "/tmp", "tmpfs", HARDENED, "size=%dm,mode=1777" % spec["tmp_mb"])
    libc.mount("tmpfs", "/dev/shm", "tmpfs", HARDENED | libc.MS_NOEXEC, "size=64m,mode=1777")
    libc.bind("/.nimbus/code/" + spec["code"], TASK_ROOT, readonly=True, flags=HARDENED)
    libc.umount("/.nimbus", libc.MNT_DETACH)
    os.chdir(TASK_ROOT)
    limits = (
        (resource.RLIMIT_NOFILE, spec["nofile"]),
        (resource.RLIMIT_NPROC, spec["nproc"]),
        (resource.RLIMIT_CORE, 0),
    )
    for which, value in limits:
        resource.setrlimit(which, (value, value))
    libc.drop_capability_bounding_set()
    uid = spec["uid"]
    os.setgroups([])
    os.setresgid(uid, uid, uid)
    os.setresuid(uid, uid, uid)
    # Changing credentials clears the parent-death signal: set it again afterwards.
    libc.prctl(libc.PR_SET_PDEATHSIG, signal.SIGKILL)
    landlock.restrict_scopes()
    seccomp.install_filter()
