"""Pipe transports: loop.connect_read_pipe / connect_write_pipe over os.pipe(), socketpairs and
ptys, EOF and peer-close semantics, reading on/off, write flow control, write_eof, abort,
close, the unclosed-transport warning, reprs, streams over pipes, subprocesses.

Every case runs on asyncio's selector loop and on asyncio_c's loop (fixture ``lenv``) with the
same expectations: asyncio's unix_events._UnixReadPipeTransport / _UnixWritePipeTransport are
the oracle.  On asyncio_c the transports are the C types _core.ReadPipeTransport and
_core.WritePipeTransport.
"""
import asyncio
import errno
import gc
import io
import os
import re
import socket
import sys
import tempfile
import warnings

import pytest

from _loop_helpers import collect, lenv, limpl  # noqa: F401

import asyncio_c

MiB = 1024 * 1024
needs_pty = pytest.mark.skipif(not hasattr(os, "openpty"), reason="needs os.openpty()")


class Rec(asyncio.Protocol):
    """Records the protocol calls (data separately: how it is split is the kernel's)."""

    def __init__(self, loop, *, fail_data=None):
        self.loop = loop
        self.events = []
        self.data = bytearray()
        self.transport = None
        self.exc = None
        self.lost = loop.create_future()
        self.fail_data = fail_data

    def connection_made(self, transport):
        self.transport = transport
        self.events.append("made")

    def data_received(self, data):
        self.data += data
        if self.fail_data is not None:
            raise self.fail_data

    def eof_received(self):
        self.events.append("eof")

    def pause_writing(self):
        self.events.append("pause")

    def resume_writing(self):
        self.events.append("resume")

    def connection_lost(self, exc):
        self.exc = exc
        self.events.append(("lost", None if exc is None else type(exc)))
        self.lost.set_result(None)


def check_type(limpl, tr, kind):
    if limpl.is_c:
        assert type(tr) is getattr(asyncio_c._core, kind)
    base = asyncio.ReadTransport if kind == "ReadPipeTransport" else asyncio.WriteTransport
    assert isinstance(tr, base)
    assert isinstance(tr, asyncio.BaseTransport)


def drain_fd(fd, into):
    """Non-blocking read of what is there; False at EOF."""
    while True:
        try:
            chunk = os.read(fd, 256 * 1024)
        except BlockingIOError:
            return True
        if not chunk:
            return False
        into += chunk


@pytest.fixture
def closing():
    """Objects (fds, files, sockets) closed at teardown if still open."""
    objs = []
    yield objs.append
    for o in objs:
        try:
            o.close() if hasattr(o, "close") else os.close(o)
        except OSError:
            pass


def rpipe(closing):
    r, w = os.pipe()
    robj = io.open(r, "rb", 0)
    closing(robj)
    closing(w)
    return robj, w


def wpipe(closing):
    r, w = os.pipe()
    wobj = io.open(w, "wb", 0)
    closing(wobj)
    closing(r)
    os.set_blocking(r, False)
    return r, wobj


# --------------------------------------------------------------------------------------
# read pipe


def test_read_pipe_data_then_eof(lenv, limpl, closing):
    loop = lenv.loop
    robj, w = rpipe(closing)
    proto = Rec(loop)
    tr, p = lenv.run(loop.connect_read_pipe(lambda: proto, robj))
    assert p is proto and proto.transport is tr
    check_type(limpl, tr, "ReadPipeTransport")
    assert proto.events == ["made"]
    assert tr.get_extra_info("pipe") is robj
    assert tr.get_extra_info("nope", 7) == 7
    assert tr.is_reading() and not tr.is_closing()
    assert not os.get_blocking(robj.fileno())
    os.write(w, b"hello ")
    os.write(w, b"world")
    lenv.run_until(lambda: len(proto.data) >= 11)
    assert proto.data == b"hello world"
    os.close(w)
    lenv.run(asyncio.wait_for(proto.lost, 10))
    # eof_received, then connection_lost(None), both scheduled from the read callback
    assert proto.events == ["made", "eof", ("lost", None)]
    assert tr.is_closing()
    assert robj.closed
    assert tr.get_protocol() is None


