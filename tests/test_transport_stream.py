"""The stream transport (TCP and Unix sockets): asyncio's behaviour, on both loops.

tests/test_net_*.py cover the public API broadly; this file pins what the C transport
(src/transport_stream.c, src/transport.c) has to get right on its own: the class layout it
shares with asyncio's transport classes, the context protocol callbacks run in, copy semantics
of buffered writes, BufferedProtocol edge cases, and references (nothing kept alive, cycles
collected).
"""
import asyncio
import contextvars
import gc
import math
import socket
import sys
import weakref

import pytest

from _loop_helpers import LOOP_IMPLS, collect, lenv, limpl  # noqa: F401  (fixtures)

import asyncio_c

VAR = contextvars.ContextVar("VAR", default="unset")


class Recorder(asyncio.Protocol):
    def __init__(self):
        self.events = []
        self.data = bytearray()
        self.transport = None
        self.lost = None
        self.closed = None

    def connection_made(self, transport):
        self.transport = transport
        self.events.append(("made", VAR.get()))
        self.closed = asyncio.get_running_loop().create_future()

    def data_received(self, data):
        self.events.append(("data", VAR.get()))
        self.data += data

    def eof_received(self):
        self.events.append(("eof", VAR.get()))

    def connection_lost(self, exc):
        self.events.append(("lost", VAR.get()))
        self.lost = exc
        if not self.closed.done():
            self.closed.set_result(None)


def pair(lenv, proto_factory=Recorder):
    """A connected transport on lenv's loop (client side) and the raw peer socket."""
    a, b = socket.socketpair()
    a.setblocking(False)

    async def make():
        return await lenv.loop.create_connection(proto_factory, sock=a)

    tr, proto = lenv.run(make())
    return tr, proto, b


def test_types_are_asyncios(lenv):
    tr, proto, peer = pair(lenv)
    try:
        for cls in (asyncio.Transport, asyncio.ReadTransport, asyncio.WriteTransport,
                    asyncio.BaseTransport, asyncio.transports._FlowControlMixin):
            assert isinstance(tr, cls)
        assert not isinstance(tr, asyncio.DatagramTransport)
        assert tr.get_extra_info("socket").fileno() == tr.get_extra_info("socket").fileno()
        assert tr.get_extra_info("nonexistent", 42) == 42
        assert tr._extra is tr._extra       # asyncio's own slot, one dict
        assert "fd=" in repr(tr)
    finally:
        tr.close()
        lenv.run(proto.closed)
        peer.close()
    assert "closed" in repr(tr)


def test_callbacks_run_in_the_creation_context(lenv):
    """The reader runs in a copy of the context current when the transport was made."""
    a, b = socket.socketpair()
    a.setblocking(False)

    async def make():
        VAR.set("creator")
        return await lenv.loop.create_connection(Recorder, sock=a)

    tr, proto = lenv.run(make())
    VAR.set("outside")
    b.sendall(b"x")
    lenv.run_until(lambda: proto.data)
    b.close()
    lenv.run(proto.closed)
    kinds = {k: v for k, v in proto.events}
    assert kinds["made"] == "creator"
    assert kinds["data"] == "creator"
    assert kinds["eof"] == "creator"
    VAR.set("unset")


def test_buffered_write_is_a_copy(lenv):
    """Data left in the write buffer does not change when the caller's object does."""
    tr, proto, peer = pair(lenv)
    tr.set_write_buffer_limits(high=10**9)
    big = bytearray(b"a" * (8 * 1024 * 1024))
    tr.write(big)                       # more than the kernel takes at once
    assert tr.get_write_buffer_size() > 0
    big[:] = b"b" * len(big)            # asyncio 3.11 copies too; 3.12+ keeps a view
    if sys.version_info < (3, 12) or lenv.impl.is_c:
        got = bytearray()
        peer.setblocking(True)
        peer.settimeout(10)

        async def drain_all():
            while tr.get_write_buffer_size():
                await asyncio.sleep(0.001)

        task = lenv.loop.create_task(drain_all())
        while len(got) < len(big):
            lenv.spin(1)
            try:
                peer.setblocking(False)
                got += peer.recv(1 << 20)
            except BlockingIOError:
                pass
        lenv.run(task)
        assert set(got) == {ord("a")}
    tr.abort()                          # asyncio 3.12+ (a view): nothing read, drop it
    lenv.run(proto.closed)
    peer.close()


