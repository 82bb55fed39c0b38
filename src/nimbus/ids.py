"""Random identifiers for the hot paths (request ids, message ids)."""

from __future__ import annotations

import random


def random_uuid(rng: random.Random | None = None) -> str:
    """A random (version 4) UUID string, as AWS' request and message ids are.

    uuid.uuid4() reads /dev/urandom on every call (a system call each time); these ids
    only need to be unique, not secret, so they come from a seeded PRNG (the random
    module reseeds itself in forked children)."""
    n = (rng or random).getrandbits(128)
    n = (n & ~(0xF000 << 64) | (0x4000 << 64)) & ~(0xC000 << 48) | (0x8000 << 48)
    h = f"{n:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"