def test_read_pipe_eof_result_ignored(lenv, closing):
    # unlike a socket transport, eof_received() returning True does not keep it open
    loop = lenv.loop
    robj, w = rpipe(closing)

    class Keep(Rec):
        def eof_received(self):
            super().eof_received()
            return True

    proto = Keep(loop)
    lenv.run(loop.connect_read_pipe(lambda: proto, robj))
    os.close(w)
    lenv.run(asyncio.wait_for(proto.lost, 10))
    assert proto.events == ["made", "eof", ("lost", None)]


def test_read_pipe_close(lenv, closing):
    loop = lenv.loop
    robj, w = rpipe(closing)
    proto = Rec(loop)
    tr, _ = lenv.run(loop.connect_read_pipe(lambda: proto, robj))
    tr.close()
    assert tr.is_closing() and not tr.is_reading()
    assert not robj.closed          # closed by _call_connection_lost, scheduled
    tr.close()                      # a second close is a no-op
    lenv.run(asyncio.wait_for(proto.lost, 10))
    assert proto.events == ["made", ("lost", None)]
    assert robj.closed
    with pytest.raises(BrokenPipeError):    # nobody reads the pipe any more
        os.write(w, b"x")


def test_read_pipe_over_socketpair(lenv, limpl, closing):
    loop = lenv.loop
    a, b = socket.socketpair()
    closing(a)
    closing(b)
    proto = Rec(loop)
    tr, _ = lenv.run(loop.connect_read_pipe(lambda: proto, a))
    check_type(limpl, tr, "ReadPipeTransport")
    assert tr.get_extra_info("pipe") is a
    assert not os.get_blocking(a.fileno())
    b.sendall(b"abc" * 1000)
    lenv.run_until(lambda: len(proto.data) >= 3000)
    b.close()
    lenv.run(asyncio.wait_for(proto.lost, 10))
    assert proto.data == b"abc" * 1000
    assert proto.events == ["made", "eof", ("lost", None)]
    assert a.fileno() == -1


@needs_pty
def test_read_pipe_pty(lenv, limpl, closing):
    loop = lenv.loop
    master, slave = os.openpty()
    closing(slave)
    mobj = io.open(master, "rb", 0)
    closing(mobj)
    proto = Rec(loop)
    tr, _ = lenv.run(loop.connect_read_pipe(lambda: proto, mobj))
    check_type(limpl, tr, "ReadPipeTransport")
    os.write(slave, b"12345")
    lenv.run_until(lambda: len(proto.data) >= 5)
    assert proto.data == b"12345"
    # the other side closed: reading the master gives EIO, which closes the transport
    # quietly (only logged in debug mode) with connection_lost(that OSError)
    os.close(slave)
    lenv.run(asyncio.wait_for(proto.lost, 10))
    assert proto.events == ["made", ("lost", OSError)]
    assert proto.exc.errno == errno.EIO
    assert mobj.closed


def test_read_pipe_pause_resume(lenv, closing):
    loop = lenv.loop
    robj, w = rpipe(closing)
    proto = Rec(loop)
    tr, _ = lenv.run(loop.connect_read_pipe(lambda: proto, robj))
    tr.pause_reading()
    assert not tr.is_reading()
    tr.pause_reading()              # no-op
    assert "idle" in repr(tr)
    os.write(w, b"data")
    lenv.spin(5)
    assert proto.data == b""
    tr.resume_reading()
    assert tr.is_reading()
    assert "polling" in repr(tr)
    tr.resume_reading()             # no-op
    lenv.run_until(lambda: len(proto.data) >= 4)
    assert proto.data == b"data"
    tr.close()
    tr.resume_reading()             # closing: no-op
    assert not tr.is_reading()
    lenv.run(asyncio.wait_for(proto.lost, 10))


