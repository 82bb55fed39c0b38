"""Pure wire codecs: bytes and dicts in, bytes and dicts out (no I/O, no asyncio)."""
