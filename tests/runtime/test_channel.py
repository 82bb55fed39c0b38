"""The private runtime channel's framing, over a real socketpair."""

from __future__ import annotations

import socket
import threading

from nimbus.runtime.channel import INVOKE, RESPONSE, FrameReader, encode


def test_frames_small_large_and_back_to_back() -> None:
    ours, theirs = socket.socketpair()
    big = bytes(range(256)) * 40_000  # ~10 MB: many recv calls on the reader's side
    frames = [
        (INVOKE, {"id": "a", "deadline": 1}, b'{"x": 1}'),
        (INVOKE, {"id": "b"}, big),
        (RESPONSE, None, b""),
        (INVOKE, {"id": "c"}, b"[]"),
    ]
    # All frames written at once: the reader must not lose what it reads ahead.
    writer = threading.Thread(
        target=lambda: ours.sendall(b"".join(encode(*frame) for frame in frames))
    )
    writer.start()
    reader = FrameReader(theirs)
    try:
        for kind, header, body in frames:
            assert reader.receive() == (kind, header or {}, body)
    finally:
        writer.join()
        ours.close()
        theirs.close()


def test_closed_channel_raises_eof() -> None:
    ours, theirs = socket.socketpair()
    ours.sendall(encode(INVOKE, {"id": "a"}, b"{}")[:5])  # a frame cut short
    ours.close()
    reader = FrameReader(theirs)
    try:
        reader.receive()
    except EOFError:
        pass
    else:
        raise AssertionError("a cut frame must raise EOFError")
    finally:
        theirs.close()