def test_read_pipe_data_received_error(lenv, closing):
    # data_received raising is an error of the read callback: reported, reading goes on
    loop = lenv.loop
    robj, w = rpipe(closing)
    proto = Rec(loop, fail_data=ZeroDivisionError())
    tr, _ = lenv.run(loop.connect_read_pipe(lambda: proto, robj))
    os.write(w, b"a")
    lenv.run_until(lambda: lenv.errors)
    (err,) = lenv.take_errors()
    assert isinstance(err["exception"], ZeroDivisionError)
    assert err["message"].startswith("Exception in callback")
    assert tr.is_reading() and not tr.is_closing()
    proto.fail_data = None
    os.write(w, b"b")
    lenv.run_until(lambda: len(proto.data) >= 2)
    assert proto.data == b"ab"
    tr.close()
    lenv.run(asyncio.wait_for(proto.lost, 10))


def test_read_pipe_fatal_error_messages(lenv, closing):
    loop = lenv.loop
    robj, w = rpipe(closing)
    proto = Rec(loop)
    tr, _ = lenv.run(loop.connect_read_pipe(lambda: proto, robj))
    exc = RuntimeError("boom")
    tr._fatal_error(exc)
    (err,) = lenv.take_errors()
    assert err["message"] == "Fatal error on pipe transport"
    assert err["exception"] is exc and err["transport"] is tr and err["protocol"] is proto
    assert tr.is_closing()
    lenv.run(asyncio.wait_for(proto.lost, 10))
    assert proto.exc is exc


def test_read_pipe_fatal_oserror_reported_unless_eio(lenv, closing):
    loop = lenv.loop
    robj, w = rpipe(closing)
    proto = Rec(loop)
    tr, _ = lenv.run(loop.connect_read_pipe(lambda: proto, robj))
    exc = OSError(errno.EBADF, "bad")
    tr._fatal_error(exc, "Fatal read error on pipe transport")
    (err,) = lenv.take_errors()
    assert err["message"] == "Fatal read error on pipe transport"
    lenv.run(asyncio.wait_for(proto.lost, 10))
    assert proto.exc is exc

    robj2, w2 = rpipe(closing)
    proto2 = Rec(loop)
    tr2, _ = lenv.run(loop.connect_read_pipe(lambda: proto2, robj2))
    tr2._fatal_error(OSError(errno.EIO, "eio"))
    assert lenv.take_errors() == []
    lenv.run(asyncio.wait_for(proto2.lost, 10))
    assert proto2.exc.errno == errno.EIO


def test_read_pipe_with_streams(lenv, closing):
    loop = lenv.loop
    robj, w = rpipe(closing)

    async def main():
        reader = asyncio.StreamReader(limit=1024)
        proto = asyncio.StreamReaderProtocol(reader)
        tr, _ = await loop.connect_read_pipe(lambda: proto, robj)
        os.write(w, b"line one\nline two\n")
        assert await reader.readline() == b"line one\n"
        assert await reader.readline() == b"line two\n"
        # more than twice the limit unread: the reader pauses the transport
        os.write(w, b"x" * 4096)
        while len(reader._buffer) < 4096:
            await asyncio.sleep(0.001)
        assert not tr.is_reading()
        assert await reader.readexactly(4096) == b"x" * 4096
        assert tr.is_reading()
        os.write(w, b"tail")
        os.close(w)
        assert await reader.read() == b"tail"
        assert reader.at_eof()
        return tr

    tr = lenv.run(asyncio.wait_for(main(), 20))
    lenv.spin(2)
    assert tr.is_closing()
    assert robj.closed


# --------------------------------------------------------------------------------------
# write pipe


