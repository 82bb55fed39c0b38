"""Seccomp-BPF deny-list installed in a sandboxed function process (stdlib only, python3.9+).

Everything is allowed except system calls that let code escape or reconfigure the
sandbox (mounts, namespaces, tracing, kernel modules, keyrings, clocks...), which
fail with EPERM. The filter is inherited by all children and cannot be removed.
"""

import ctypes
import errno
import os
import struct

DENIED_SYSCALLS = (
    "mount", "umount2", "pivot_root", "chroot", "ptrace", "process_vm_readv",
    "process_vm_writev", "kexec_load", "kexec_file_load", "bpf", "init_module",
    "finit_module", "delete_module", "reboot", "swapon", "swapoff", "setns", "keyctl",
    "add_key", "request_key", "perf_event_open", "open_by_handle_at", "name_to_handle_at",
    "acct", "settimeofday", "clock_settime", "syslog", "userfaultfd", "quotactl", "iopl",
    "ioperm", "lookup_dcookie", "vhangup", "nfsservctl", "uselib", "sethostname",
    "setdomainname", "fsopen", "fsconfig", "fsmount", "fspick", "move_mount", "open_tree",
    "mount_setattr",
)  # fmt: skip

# Per-architecture syscall numbers (x86_64: asm/unistd_64.h, aarch64: asm-generic/unistd.h).
# Names an architecture lacks (iopl, ioperm, uselib on aarch64) are simply absent.
_ARCHES = {
    "x86_64": {
        "audit_arch": 0xC000003E,
        "x32": True,
        "syscalls": {
            "mount": 165, "umount2": 166, "pivot_root": 155, "chroot": 161, "ptrace": 101,
            "process_vm_readv": 310, "process_vm_writev": 311, "kexec_load": 246,
            "kexec_file_load": 320, "bpf": 321, "init_module": 175, "finit_module": 313,
            "delete_module": 176, "reboot": 169, "swapon": 167, "swapoff": 168, "setns": 308,
            "keyctl": 250, "add_key": 248, "request_key": 249, "perf_event_open": 298,
            "open_by_handle_at": 304, "name_to_handle_at": 303, "acct": 163,
            "settimeofday": 164, "clock_settime": 227, "syslog": 103, "userfaultfd": 323,
            "quotactl": 179, "iopl": 172, "ioperm": 173, "lookup_dcookie": 212, "vhangup": 153,
            "nfsservctl": 180, "uselib": 134, "sethostname": 170, "setdomainname": 171,
            "fsopen": 430, "fsconfig": 431, "fsmount": 432, "fspick": 433, "move_mount": 429,
            "open_tree": 428, "mount_setattr": 442,
            "unshare": 272, "clone": 56, "clone3": 435, "seccomp": 317,
        },
    },
    "aarch64": {
        "audit_arch": 0xC00000B7,
        "x32": False,
        "syscalls": {
            "mount": 40, "umount2": 39, "pivot_root": 41, "chroot": 51, "ptrace": 117,
            "process_vm_readv": 270, "process_vm_writev": 271, "kexec_load": 104,
            "kexec_file_load": 294, "bpf": 280, "init_module": 105, "finit_module": 273,
            "delete_module": 106, "reboot": 142, "swapon": 224, "swapoff": 225, "setns": 268,
            "keyctl": 219, "add_key": 217, "request_key": 218, "perf_event_open": 241,
            "open_by_handle_at": 265, "name_to_handle_at": 264, "acct": 89,
            "settimeofday": 170, "clock_settime": 112, "syslog": 116, "userfaultfd": 282,
            "quotactl": 60, "lookup_dcookie": 18, "vhangup": 58, "nfsservctl": 42,
            "sethostname": 161, "setdomainname": 162, "fsopen": 430, "fsconfig": 431,
            "fsmount": 432, "fspick": 433, "move_mount": 429, "open_tree": 428,
            "mount_setattr": 442,
            "unshare": 97, "clone": 220, "clone3": 435, "seccomp": 277,
        },
    },
}  # fmt: skip

CLONE_NEWTIME = 0x00000080
CLONE_NEWNS = 0x00020000
CLONE_NEWCGROUP = 0x02000000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
# In clone() the low byte of flags is the exit signal, so CLONE_NEWTIME (0x80) is not a
# namespace flag there (time namespaces can only be made by unshare/clone3).
_CLONE_NS_FLAGS = (CLONE_NEWNS | CLONE_NEWCGROUP | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER
                   | CLONE_NEWPID | CLONE_NEWNET)  # fmt: skip
_UNSHARE_NS_FLAGS = _CLONE_NS_FLAGS | CLONE_NEWTIME

# Classic BPF opcodes and seccomp constants (linux/filter.h, linux/seccomp.h).
_LD_W_ABS = 0x20  # BPF_LD | BPF_W | BPF_ABS
_JEQ_K = 0x15  # BPF_JMP | BPF_JEQ | BPF_K
_JGE_K = 0x35  # BPF_JMP | BPF_JGE | BPF_K
_JSET_K = 0x45  # BPF_JMP | BPF_JSET | BPF_K
_RET_K = 0x06  # BPF_RET | BPF_K

SECCOMP_RET_KILL_PROCESS = 0x80000000
SECCOMP_RET_ERRNO = 0x00050000
SECCOMP_RET_ALLOW = 0x7FFF0000
X32_SYSCALL_BIT = 0x40000000

# struct seccomp_data { int nr; __u32 arch; __u64 instruction_pointer; __u64 args[6]; }
_OFF_NR = 0
_OFF_ARCH = 4
_OFF_ARG0_LO = 16  # low 32 bits of args[0] (both supported arches are little-endian)

