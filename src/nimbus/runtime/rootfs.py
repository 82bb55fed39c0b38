"""The zygote's template root: a minimal read-only filesystem every environment starts from.

Built once per zygote (in its own mount namespace) so that each fork only has
to add its private parts (/tmp, /proc, its code): the host's data directory,
other functions' code and the rest of the host are simply not there.

Layout: / (tmpfs, read-only), the host's system directories bound read-only at
their own paths, /dev with a few device nodes, empty mount points (/tmp, /proc,
/var/task, /dev/shm, /opt) and /.nimbus (the code store and this node's
cgroups; every environment detaches it before running user code).
"""

import os

from . import libc

# No tty: an environment must never reach the operator's terminal (TIOCSTI keystrokes).
DEVICES = ("null", "zero", "full", "random", "urandom")
MOUNT_POINTS = ("tmp", "proc", "var/task", "var/runtime", "opt", "dev/shm", ".nimbus")


def _inside(root, path):
    return os.path.join(root, path.lstrip("/"))


def _bind_host_path(root, path):
    """Bind `path` read-only at the same place (recreating a symlink as a symlink)."""
    target = _inside(root, path)
    if os.path.islink(path):
        os.makedirs(os.path.dirname(target), exist_ok=True)
        if not os.path.lexists(target):
            os.symlink(os.readlink(path), target)
        return
    if not os.path.exists(path) or (os.path.lexists(target) and os.path.ismount(target)):
        return
    if os.path.isdir(path):
        os.makedirs(target, exist_ok=True)
    else:
        os.makedirs(os.path.dirname(target), exist_ok=True)
        open(target, "a").close()
    libc.bind(path, target, readonly=True, flags=libc.MS_NOSUID | libc.MS_NODEV)


def _populate_dev(root):
    dev = _inside(root, "/dev")
    libc.mount("tmpfs", dev, "tmpfs", libc.MS_NOSUID | libc.MS_NOEXEC, "size=64k,mode=755")
    for name in DEVICES:
        node = os.path.join(dev, name)
        open(node, "a").close()
        libc.bind("/dev/" + name, node, readonly=False)
    for name, target in (
        ("fd", "/proc/self/fd"),
        ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"),
        ("stderr", "/proc/self/fd/2"),
    ):
        os.symlink(target, os.path.join(dev, name))
    os.makedirs(os.path.join(dev, "shm"))
    libc.mount(
        None,
        dev,
        None,
        libc.MS_REMOUNT | libc.MS_RDONLY | libc.MS_NOSUID | libc.MS_NOEXEC,
        "size=64k,mode=755",
    )


def enter(spec):
    """Build the template root described by `spec` and pivot into it."""
    root = spec["root"]
    libc.unshare(libc.CLONE_NEWNS)
    libc.mount(None, "/", None, libc.MS_REC | libc.MS_PRIVATE)
    libc.mount("tmpfs", root, "tmpfs", libc.MS_NOSUID | libc.MS_NODEV, "size=1m,mode=755")
    for path in MOUNT_POINTS:
        os.makedirs(_inside(root, path), exist_ok=True)
    os.chmod(_inside(root, "/tmp"), 0o1777)
    for path in spec["ro_binds"]:
        _bind_host_path(root, path)
    for path in spec.get("hide", ()):
        target = _inside(root, path)
        if os.path.exists(target):
            libc.mount("/dev/null", target, None, libc.MS_BIND)
    _populate_dev(root)
    libc.bind(spec["runtime_dir"], _inside(root, "/var/runtime"), readonly=True)
    if spec.get("sdk"):  # boto3 & co., as Lambda's runtimes include them
        host_dir, inner = spec["sdk"]
        os.makedirs(_inside(root, inner), exist_ok=True)
        flags = libc.MS_NOSUID | libc.MS_NODEV
        libc.bind(host_dir, _inside(root, inner), readonly=True, flags=flags)
    # Private area: the code store and our cgroups, detached by every environment.
    private = _inside(root, "/.nimbus")
    libc.mount("tmpfs", private, "tmpfs", libc.MS_NOSUID | libc.MS_NODEV, "size=64k,mode=700")
    os.makedirs(os.path.join(private, "code"))
    libc.bind(
        spec["code_store"],
        os.path.join(private, "code"),
        readonly=True,
        flags=libc.MS_NOSUID | libc.MS_NODEV,
    )
    for name, host_dir in sorted(spec.get("cgroups", {}).items()):
        inner = os.path.join(private, "cgroup", name)
        os.makedirs(inner)
        libc.bind(host_dir, inner, readonly=False)
    os.chdir(root)
    libc.pivot_root(".", ".")
    libc.umount(".", libc.MNT_DETACH)
    os.chdir("/")
    libc.mount(
        None,
        "/",
        None,
        libc.MS_REMOUNT | libc.MS_RDONLY | libc.MS_NOSUID | libc.MS_NODEV,
        "size=1m,mode=755",
    )