def test_write_pipe_write_and_close(lenv, limpl, closing):
    loop = lenv.loop
    r, wobj = wpipe(closing)
    proto = Rec(loop)
    tr, p = lenv.run(loop.connect_write_pipe(lambda: proto, wobj))
    assert p is proto and proto.transport is tr
    check_type(limpl, tr, "WritePipeTransport")
    assert tr.get_extra_info("pipe") is wobj
    assert tr.can_write_eof() is True
    assert not os.get_blocking(wobj.fileno())
    assert tr.get_write_buffer_size() == 0
    assert tr.get_write_buffer_limits() == (16 * 1024, 64 * 1024)
    tr.write(b"abc")
    tr.write(bytearray(b"def"))
    tr.write(memoryview(b"ghi"))
    tr.writelines([b"j", b"kl"])
    tr.write(b"")
    got = bytearray()
    drain_fd(r, got)
    assert got == b"abcdefghijkl"
    tr.close()
    assert tr.is_closing()
    lenv.run(asyncio.wait_for(proto.lost, 10))
    assert proto.events == ["made", ("lost", None)]
    assert wobj.closed
    assert not drain_fd(r, got)     # EOF on the read end


def test_write_pipe_rejects_non_bytes(lenv, closing):
    loop = lenv.loop
    r, wobj = wpipe(closing)
    proto = Rec(loop)
    tr, _ = lenv.run(loop.connect_write_pipe(lambda: proto, wobj))
    with pytest.raises(AssertionError, match=re.escape(repr("text"))):
        tr.write("text")
    tr.close()
    lenv.run(asyncio.wait_for(proto.lost, 10))


def test_write_pipe_writes_after_close_are_dropped(lenv, closing):
    loop = lenv.loop
    r, wobj = wpipe(closing)
    proto = Rec(loop)
    tr, _ = lenv.run(loop.connect_write_pipe(lambda: proto, wobj))
    tr.close()
    tr.write(b"late")               # no exception: counted and dropped
    assert tr._conn_lost == 1
    lenv.run(asyncio.wait_for(proto.lost, 10))
    tr.write(b"later")
    assert tr._conn_lost == 2
    assert tr.get_write_buffer_size() == 0
    assert os.read(r, 100) == b""


def test_write_pipe_reader_closes_idle(lenv, closing):
    # the reader trick: the read end closing is seen without writing
    loop = lenv.loop
    r, wobj = wpipe(closing)
    proto = Rec(loop)
    tr, _ = lenv.run(loop.connect_write_pipe(lambda: proto, wobj))
    os.close(r)
    lenv.run(asyncio.wait_for(proto.lost, 10))
    assert proto.events == ["made", ("lost", None)]
    assert tr.is_closing()
    assert wobj.closed


def test_write_pipe_reader_closes_with_pending_data(lenv, closing):
    loop = lenv.loop
    r, wobj = wpipe(closing)
    proto = Rec(loop)
    tr, _ = lenv.run(loop.connect_write_pipe(lambda: proto, wobj))
    tr.write(b"x" * MiB)            # the pipe takes 64 KiB: the rest waits
    assert tr.get_write_buffer_size() > 0
    assert proto.events == ["made", "pause"]
    os.close(r)
    lenv.run(asyncio.wait_for(proto.lost, 10))
    assert proto.events == ["made", "pause", ("lost", BrokenPipeError)]
    assert tr.get_write_buffer_size() == 0
    assert lenv.take_errors() == []  # an OSError: only logged in debug mode


def test_write_pipe_broken_on_write(lenv, closing):
    # the read end closed before the transport could notice: os.write raises EPIPE
    loop = lenv.loop
    r, wobj = wpipe(closing)
    proto = Rec(loop)
    tr, _ = lenv.run(loop.connect_write_pipe(lambda: proto, wobj))
    os.close(r)
    tr.write(b"data")
    assert tr.is_closing()
    assert tr._conn_lost == 1
    lenv.run(asyncio.wait_for(proto.lost, 10))
    assert proto.events == ["made", ("lost", BrokenPipeError)]
    assert proto.exc.errno == errno.EPIPE
    assert lenv.take_errors() == []