PR_SET_NO_NEW_PRIVS = 38
PR_SET_SECCOMP = 22
SECCOMP_MODE_FILTER = 2
SECCOMP_SET_MODE_FILTER = 1
SECCOMP_FILTER_FLAG_TSYNC = 1


def _assemble(code):
    """Resolve symbolic jump labels: code is a list of (op, jt, jf, k) or label strings."""
    where, insns = {}, []
    for item in code:
        if isinstance(item, str):
            where[item] = len(insns)
        else:
            insns.append(item)
    out = []
    for pc, (op, jt, jf, k) in enumerate(insns):
        offsets = []
        for target in (jt, jf):
            off = 0 if target is None else where[target] - pc - 1
            if not 0 <= off <= 255:  # jt/jf are 8-bit forward offsets
                raise ValueError("BPF jump out of range at %d" % pc)
            offsets.append(off)
        out.append((op, offsets[0], offsets[1], k))
    return out


def build_program(machine=None):
    """Return the filter for an architecture as a list of (code, jt, jf, k)."""
    machine = machine or os.uname().machine
    arch = _ARCHES.get(machine)
    if arch is None:
        raise OSError(errno.ENOTSUP, "seccomp: unsupported architecture %r" % machine)
    nrs = arch["syscalls"]
    code = [
        # A syscall made through another ABI (e.g. int 0x80 on x86_64) has other numbers.
        (_LD_W_ABS, None, None, _OFF_ARCH),
        (_JEQ_K, None, "kill", arch["audit_arch"]),
        (_LD_W_ABS, None, None, _OFF_NR),
    ]
    if arch["x32"]:
        # x32 syscalls share AUDIT_ARCH_X86_64 but have bit 30 set in nr.
        code.append((_JGE_K, "eperm", None, X32_SYSCALL_BIT))
    code += [
        # clone3 passes flags in a struct BPF cannot read: make glibc fall back to clone.
        (_JEQ_K, "enosys", None, nrs["clone3"]),
        (_JEQ_K, "clone", None, nrs["clone"]),
        (_JEQ_K, "unshare", None, nrs["unshare"]),
    ]
    code += [(_JEQ_K, "eperm", None, nrs[name]) for name in DENIED_SYSCALLS if name in nrs]
    code += [
        (_RET_K, None, None, SECCOMP_RET_ALLOW),
        # fork and threads use clone without namespace flags: only those are refused.
        "clone",
        (_LD_W_ABS, None, None, _OFF_ARG0_LO),
        (_JSET_K, "eperm", "allow", _CLONE_NS_FLAGS),
        "unshare",
        (_LD_W_ABS, None, None, _OFF_ARG0_LO),
        (_JSET_K, "eperm", "allow", _UNSHARE_NS_FLAGS),
        "kill",
        (_RET_K, None, None, SECCOMP_RET_KILL_PROCESS),
        "eperm",
        (_RET_K, None, None, SECCOMP_RET_ERRNO | errno.EPERM),
        "enosys",
        (_RET_K, None, None, SECCOMP_RET_ERRNO | errno.ENOSYS),
        "allow",
        (_RET_K, None, None, SECCOMP_RET_ALLOW),
    ]
    return _assemble(code)


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


_prepared = []  # [(machine, blob, prog, libc)]: built once in the zygote, reused by every fork


def prepare():
    """Build the program once (the zygote calls this before forking: ~0.5 ms saved per fork)."""
    if not _prepared:
        machine = os.uname().machine
        program = build_program(machine)
        blob = ctypes.create_string_buffer(b"".join(struct.pack("=HBBI", *i) for i in program))
        prog = _SockFprog(len(program), ctypes.addressof(blob))
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl.restype = ctypes.c_int
        libc.syscall.restype = ctypes.c_long
        _prepared.append((machine, blob, prog, libc))
    return _prepared[0]


def install_filter():
    """Install the deny-list filter on every thread of the calling process (irreversible)."""
    machine, _blob, prog, libc = prepare()
    ulong = ctypes.c_ulong
    # Required to install a filter without CAP_SYS_ADMIN; also blocks setuid escalation.
    if libc.prctl(PR_SET_NO_NEW_PRIVS, ulong(1), ulong(0), ulong(0), ulong(0)) != 0:
        err = ctypes.get_errno()
        raise OSError(err, "prctl(PR_SET_NO_NEW_PRIVS): %s" % os.strerror(err))
    # seccomp() with TSYNC also filters threads that already exist; prctl only this one.
    ret = libc.syscall(ctypes.c_long(_ARCHES[machine]["syscalls"]["seccomp"]),
                       ulong(SECCOMP_SET_MODE_FILTER), ulong(SECCOMP_FILTER_FLAG_TSYNC),
                       ctypes.byref(prog))  # fmt: skip
    if ret == 0:
        return
    err = ctypes.get_errno()
    if ret > 0:  # TSYNC failed: ret is the id of a thread that cannot be synchronised
        raise OSError(errno.EBUSY, "seccomp: thread %d cannot take the filter" % ret)
    if err != errno.ENOSYS:
        raise OSError(err, "seccomp(SECCOMP_SET_MODE_FILTER): %s" % os.strerror(err))
    # Kernels before 3.17 lack seccomp(): fall back to prctl (calling thread only).
    if libc.prctl(PR_SET_SECCOMP, ulong(SECCOMP_MODE_FILTER), ctypes.byref(prog),
                  ulong(0), ulong(0)) != 0:  # fmt: skip
        err = ctypes.get_errno()
        raise OSError(err, "prctl(PR_SET_SECCOMP): %s" % os.strerror(err))
