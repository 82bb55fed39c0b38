"""Landlock scoping (Linux >= 6.12): no abstract unix sockets or signals outside the sandbox.

Environments share the host's network namespace, so without this a function could
connect to the host's abstract unix sockets (containerd-shim, D-Bus ...). Where the
kernel lacks Landlock ABI 6 this is a no-op and `supported()` says so.
"""

import ctypes
import os
import struct

from . import libc

_CREATE_RULESET = 444  # same number on x86_64 and aarch64 (asm-generic)
_RESTRICT_SELF = 446
_CREATE_RULESET_VERSION = 1 << 0
SCOPE_ABSTRACT_UNIX_SOCKET = 1 << 0
SCOPE_SIGNAL = 1 << 1
_SCOPED_ABI = 6


def abi_version():
    return libc.syscall(_CREATE_RULESET, None, 0, _CREATE_RULESET_VERSION)


def supported():
    return abi_version() >= _SCOPED_ABI


def restrict_scopes():
    """Confine this process (and its future children); returns False if unsupported."""
    if not supported():
        return False
    # struct landlock_ruleset_attr { u64 handled_access_fs, handled_access_net, scoped; }
    attr = ctypes.create_string_buffer(
        struct.pack("=QQQ", 0, 0, SCOPE_ABSTRACT_UNIX_SOCKET | SCOPE_SIGNAL)
    )
    fd = libc.syscall(_CREATE_RULESET, attr, len(attr.raw), 0)
    if fd < 0:
        raise OSError(ctypes.get_errno(), "landlock_create_ruleset")
    try:
        libc.prctl(libc.PR_SET_NO_NEW_PRIVS, 1)
        if libc.syscall(_RESTRICT_SELF, fd, 0) != 0:
            raise OSError(ctypes.get_errno(), "landlock_restrict_self")
    finally:
        os.close(fd)
    return True