def test_write_pipe_socketpair_peer_closes(lenv, limpl, closing):
    loop = lenv.loop
    a, b = socket.socketpair()
    closing(a)
    closing(b)
    proto = Rec(loop)
    tr, _ = lenv.run(loop.connect_write_pipe(lambda: proto, a))
    check_type(limpl, tr, "WritePipeTransport")
    tr.write(b"ping")
    assert b.recv(10) == b"ping"
    b.close()
    lenv.run(asyncio.wait_for(proto.lost, 10))
    assert proto.events == ["made", ("lost", None)]


@needs_pty
def test_write_pipe_pty(lenv, limpl, closing):
    # a character device: no reader trick, the transport only writes
    loop = lenv.loop
    master, slave = os.openpty()
    closing(master)
    sobj = io.open(slave, "wb", 0)
    closing(sobj)
    proto = Rec(loop)
    tr, _ = lenv.run(loop.connect_write_pipe(lambda: proto, sobj))
    check_type(limpl, tr, "WritePipeTransport")
    tr.write(b"12345")
    got = bytearray()
    lenv.run_until(lambda: (got.extend(os.read(master, 100)), len(got) >= 5)[1])
    assert got == b"12345"
    os.close(master)
    lenv.spin(3)
    assert proto.events == ["made"]   # nothing watches for the other side
    tr.close()
    lenv.run(asyncio.wait_for(proto.lost, 10))
    assert proto.events == ["made", ("lost", None)]


def test_write_pipe_flow_control(lenv, closing):
    loop = lenv.loop
    r, wobj = wpipe(closing)
    proto = Rec(loop)
    tr, _ = lenv.run(loop.connect_write_pipe(lambda: proto, wobj))
    payload = os.urandom(2 * MiB)
    tr.write(payload[:MiB])
    tr.write(payload[MiB:])
    assert proto.events == ["made", "pause"]   # once, past the high-water mark
    assert tr.get_write_buffer_size() > 64 * 1024
    got = bytearray()

    def reader():
        drain_fd(r, got)

    loop.add_reader(r, reader)
    try:
        lenv.run_until(lambda: len(got) >= len(payload), timeout=30)
    finally:
        loop.remove_reader(r)
    assert got == payload
    # resumed only once the buffer is empty
    assert proto.events == ["made", "pause", "resume"]
    assert tr.get_write_buffer_size() == 0
    tr.close()
    lenv.run(asyncio.wait_for(proto.lost, 10))


def test_write_pipe_drain_with_streams(lenv, closing):
    loop = lenv.loop
    r, wobj = wpipe(closing)
    payload = os.urandom(3 * MiB)

    async def main():
        proto = asyncio.StreamReaderProtocol(asyncio.StreamReader())
        tr, _ = await loop.connect_write_pipe(lambda: proto, wobj)
        writer = asyncio.StreamWriter(tr, proto, None, loop)
        got = bytearray()
        loop.add_reader(r, drain_fd, r, got)
        try:
            for i in range(0, len(payload), 256 * 1024):
                writer.write(payload[i:i + 256 * 1024])
                await writer.drain()
            while len(got) < len(payload):
                await asyncio.sleep(0.001)
        finally:
            loop.remove_reader(r)
        assert writer.can_write_eof()
        writer.close()
        await writer.wait_closed()
        return got

    got = lenv.run(asyncio.wait_for(main(), 30))
    assert got == payload
    assert wobj.closed