class EmptyBuffer(asyncio.BufferedProtocol):
    def __init__(self, buf):
        self.buf = buf
        self.lost = None
        self.updated = []

    def connection_made(self, transport):
        self.closed = asyncio.get_running_loop().create_future()

    def get_buffer(self, sizehint):
        return self.buf

    def buffer_updated(self, nbytes):
        self.updated.append(nbytes)

    def connection_lost(self, exc):
        self.lost = exc
        self.closed.set_result(None)


@pytest.mark.parametrize("buf, message", [
    (bytearray(), "Fatal error: protocol.get_buffer() call failed."),
    (b"readonly", "Fatal read error on socket transport"),
])
def test_buffered_protocol_bad_buffer(lenv, buf, message):
    tr, proto, peer = pair(lenv, lambda: EmptyBuffer(buf))
    peer.sendall(b"hello")
    lenv.run(proto.closed)
    errors = lenv.take_errors()
    assert [e["message"] for e in errors] == [message]
    assert errors[0]["transport"] is tr
    assert proto.lost is errors[0]["exception"]
    peer.close()


def test_buffered_protocol_receives_in_place(lenv):
    buf = bytearray(4)
    tr, proto, peer = pair(lenv, lambda: EmptyBuffer(buf))
    peer.sendall(b"abcdefghij")
    lenv.run_until(lambda: sum(proto.updated) == 10)
    assert proto.updated[0] == 4 and all(n <= 4 for n in proto.updated)
    tr.close()
    lenv.run(proto.closed)
    peer.close()


def test_no_reference_kept_after_close(lenv):
    tr, proto, peer = pair(lenv)
    wtr, wproto = weakref.ref(tr), weakref.ref(proto)
    tr.write(b"bye")
    tr.close()
    lenv.run(proto.closed)
    peer.close()
    del tr, proto
    collect()
    assert wtr() is None
    assert wproto() is None


def test_unclosed_transport_warns(lenv):
    a, b = socket.socketpair()
    a.setblocking(False)

    async def make():
        tr, proto = await lenv.loop.create_connection(asyncio.Protocol, sock=a)
        return tr

    tr = lenv.run(make())
    tr.pause_reading()       # the loop no longer refers to it
    with pytest.warns(ResourceWarning, match="unclosed transport"):
        del tr
        gc.collect()
    assert a.fileno() == -1  # the finalizer closed the socket
    b.close()


def test_eof_keep_open_then_write(lenv):
    class Half(Recorder):
        def eof_received(self):
            super().eof_received()
            self.transport.write(b"after eof")
            return True

    tr, proto, peer = pair(lenv, Half)
    peer.shutdown(socket.SHUT_WR)
    lenv.run_until(lambda: ("eof", "unset") in proto.events or
                   any(e[0] == "eof" for e in proto.events))
    peer.settimeout(5)
    assert peer.recv(100) == b"after eof"
    assert not tr.is_closing()
    tr.close()
    lenv.run(proto.closed)
    assert proto.lost is None
    peer.close()


def test_write_type_errors_and_after_eof(lenv):
    tr, proto, peer = pair(lenv)
    with pytest.raises(TypeError, match="data argument must be a bytes-like object, not 'str'"):
        tr.write("text")
    tr.write_eof()
    assert tr.can_write_eof()
    with pytest.raises(RuntimeError, match=r"Cannot call write\(\) after write_eof\(\)"):
        tr.write(b"x")
    peer.settimeout(5)
    assert peer.recv(10) == b""
    tr.close()
    lenv.run(proto.closed)
    peer.close()


