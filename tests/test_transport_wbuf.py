"""The write buffer of the stream and write-pipe transports when a large bytes object is kept
by reference rather than copied (asyncio_c's ac_wbuf head): what is written, in what order,
the buffer size asyncio reports, and data written after it or mutated after write().

Every case runs on asyncio's selector loop and on asyncio_c's loop with the same expectations.
"""
import asyncio
import io
import os
import socket

import pytest

from _loop_helpers import lenv, limpl  # noqa: F401

KiB = 1024
MiB = 1024 * KiB


class Sink(asyncio.Protocol):
    def __init__(self, loop):
        self.lost = loop.create_future()
        self.events = []

    def pause_writing(self):
        self.events.append("pause")

    def resume_writing(self):
        self.events.append("resume")

    def connection_lost(self, exc):
        self.lost.set_result(exc)


def read_all(lenv, fd, n):
    got = bytearray()

    def reader():
        while True:
            try:
                chunk = os.read(fd, 256 * KiB)
            except BlockingIOError:
                return
            if not chunk:
                return
            got.extend(chunk)

    lenv.loop.add_reader(fd, reader)
    try:
        lenv.run_until(lambda: len(got) >= n, timeout=30)
    finally:
        lenv.loop.remove_reader(fd)
    return bytes(got)


def writes(tr, mutate):
    """Large bytes (kept by reference on asyncio_c), then a bytearray and a memoryview
    appended behind it; mutate: changed after write(), the transport must have taken a copy
    (asyncio's pipe transport copies; its 3.12+ socket transport keeps a view, so the stream
    case does not mutate)."""
    big = os.urandom(MiB + 123)
    small = bytearray(b"after the big one")
    tail = bytearray(b"-tail-")
    view = memoryview(tail)
    tr.write(big)
    size_after_big = tr.get_write_buffer_size()
    tr.write(small)
    tr.write(view)
    tr.write(b"x" * (100 * KiB))            # bytes, but behind others: appended
    if mutate:
        small[:5] = b"XXXXX"
        tail[:] = b"######"
    expected = big + b"after the big one" + b"-tail-" + b"x" * (100 * KiB)
    return expected, size_after_big


@pytest.fixture
def wpipe(lenv):
    """(read fd, write transport, its protocol): a write pipe transport on lenv's loop."""
    r, w = os.pipe()
    os.set_blocking(r, False)
    wobj = io.open(w, "wb", 0)
    proto = Sink(lenv.loop)
    try:
        tr, _ = lenv.run(lenv.loop.connect_write_pipe(lambda: proto, wobj))
        yield r, tr, proto
    finally:
        wobj.close()
        os.close(r)


def test_write_pipe_large_bytes(lenv, wpipe):
    r, tr, proto = wpipe
    expected, size_after_big = writes(tr, mutate=True)
    # what the kernel did not take at once is buffered, and counted as asyncio counts it
    assert 0 < size_after_big < MiB + 123
    assert tr.get_write_buffer_size() == size_after_big + len(expected) - (MiB + 123)
    pending = bytes(tr._buffer)
    assert len(pending) == tr.get_write_buffer_size()
    assert expected.endswith(pending)
    assert proto.events == ["pause"]
    assert read_all(lenv, r, len(expected)) == expected
    assert tr.get_write_buffer_size() == 0
    assert proto.events == ["pause", "resume"]
    tr.close()
    lenv.run(asyncio.wait_for(proto.lost, 10))


def test_write_pipe_abort_drops_large_bytes(lenv, wpipe):
    r, tr, proto = wpipe
    tr.write(os.urandom(MiB))
    assert tr.get_write_buffer_size() > 0
    tr.abort()
    assert tr.get_write_buffer_size() == 0
    assert lenv.run(asyncio.wait_for(proto.lost, 10)) is None


def test_stream_large_bytes(lenv):
    loop = lenv.loop
    a, b = socket.socketpair()
    # small kernel buffers, so that most of the megabyte waits in the transport
    a.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 64 * KiB)
    b.setblocking(False)
    try:
        proto = Sink(loop)
        tr, _ = lenv.run(loop.create_connection(lambda: proto, sock=a))
        expected, size_after_big = writes(tr, mutate=False)
        assert 0 < size_after_big < MiB + 123
        assert tr.get_write_buffer_size() == size_after_big + len(expected) - (MiB + 123)
        assert proto.events == ["pause"]
        assert read_all(lenv, b.fileno(), len(expected)) == expected
        assert tr.get_write_buffer_size() == 0
        assert proto.events == ["pause", "resume"]
        tr.close()
        lenv.run(asyncio.wait_for(proto.lost, 10))
    finally:
        b.close()