def test_write_pipe_write_eof_flushes_first(lenv, closing):
    loop = lenv.loop
    r, wobj = wpipe(closing)
    proto = Rec(loop)
    tr, _ = lenv.run(loop.connect_write_pipe(lambda: proto, wobj))
    payload = os.urandom(MiB)
    tr.write(payload)
    tr.write_eof()
    assert tr.is_closing()
    tr.write_eof()                  # no-op
    tr.close()                      # no-op
    lenv.spin(3)
    assert proto.events == ["made", "pause"]   # not lost while data waits
    got = bytearray()
    eof = []

    def reader():
        if not drain_fd(r, got):
            eof.append(True)
            loop.remove_reader(r)

    loop.add_reader(r, reader)
    lenv.run(asyncio.wait_for(proto.lost, 30))
    lenv.run_until(lambda: eof)
    assert got == payload
    assert proto.events == ["made", "pause", "resume", ("lost", None)]
    assert wobj.closed


def test_write_pipe_abort_with_pending_data(lenv, closing):
    loop = lenv.loop
    r, wobj = wpipe(closing)
    proto = Rec(loop)
    tr, _ = lenv.run(loop.connect_write_pipe(lambda: proto, wobj))
    tr.write(b"y" * MiB)
    pending = tr.get_write_buffer_size()
    assert pending > 0
    tr.abort()
    assert tr.is_closing()
    assert tr.get_write_buffer_size() == 0
    lenv.run(asyncio.wait_for(proto.lost, 10))
    assert proto.events == ["made", "pause", ("lost", None)]
    got = bytearray()
    assert not drain_fd(r, got)     # what was not written is gone
    assert len(got) == MiB - pending


def test_write_pipe_fatal_error_messages(lenv, closing):
    loop = lenv.loop
    r, wobj = wpipe(closing)
    proto = Rec(loop)
    tr, _ = lenv.run(loop.connect_write_pipe(lambda: proto, wobj))
    exc = ValueError("boom")
    tr._fatal_error(exc, "Fatal write error on pipe transport")
    (err,) = lenv.take_errors()
    assert err["message"] == "Fatal write error on pipe transport"
    assert err["exception"] is exc and err["transport"] is tr
    lenv.run(asyncio.wait_for(proto.lost, 10))
    assert proto.exc is exc

    r2, wobj2 = wpipe(closing)
    proto2 = Rec(loop)
    tr2, _ = lenv.run(loop.connect_write_pipe(lambda: proto2, wobj2))
    tr2._fatal_error(OSError(errno.EBADF, "x"))   # any OSError: only logged (debug)
    assert lenv.take_errors() == []
    lenv.run(asyncio.wait_for(proto2.lost, 10))
    assert isinstance(proto2.exc, OSError)


# --------------------------------------------------------------------------------------
# construction, extra, repr, warnings


@pytest.mark.parametrize("side", ["read", "write"])
def test_regular_file_refused(lenv, side):
    loop = lenv.loop
    msg = ("Pipe transport is for pipes/sockets only." if side == "read"
           else "Pipe transport is only for pipes, sockets and character devices")
    with tempfile.TemporaryFile() as f:
        connect = loop.connect_read_pipe if side == "read" else loop.connect_write_pipe
        with warnings.catch_warnings():
            warnings.simplefilter("error", ResourceWarning)
            with pytest.raises(ValueError, match=re.escape(msg)):
                lenv.run(connect(asyncio.Protocol, f))
            collect()
        assert not f.closed         # not the transport's to close
        assert os.get_blocking(f.fileno())


def test_make_pipe_transport_extra(lenv, closing):
    # the loop's factory methods (what the subprocess transports call): extra is kept and
    # receives 'pipe'; the transports are not entered in loop._transports
    loop = lenv.loop
    robj, w = rpipe(closing)
    extra = {"x": 1}

    async def main():
        waiter = loop.create_future()
        proto = Rec(loop)
        tr = loop._make_read_pipe_transport(robj, proto, waiter, extra)
        assert proto.events == []
        await waiter
        assert proto.events == ["made"]
        return tr, proto

    tr, proto = lenv.run(main())
    assert extra == {"x": 1, "pipe": robj}
    assert tr.get_extra_info("x") == 1
    assert robj.fileno() not in loop._transports
    tr.close()
    lenv.run(asyncio.wait_for(proto.lost, 10))