def test_write_buffer_limits(lenv):
    tr, proto, peer = pair(lenv)
    assert tr.get_write_buffer_limits() == (16384, 65536)
    tr.set_write_buffer_limits(high=100)
    assert tr.get_write_buffer_limits() == (25, 100)
    tr.set_write_buffer_limits(low=10)
    assert tr.get_write_buffer_limits() == (10, 40)
    with pytest.raises(ValueError, match=r"high \(1\) must be >= low \(2\) must be >= 0"):
        tr.set_write_buffer_limits(high=1, low=2)
    tr.close()
    lenv.run(proto.closed)
    peer.close()


def test_c_transport_is_not_instantiable():
    for name in ("TransportBase", "SocketTransport"):
        with pytest.raises(TypeError):
            getattr(asyncio_c._core, name)()
    with pytest.raises(TypeError):
        asyncio_c._core._socket_transport(1, 2, 3)
    loop = asyncio.SelectorEventLoop()
    try:
        a, b = socket.socketpair()
        with pytest.raises(TypeError, match="asyncio_c loop"):
            asyncio_c._core._socket_transport(loop, a, asyncio.Protocol(), None, None)
        a.close()
        b.close()
    finally:
        loop.close()


def test_bad_write_buffer_limits_types(lenv):
    tr, proto, peer = pair(lenv)
    with pytest.raises(TypeError):
        tr.set_write_buffer_limits("x")
    with pytest.raises(ValueError, match=r"high \(-1\) must be >= low \(-1\) must be >= 0"):
        tr.set_write_buffer_limits(high=-1)
    assert tr.get_write_buffer_limits() == (16384, 65536)
    tr.close()
    lenv.run(proto.closed)
    peer.close()


def test_write_buffer_limits_beyond_c_sizes_and_nan(lenv):
    """asyncio checks high >= low >= 0 on the numbers as given: a huge int or a float is a limit,
    NaN fails the check (ValueError); nothing overflows."""
    tr, proto, peer = pair(lenv)
    tr.set_write_buffer_limits(high=2**100)
    tr.set_write_buffer_limits(high=1.5e300, low=10.0)
    tr.set_write_buffer_limits(low=2**70)           # high = 4 * low
    with pytest.raises(ValueError):
        tr.set_write_buffer_limits(high=math.nan)
    with pytest.raises(ValueError):
        tr.set_write_buffer_limits(high=10, low=math.nan)
    tr.set_write_buffer_limits(high=100, low=10)
    assert tr.get_write_buffer_limits() == (10, 100)
    tr.close()
    lenv.run(proto.closed)
    peer.close()


def test_writelines_not_iterable(lenv):
    tr, proto, peer = pair(lenv)
    # 3.11: WriteTransport.writelines joins first
    text = "'int' object is not iterable" if sys.version_info >= (3, 12) else "can only join"
    with pytest.raises(TypeError, match=text):
        tr.writelines(5)
    assert not tr.is_closing()
    tr.close()
    lenv.run(proto.closed)
    peer.close()


@pytest.mark.parametrize("how", ["write", "writelines"])
def test_non_contiguous_memoryview_is_a_fatal_write_error(lenv, how):
    """socket.send()/sendmsg() refuse it inside asyncio's try: reported, transport closed."""
    if how == "writelines" and sys.version_info < (3, 12):
        pytest.skip("3.11's writelines joins first: b''.join raises to the caller")
    tr, proto, peer = pair(lenv)
    data = memoryview(bytearray(10))[::2]
    if how == "write":
        assert tr.write(data) is None
    else:
        assert tr.writelines([data]) is None
    lenv.run(proto.closed)
    errors = lenv.take_errors()
    assert [e["message"] for e in errors] == ["Fatal write error on socket transport"]
    assert isinstance(errors[0]["exception"], BufferError)
    assert proto.lost is errors[0]["exception"]
    peer.close()