def _tail(tr):
    """The repr without the class name (asyncio's and ours differ only there)."""
    text = repr(tr)
    assert text.startswith("<") and text.endswith(">")
    return text[1:-1].split(" ", 1)[1]


def test_reprs(lenv, closing):
    loop = lenv.loop
    robj, w = rpipe(closing)
    rproto = Rec(loop)
    rt, _ = lenv.run(loop.connect_read_pipe(lambda: rproto, robj))
    fd = robj.fileno()
    assert _tail(rt) == f"fd={fd} polling"
    rt.pause_reading()
    assert _tail(rt) == f"fd={fd} idle"
    rt.close()
    assert _tail(rt) == f"closing fd={fd} idle"
    lenv.run(asyncio.wait_for(rproto.lost, 10))
    assert _tail(rt) == f"closed fd={fd} closed"

    r, wobj = wpipe(closing)
    wproto = Rec(loop)
    wt, _ = lenv.run(loop.connect_write_pipe(lambda: wproto, wobj))
    wfd = wobj.fileno()
    assert _tail(wt) == f"fd={wfd} idle bufsize=0"
    wt.write(b"z" * MiB)
    size = wt.get_write_buffer_size()
    assert _tail(wt) == f"fd={wfd} polling bufsize={size}"
    wt.close()
    assert _tail(wt) == f"closing fd={wfd} polling bufsize={size}"
    wt.abort()
    lenv.run(asyncio.wait_for(wproto.lost, 10))
    assert _tail(wt) == f"closed fd={wfd} closed"


def test_repr_after_loop_closed(limpl, closing):
    loop = limpl.new_loop()
    try:
        robj, w = rpipe(closing)
        r, wobj = wpipe(closing)
        rt, _ = loop.run_until_complete(loop.connect_read_pipe(asyncio.Protocol, robj))
        wt, _ = loop.run_until_complete(loop.connect_write_pipe(asyncio.Protocol, wobj))
    finally:
        loop.close()
    assert _tail(rt) == f"fd={robj.fileno()} open"
    assert _tail(wt) == f"fd={wobj.fileno()} open"
    # asyncio's own test does this to drop them without the warning
    rt._pipe = None
    wt._pipe = None
    with warnings.catch_warnings():
        warnings.simplefilter("error", ResourceWarning)
        del rt, wt
        collect()


@pytest.mark.parametrize("side", ["read", "write"])
def test_unclosed_transport_warns(limpl, closing, side):
    loop = limpl.new_loop()
    try:
        if side == "read":
            pobj, other = rpipe(closing)
            connect = loop.connect_read_pipe
        else:
            other, pobj = wpipe(closing)
            connect = loop.connect_write_pipe
        tr, _ = loop.run_until_complete(connect(asyncio.Protocol, pobj))
    finally:
        loop.close()                # drops the loop's watch of the fd
    with pytest.warns(ResourceWarning, match="unclosed transport"):
        del tr
        collect()
    assert pobj.closed


def test_hidden_methods(lenv, closing):
    # what asyncio's read pipe class does not have is not there either
    loop = lenv.loop
    robj, w = rpipe(closing)
    r, wobj = wpipe(closing)
    rproto, wproto = Rec(loop), Rec(loop)
    rt, _ = lenv.run(loop.connect_read_pipe(lambda: rproto, robj))
    wt, _ = lenv.run(loop.connect_write_pipe(lambda: wproto, wobj))
    for name in ("abort", "write_eof", "can_write_eof", "get_write_buffer_size"):
        assert not hasattr(rt, name), name
    # the write pipe is a Transport (through _FlowControlMixin): reading is not implemented
    for name in ("is_reading", "pause_reading", "resume_reading"):
        with pytest.raises(NotImplementedError):
            getattr(wt, name)()
    rt.close()
    wt.close()
    lenv.run(asyncio.wait_for(asyncio.gather(rproto.lost, wproto.lost), 10))


def test_instance_attributes(lenv, closing):
    # asyncio's pipe transports are plain Python objects: CPython's test_subprocess patches
    # pause_reading/resume_reading on the stdout transport
    loop = lenv.loop
    robj, w = rpipe(closing)

    async def main():
        reader = asyncio.StreamReader(limit=10)
        proto = asyncio.StreamReaderProtocol(reader)
        tr, _ = await loop.connect_read_pipe(lambda: proto, robj)
        calls = []
        tr.pause_reading = lambda: calls.append("pause")
        tr.resume_reading = lambda: calls.append("resume")
        tr.tag = "mine"
        assert vars(tr)["tag"] == "mine"
        os.write(w, b"x" * 100)
        os.close(w)
        assert await reader.read() == b"x" * 100
        return tr, calls

    tr, calls = lenv.run(asyncio.wait_for(main(), 10))
    assert calls[:2] == ["pause", "resume"]
    lenv.spin(2)
    assert robj.closed


def test_debug_logs(lenv, closing, caplog):
    loop = lenv.loop
    loop.set_debug(True)
    loop.slow_callback_duration = 60
    caplog.set_level("DEBUG", logger="asyncio")
    robj, w = rpipe(closing)
    rproto = Rec(loop)
    rt, _ = lenv.run(loop.connect_read_pipe(lambda: rproto, robj))
    os.close(w)
    lenv.run(asyncio.wait_for(rproto.lost, 10))
    msgs = [r.getMessage() for r in caplog.records if r.name == "asyncio"]
    assert any(m.endswith("was closed by peer") for m in msgs), msgs
    caplog.clear()

    r, wobj = wpipe(closing)
    wproto = Rec(loop)
    wt, _ = lenv.run(loop.connect_write_pipe(lambda: wproto, wobj))
    os.close(r)
    wt.write(b"data")               # EPIPE: logged, not reported
    lenv.run(asyncio.wait_for(wproto.lost, 10))
    recs = [rec for rec in caplog.records
            if rec.getMessage().endswith(": Fatal write error on pipe transport")]
    assert len(recs) == 1 and recs[0].levelname == "DEBUG"
    assert recs[0].exc_info is not None and recs[0].exc_info[0] is BrokenPipeError
    assert lenv.take_errors() == []


# --------------------------------------------------------------------------------------
# subprocesses (their pipes are these transports)


def test_subprocess_cat_round_trip(lenv):
    payload = os.urandom(4 * MiB)

    async def main():
        proc = await asyncio.create_subprocess_exec(
            "cat", stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE)
        out, err = await proc.communicate(payload)
        return proc.returncode, out

    rc, out = lenv.run(asyncio.wait_for(main(), 60))
    assert rc == 0
    assert out == payload


def test_subprocess_streams_line_by_line(lenv, limpl):
    async def main():
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-c",
            "import sys\nfor line in sys.stdin: sys.stdout.write(line.upper()); sys.stdout.flush()",
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE)
        if limpl.is_c:
            tr = proc._transport
            assert type(tr.get_pipe_transport(0)) is asyncio_c._core.WritePipeTransport
            assert type(tr.get_pipe_transport(1)) is asyncio_c._core.ReadPipeTransport
        lines = []
        for word in (b"alpha", b"beta", b"gamma"):
            proc.stdin.write(word + b"\n")
            await proc.stdin.drain()
            lines.append(await proc.stdout.readline())
        proc.stdin.close()
        assert await proc.stdout.read() == b""
        return await proc.wait(), lines

    rc, lines = lenv.run(asyncio.wait_for(main(), 60))
    assert rc == 0
    assert lines == [b"ALPHA\n", b"BETA\n", b"GAMMA\n"]
