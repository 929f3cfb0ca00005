"""Stream transports (TCP and Unix sockets): create_connection / create_server /
create_unix_connection / create_unix_server / connect_accepted_socket, Protocol and
BufferedProtocol, the Server API, streams, and SSL (incl. start_tls).

Every case runs on asyncio's own selector loop and on asyncio_c's loop (``lenv``) with the
same expectations: asyncio's selector_events / base_events of the running version are the
specification.  These tests pin what a replacement of asyncio's Python transports must keep:
the order of protocol callbacks, the exceptions and the loop exception handler's reports,
get_extra_info, flow control, half-close, close/abort, and the Server's bookkeeping of its
connections.
"""
import asyncio
import errno
import gc
import logging
import os
import pathlib
import socket
import ssl
import stat
import warnings

import pytest

from _loop_helpers import PY, collect, lenv, limpl  # noqa: F401
from _net_helpers import (EchoProto, RecBufProto, RecProto, certs,  # noqa: F401
                          client_ctx, needs_ipv6, open_pair, raw_pair, server_ctx, sockdir,
                          turns, unix_path, until)

KINDS = ["tcp", "unix"]


@pytest.fixture(params=KINDS)
def kind(request):
    return request.param


def fill_until_buffered(tr, chunk=b"x" * (256 * 1024), limit=512):
    """Write chunks until the transport keeps some in its own buffer (the peer must not
    read); returns how many bytes were written."""
    sent = 0
    for _ in range(limit):
        tr.write(chunk)
        sent += len(chunk)
        if tr.get_write_buffer_size() > 0:
            return sent
    raise AssertionError("the kernel took everything: is the peer reading?")


# --------------------------------------------------------------------------------------
# connection set-up, callback order, types, extra info


def test_roundtrip_and_callback_order(lenv, kind, sockdir):
    async def main():
        p = await open_pair(kind, sockdir, server=EchoProto)
        # connection_made ran before create_connection returned; nothing else yet
        assert p.cpr.log == ["made"] and p.cpr.transport is p.ctr
        assert p.spr.log == ["made"]
        assert p.cpr.n_made == 1
        p.ctr.write(b"hello")
        assert await p.cpr.wait_bytes(5) == b"hello"
        assert p.cpr.chunk_types == {bytes}     # data_received gets bytes, not a view
        assert p.spr.chunk_types == {bytes}
        p.ctr.close()
        assert p.ctr.is_closing()
        assert await p.cpr.lost is None
        assert await p.spr.lost is None
        assert p.cpr.log == ["made", "data", "lost"]
        # the server saw the client's FIN: eof_received (returned None) closed it
        assert p.spr.log == ["made", "data", "eof", "lost"]
        await turns(5)
        assert (p.cpr.n_lost, p.spr.n_lost) == (1, 1)
        await p.aclose()

    lenv.run(main())


def test_server_writes_in_connection_made(lenv, kind, sockdir):
    """Data sent by the server at once reaches the client after its connection_made."""
    class Greeter(RecProto):
        def connection_made(self, transport):
            super().connection_made(transport)
            transport.write(b"welcome")

    async def main():
        p = await open_pair(kind, sockdir, server=Greeter)
        assert await p.cpr.wait_bytes(7) == b"welcome"
        assert p.cpr.log == ["made", "data"]
        await p.aclose()

    lenv.run(main())


def test_transport_types(lenv, kind, sockdir):
    async def main():
        p = await open_pair(kind, sockdir)
        for tr in (p.ctr, p.str):
            assert isinstance(tr, asyncio.Transport)
            assert isinstance(tr, asyncio.ReadTransport)
            assert isinstance(tr, asyncio.WriteTransport)
            assert isinstance(tr, asyncio.BaseTransport)
            assert not isinstance(tr, asyncio.DatagramTransport)
            assert not isinstance(tr, asyncio.SubprocessTransport)
            assert tr.can_write_eof() is True
            assert tr.is_closing() is False
            assert tr.is_reading() is True
        await p.aclose()

    lenv.run(main())


def test_extra_info(lenv, kind, sockdir):
    async def main():
        p = await open_pair(kind, sockdir)
        fam = socket.AF_INET if kind == "tcp" else socket.AF_UNIX
        for tr in (p.ctr, p.str):
            s = tr.get_extra_info("socket")
            assert isinstance(s, asyncio.trsock.TransportSocket)
            assert tr.get_extra_info("socket") is s
            assert s.family == fam and s.type == socket.SOCK_STREAM
            assert s.fileno() >= 0
            assert tr.get_extra_info("sockname") == s.getsockname()
            assert tr.get_extra_info("peername") == s.getpeername()
            assert tr.get_extra_info("no such key") is None
            assert tr.get_extra_info("no such key", 42) == 42
            assert tr.get_extra_info("sslcontext") is None
            assert tr.get_extra_info("ssl_object") is None
            assert tr.get_extra_info("pipe") is None
        if kind == "tcp":
            assert p.ctr.get_extra_info("peername") == p.address
            assert p.str.get_extra_info("sockname") == p.address
            assert p.str.get_extra_info("peername") == p.ctr.get_extra_info("sockname")
        else:
            assert p.ctr.get_extra_info("peername") == p.address
            assert p.ctr.get_extra_info("sockname") == ""
            assert p.str.get_extra_info("sockname") == p.address
            assert p.str.get_extra_info("peername") == ""
        await p.aclose()
        # still answered after the transport is gone
        assert p.ctr.get_extra_info("peername") == p.address
        assert p.ctr.get_extra_info("no such key", 7) == 7

    lenv.run(main())


def test_tcp_nodelay(lenv):
    """asyncio disables Nagle on every TCP transport it makes (base_events._set_nodelay)."""
    async def main():
        p = await open_pair("tcp")
        for tr in (p.ctr, p.str):
            s = tr.get_extra_info("socket")
            assert s.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
        await p.aclose()

    lenv.run(main())


def test_tcp_nodelay_only_for_ipproto_tcp_sockets(lenv):
    """_set_nodelay only touches sockets whose proto is IPPROTO_TCP: a socket made with
    proto 0 and handed over with sock= keeps Nagle (asyncio's behaviour)."""
    async def main():
        loop = asyncio.get_running_loop()
        srv = await loop.create_server(RecProto, "127.0.0.1", 0)
        addr = srv.sockets[0].getsockname()
        results = {}
        for proto in (0, socket.IPPROTO_TCP):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM, proto)
            s.setblocking(False)
            await loop.sock_connect(s, addr)
            tr, _ = await loop.create_connection(RecProto, sock=s)
            results[proto] = tr.get_extra_info("socket").getsockopt(
                socket.IPPROTO_TCP, socket.TCP_NODELAY)
            tr.close()
        assert results[socket.IPPROTO_TCP] != 0
        assert results[0] == 0
        srv.close()
        await srv.wait_closed()

    lenv.run(main())


# --------------------------------------------------------------------------------------
# write buffer, flow control


def test_write_buffer_limits(lenv, kind, sockdir):
    async def main():
        p = await open_pair(kind, sockdir)
        tr = p.ctr
        assert tr.get_write_buffer_size() == 0
        assert tr.get_write_buffer_limits() == (16384, 65536)
        tr.set_write_buffer_limits(high=100)
        assert tr.get_write_buffer_limits() == (25, 100)
        tr.set_write_buffer_limits(low=10)
        assert tr.get_write_buffer_limits() == (10, 40)
        tr.set_write_buffer_limits(high=50, low=50)
        assert tr.get_write_buffer_limits() == (50, 50)
        tr.set_write_buffer_limits(0)
        assert tr.get_write_buffer_limits() == (0, 0)
        with pytest.raises(ValueError, match=r"^high \(1\) must be >= low \(2\) must be >= 0$"):
            tr.set_write_buffer_limits(high=1, low=2)
        with pytest.raises(ValueError, match=r"^high \(-4\) must be >= low \(-1\) must be >= 0$"):
            tr.set_write_buffer_limits(high=-4)
        assert tr.get_write_buffer_limits() == (0, 0)   # unchanged by the failures
        tr.set_write_buffer_limits()
        assert tr.get_write_buffer_limits() == (16384, 65536)
        assert p.cpr.log == ["made"]           # nothing buffered: no pause_writing
        await p.aclose()

    lenv.run(main())


def test_pause_resume_writing_at_water_marks(lenv, kind, sockdir):
    class P(RecProto):
        def pause_writing(self):
            super().pause_writing()
            self.size_at_pause = self.transport.get_write_buffer_size()

        def resume_writing(self):
            super().resume_writing()
            self.size_at_resume = self.transport.get_write_buffer_size()

    async def main():
        p = await open_pair(kind, sockdir, client=P)
        p.str.pause_reading()
        tr = p.ctr
        chunk = b"y" * (256 * 1024)
        sent = 0
        while "pause" not in p.cpr.log:
            tr.write(chunk)
            sent += len(chunk)
            assert sent < 1 << 30
        # pause_writing ran inside the write() that took the buffer over the high mark
        assert p.cpr.size_at_pause > 65536
        assert tr.get_write_buffer_size() == p.cpr.size_at_pause
        assert p.cpr.log == ["made", "pause"]
        tr.write(chunk)                        # still accepted while paused, no second pause
        sent += len(chunk)
        assert tr.get_write_buffer_size() == p.cpr.size_at_pause + len(chunk)
        assert p.cpr.log == ["made", "pause"]
        p.str.resume_reading()
        await until(lambda: "resume" in p.cpr.log)
        assert p.cpr.size_at_resume <= 16384
        await p.spr.wait_bytes(sent, timeout=30)
        assert len(p.spr.data) == sent
        assert bytes(p.spr.data[-len(chunk):]) == chunk
        await until(lambda: tr.get_write_buffer_size() == 0)
        assert p.cpr.log == ["made", "pause", "resume"]
        await p.aclose()

    lenv.run(main())


def test_set_write_buffer_limits_can_pause(lenv, kind, sockdir):
    """set_write_buffer_limits() under the current buffer size pauses at once; raising
    them again does not resume (only the buffer draining does)."""
    async def main():
        p = await open_pair(kind, sockdir)
        p.str.pause_reading()
        tr = p.ctr
        tr.set_write_buffer_limits(high=1 << 40)
        sent = fill_until_buffered(tr)
        assert p.cpr.log == ["made"]
        tr.set_write_buffer_limits(high=0)
        assert p.cpr.log == ["made", "pause"]
        tr.set_write_buffer_limits(high=1 << 40)
        assert p.cpr.log == ["made", "pause"]
        p.str.resume_reading()
        await until(lambda: "resume" in p.cpr.log)
        await p.spr.wait_bytes(sent, timeout=30)
        assert p.cpr.log == ["made", "pause", "resume"]
        await p.aclose()

    lenv.run(main())


@pytest.mark.parametrize("which", ["pause_writing", "resume_writing"])
def test_flow_control_callback_raising(lenv, kind, sockdir, which):
    """An exception from pause_writing/resume_writing goes to the exception handler;
    the transport carries on."""
    err = ZeroDivisionError(which)

    class P(RecProto):
        def pause_writing(self):
            super().pause_writing()
            if which == "pause_writing":
                raise err

        def resume_writing(self):
            super().resume_writing()
            if which == "resume_writing":
                raise err

    async def main():
        p = await open_pair(kind, sockdir, client=P)
        p.str.pause_reading()
        p.ctr.set_write_buffer_limits(high=0)
        sent = fill_until_buffered(p.ctr)
        assert p.cpr.log == ["made", "pause"]
        p.str.resume_reading()
        await until(lambda: "resume" in p.cpr.log)
        await p.spr.wait_bytes(sent, timeout=30)
        errors = lenv.take_errors()
        assert len(errors) == 1
        ctx = errors[0]
        assert ctx["message"] == f"protocol.{which}() failed"
        assert ctx["exception"] is err
        assert ctx["transport"] is p.ctr
        assert ctx["protocol"] is p.cpr
        assert not p.ctr.is_closing()
        p.ctr.write(b"after")
        await p.spr.wait_bytes(sent + 5)
        await p.aclose()

    lenv.run(main())


# --------------------------------------------------------------------------------------
# reading: pause/resume


def test_pause_resume_reading(lenv, kind, sockdir):
    async def main():
        p = await open_pair(kind, sockdir)
        tr = p.ctr
        assert tr.is_reading()
        tr.pause_reading()
        assert not tr.is_reading()
        tr.pause_reading()                     # no-op
        assert not tr.is_reading()
        p.str.write(b"abc")
        await turns(20)
        await asyncio.sleep(0.05)
        assert p.cpr.data == b""               # nothing delivered while paused
        tr.resume_reading()
        assert tr.is_reading()
        tr.resume_reading()                    # no-op
        assert await p.cpr.wait_bytes(3) == b"abc"
        # paused while more data and the EOF arrive: both wait for resume_reading
        tr.pause_reading()
        p.str.write(b"def")
        p.str.close()
        await p.spr.lost
        await turns(20)
        assert p.cpr.data == b"abc" and p.cpr.log == ["made", "data"]
        tr.resume_reading()
        assert await p.cpr.lost is None
        assert p.cpr.data == b"abcdef"
        assert p.cpr.log == ["made", "data", "eof", "lost"]
        assert not tr.is_reading()             # closed
        tr.pause_reading()                     # no-ops once closed
        tr.resume_reading()
        assert not tr.is_reading()
        await p.aclose()

    lenv.run(main())


def test_pause_reading_in_connection_made(lenv, kind, sockdir):
    """Reading starts only after connection_made, so pausing there holds all data back."""
    class P(RecProto):
        def connection_made(self, transport):
            super().connection_made(transport)
            transport.pause_reading()

    class Greeter(RecProto):
        def connection_made(self, transport):
            super().connection_made(transport)
            transport.write(b"hi there")

    async def main():
        p = await open_pair(kind, sockdir, client=P, server=Greeter)
        await turns(20)
        await asyncio.sleep(0.05)
        assert not p.ctr.is_reading()
        assert p.cpr.log == ["made"]
        p.ctr.resume_reading()
        assert await p.cpr.wait_bytes(8) == b"hi there"
        await p.aclose()

    lenv.run(main())


# --------------------------------------------------------------------------------------
# EOF and half-close


@pytest.mark.parametrize("keep", [True, 1, "yes"], ids=["True", "1", "str"])
def test_eof_received_true_keeps_half_open(lenv, kind, sockdir, keep):
    async def main():
        p = await open_pair(kind, sockdir, server=lambda: RecProto(eof_result=keep))
        p.ctr.write(b"ping")
        p.ctr.write_eof()
        await until(lambda: "eof" in p.spr.log)
        assert p.spr.log == ["made", "data", "eof"]
        assert p.spr.data == b"ping"
        await turns(10)
        assert not p.str.is_closing()
        assert p.spr.n_lost == 0
        p.str.write(b"pong")                   # the server can still write
        assert await p.cpr.wait_bytes(4) == b"pong"
        p.str.close()
        assert await p.spr.lost is None
        assert await p.cpr.lost is None
        assert p.spr.log == ["made", "data", "eof", "lost"]
        assert p.cpr.log == ["made", "data", "eof", "lost"]
        await p.aclose()

    lenv.run(main())


@pytest.mark.parametrize("ret", [None, False, 0, ""], ids=["None", "False", "0", "empty"])
def test_eof_received_falsy_closes(lenv, kind, sockdir, ret):
    async def main():
        p = await open_pair(kind, sockdir, server=lambda: RecProto(eof_result=ret))
        p.ctr.write_eof()
        assert await p.spr.lost is None
        assert p.spr.log == ["made", "eof", "lost"]
        assert p.str.is_closing()
        # the server closed, so the client gets its EOF and closes too
        assert await p.cpr.lost is None
        assert p.cpr.log == ["made", "eof", "lost"]
        await p.aclose()

    lenv.run(main())


def test_eof_received_raising(lenv, kind, sockdir):
    err = KeyError("eof")

    class P(RecProto):
        def eof_received(self):
            super().eof_received()
            raise err

    async def main():
        p = await open_pair(kind, sockdir, server=P)
        p.ctr.write_eof()
        assert await p.spr.lost is err
        errors = lenv.take_errors()
        assert [e["message"] for e in errors] == [
            "Fatal error: protocol.eof_received() call failed."]
        assert errors[0]["exception"] is err
        assert errors[0]["transport"] is p.str
        assert errors[0]["protocol"] is p.spr
        assert p.spr.log == ["made", "eof", "lost"]
        await p.aclose()

    lenv.run(main())


def test_write_eof(lenv, kind, sockdir):
    async def main():
        p = await open_pair(kind, sockdir, server=lambda: RecProto(eof_result=True))
        tr = p.ctr
        assert tr.can_write_eof() is True
        tr.write(b"data")
        tr.write_eof()
        assert not tr.is_closing()
        with pytest.raises(RuntimeError, match=r"^Cannot call write\(\) after write_eof\(\)$"):
            tr.write(b"x")
        with pytest.raises(RuntimeError, match=r"^Cannot call write\(\) after write_eof\(\)$"):
            tr.write(b"")
        msg = ("Cannot call writelines() after write_eof()" if PY >= (3, 12)
               else "Cannot call write() after write_eof()")
        with pytest.raises(RuntimeError) as ei:
            tr.writelines([b"x"])
        assert str(ei.value) == msg
        tr.write_eof()                         # again: no-op
        await until(lambda: "eof" in p.spr.log)
        assert p.spr.data == b"data"
        # the other direction still works
        p.str.write(b"reply")
        assert await p.cpr.wait_bytes(5) == b"reply"
        p.str.close()
        assert await p.cpr.lost is None
        assert p.cpr.log == ["made", "data", "eof", "lost"]
        await p.aclose()

    lenv.run(main())


def test_write_eof_after_pending_data(lenv, kind, sockdir):
    """write_eof with a non-empty buffer shuts down only once the buffer is sent."""
    async def main():
        p = await open_pair(kind, sockdir)
        p.str.pause_reading()
        sent = fill_until_buffered(p.ctr)
        p.ctr.write_eof()
        assert p.ctr.get_write_buffer_size() > 0
        p.str.resume_reading()
        assert await p.spr.lost is None
        assert len(p.spr.data) == sent
        assert p.spr.log == ["made", "data", "eof", "lost"]
        assert await p.cpr.lost is None
        await p.aclose()

    lenv.run(main())


def test_write_eof_after_close_is_noop(lenv, kind, sockdir):
    async def main():
        p = await open_pair(kind, sockdir)
        p.ctr.close()
        p.ctr.write_eof()
        assert await p.cpr.lost is None
        p.ctr.write_eof()
        await p.aclose()

    lenv.run(main())


# --------------------------------------------------------------------------------------
# close / abort / connection_lost


@pytest.mark.parametrize("how", ["close", "abort", "close,close", "close,abort",
                                 "abort,close", "abort,abort"])
def test_connection_lost_exactly_once(lenv, kind, sockdir, how):
    async def main():
        p = await open_pair(kind, sockdir)
        for op in how.split(","):
            getattr(p.ctr, op)()
            assert p.ctr.is_closing()
        assert p.cpr.n_lost == 0               # connection_lost is called soon, not at once
        assert await p.cpr.lost is None
        await turns(10)
        for op in how.split(","):
            getattr(p.ctr, op)()               # after connection_lost: still no-ops
        await turns(5)
        assert p.cpr.n_lost == 1
        assert p.cpr.log == ["made", "lost"]
        assert await p.spr.lost is None
        assert p.spr.log == ["made", "eof", "lost"]
        await p.aclose()

    lenv.run(main())


def test_close_flushes_pending_data(lenv, kind, sockdir):
    async def main():
        p = await open_pair(kind, sockdir)
        p.str.pause_reading()
        sent = fill_until_buffered(p.ctr)
        p.ctr.close()
        assert p.ctr.is_closing()
        assert not p.ctr.is_reading()
        await turns(10)
        assert p.cpr.n_lost == 0               # waits for the buffer
        assert p.ctr.get_write_buffer_size() > 0
        p.str.resume_reading()
        assert await p.cpr.lost is None
        assert p.ctr.get_write_buffer_size() == 0
        assert await p.spr.lost is None
        assert len(p.spr.data) == sent
        assert p.spr.log == ["made", "data", "eof", "lost"]
        await p.aclose()

    lenv.run(main())


def test_abort_discards_pending_data(lenv, kind, sockdir):
    async def main():
        p = await open_pair(kind, sockdir)
        p.str.pause_reading()
        sent = fill_until_buffered(p.ctr)
        p.ctr.abort()
        assert p.ctr.is_closing()
        assert p.ctr.get_write_buffer_size() == 0
        assert await p.cpr.lost is None
        assert p.cpr.log == ["made", "lost"]
        p.str.resume_reading()
        assert await p.spr.lost is None
        assert 0 < len(p.spr.data) < sent
        await p.aclose()

    lenv.run(main())


def test_close_from_connection_made(lenv, kind, sockdir):
    class P(RecProto):
        def connection_made(self, transport):
            super().connection_made(transport)
            transport.close()

    async def main():
        p = await open_pair(kind, sockdir, server=P)
        assert await p.spr.lost is None
        assert p.spr.log == ["made", "lost"]
        assert await p.cpr.lost is None
        assert p.cpr.log == ["made", "eof", "lost"]
        await p.aclose()

    lenv.run(main())


def test_close_from_data_received(lenv, kind, sockdir):
    """close() inside data_received: no more data_received, connection_lost(None) once."""
    class P(RecProto):
        def data_received(self, data):
            super().data_received(data)
            self.transport.close()

    async def main():
        p = await open_pair(kind, sockdir, server=P)
        p.ctr.write(b"a" * 100000)
        assert await p.spr.lost is None
        await turns(10)
        assert p.spr.log == ["made", "data", "lost"]
        assert p.spr.n_lost == 1
        await p.cpr.lost
        await p.aclose()

    lenv.run(main())


def test_write_after_close_is_dropped(lenv, kind, sockdir, caplog):
    """asyncio drops writes after close() and logs a warning from the 5th one on."""
    async def main():
        p = await open_pair(kind, sockdir)
        p.ctr.close()
        with caplog.at_level(logging.WARNING, logger="asyncio"):
            for _ in range(4):
                p.ctr.write(b"late")
            assert [r for r in caplog.records if r.name == "asyncio"] == []
            p.ctr.write(b"late")
            recs = [r for r in caplog.records if r.name == "asyncio"]
            assert [r.getMessage() for r in recs] == ["socket.send() raised exception."]
            assert recs[0].levelno == logging.WARNING
            assert p.ctr.is_closing()
            assert await p.cpr.lost is None
            for _ in range(10):                # after connection_lost too
                p.ctr.write(b"later")
            # (not writelines(): after close() it raises "TypeError: 'NoneType' object
            # is not callable" in asyncio 3.12/3.13, a CPython bug not worth pinning)
            with pytest.raises(TypeError):
                p.ctr.write("not bytes")       # the type check still comes first
        assert await p.spr.lost is None
        assert p.spr.data == b""
        assert p.cpr.n_lost == 1
        await p.aclose()

    lenv.run(main())


def test_write_types(lenv, kind, sockdir):
    import array

    async def main():
        p = await open_pair(kind, sockdir)
        tr = p.ctr
        for bad, name in [("str", "str"), (None, "NoneType"), (1, "int"),
                          (array.array("B", b"ab"), "array")]:
            with pytest.raises(TypeError) as ei:
                tr.write(bad)
            assert str(ei.value) == (
                f"data argument must be a bytes-like object, not {name!r}")
        tr.write(b"")                          # empty: nothing at all
        tr.write(b"ab")
        tr.write(bytearray(b"cd"))
        tr.write(memoryview(b"xefx")[1:3])
        assert await p.spr.wait_bytes(6) == b"abcdef"
        await p.aclose()

    lenv.run(main())


def test_writelines(lenv, kind, sockdir):
    async def main():
        p = await open_pair(kind, sockdir)
        tr = p.ctr
        tr.writelines([b"ab", bytearray(b"cd"), memoryview(b"ef")])
        tr.writelines([])
        tr.writelines(iter([b"gh", b"ij"]))
        tr.writelines(b"k" for _ in range(3))
        with pytest.raises(TypeError):
            tr.writelines([b"ok", "not bytes"])
        big = [bytes([i]) * 100000 for i in range(20)]   # much more than one send takes
        tr.writelines(big)
        expected = b"abcdefghijkkk" + b"".join(big)
        assert await p.spr.wait_bytes(len(expected), timeout=30) == expected
        await p.aclose()

    lenv.run(main())


# --------------------------------------------------------------------------------------
# set_protocol / get_protocol, BufferedProtocol


def test_set_protocol(lenv, kind, sockdir):
    async def main():
        p = await open_pair(kind, sockdir)
        assert p.ctr.get_protocol() is p.cpr
        new = RecProto()
        p.ctr.set_protocol(new)
        assert p.ctr.get_protocol() is new
        p.str.write(b"to new")
        assert await new.wait_bytes(6) == b"to new"
        assert new.log == ["data"]             # set_protocol does not call connection_made
        assert p.cpr.log == ["made"]
        # switching to a BufferedProtocol switches the way of reading
        buf = RecBufProto()
        p.ctr.set_protocol(buf)
        assert p.ctr.get_protocol() is buf
        p.str.write(b"buffered")
        assert await buf.wait_bytes(8) == b"buffered"
        assert buf.hints and set(buf.hints) == {-1}
        # and back
        back = RecProto()
        p.ctr.set_protocol(back)
        p.str.write(b"plain")
        assert await back.wait_bytes(5) == b"plain"
        p.str.close()
        assert await back.lost is None
        assert back.log == ["data", "eof", "lost"]
        assert (p.cpr.n_lost, new.n_lost, buf.n_lost) == (0, 0, 0)
        await p.aclose()

    lenv.run(main())


def test_buffered_protocol_roundtrip(lenv, kind, sockdir):
    async def main():
        p = await open_pair(kind, sockdir, server=RecBufProto)
        payload = os.urandom(1 << 20)
        p.ctr.write(payload)
        p.ctr.write_eof()
        assert await p.spr.lost is None
        assert bytes(p.spr.data) == payload
        assert p.spr.log == ["made", "data", "eof", "lost"]
        assert set(p.spr.hints) == {-1}        # asyncio asks with sizehint -1
        await p.aclose()

    lenv.run(main())


@pytest.mark.parametrize("bufsize", [1, 7])
def test_buffered_protocol_small_buffer(lenv, kind, sockdir, bufsize):
    async def main():
        p = await open_pair(kind, sockdir, server=lambda: RecBufProto(bufsize=bufsize))
        payload = bytes(range(256)) * 4
        p.ctr.write(payload)
        assert await p.spr.wait_bytes(len(payload)) == payload
        assert len(p.spr.hints) >= len(payload) // bufsize
        await p.aclose()

    lenv.run(main())


def test_buffered_protocol_memoryview_buffer(lenv, kind, sockdir):
    class P(RecBufProto):
        def get_buffer(self, sizehint):
            self.hints.append(sizehint)
            return memoryview(self.buf)[:5]

    async def main():
        p = await open_pair(kind, sockdir, server=P)
        p.ctr.write(b"0123456789abc")
        assert await p.spr.wait_bytes(13) == b"0123456789abc"
        await p.aclose()

    lenv.run(main())


def test_buffered_protocol_eof_true_keeps_open(lenv, kind, sockdir):
    async def main():
        p = await open_pair(kind, sockdir, server=lambda: RecBufProto(eof_result=True))
        p.ctr.write(b"q")
        p.ctr.write_eof()
        await until(lambda: "eof" in p.spr.log)
        await turns(10)
        assert not p.str.is_closing()
        p.str.write(b"answer")
        assert await p.cpr.wait_bytes(6) == b"answer"
        p.str.close()
        assert await p.spr.lost is None
        assert p.spr.log == ["made", "data", "eof", "lost"]
        await p.aclose()

    lenv.run(main())


class BadBuf(RecBufProto):
    """get_buffer / buffer_updated misbehave as `mode` says."""

    mode = None
    err = None

    def get_buffer(self, sizehint):
        self.hints.append(sizehint)
        if self.mode == "empty":
            return bytearray()
        if self.mode == "readonly":
            return b"read-only bytes"
        if self.mode == "raise":
            raise self.err
        return self.buf

    def buffer_updated(self, nbytes):
        super().buffer_updated(nbytes)
        if self.mode == "updated":
            raise self.err


@pytest.mark.parametrize("mode,message,exc_type", [
    ("empty", "Fatal error: protocol.get_buffer() call failed.", RuntimeError),
    ("raise", "Fatal error: protocol.get_buffer() call failed.", ValueError),
    ("readonly", "Fatal read error on socket transport", TypeError),
    ("updated", "Fatal error: protocol.buffer_updated() call failed.", ValueError),
])
def test_buffered_protocol_errors(lenv, kind, sockdir, mode, message, exc_type):
    """A failing get_buffer()/buffer_updated() is a fatal error: reported to the exception
    handler (not an OSError), the transport closed, connection_lost gets the exception."""
    async def main():
        proto_box = []

        def factory():
            pr = BadBuf()
            pr.mode = mode
            pr.err = ValueError(mode)
            proto_box.append(pr)
            return pr

        p = await open_pair(kind, sockdir, server=factory)
        p.ctr.write(b"trigger")
        exc = await p.spr.lost
        assert type(exc) is exc_type
        if mode == "empty":
            assert str(exc) == "get_buffer() returned an empty buffer"
        if mode in ("raise", "updated"):
            assert exc is p.spr.err
        errors = lenv.take_errors()
        assert [e["message"] for e in errors] == [message]
        assert errors[0]["exception"] is exc
        assert errors[0]["transport"] is p.str
        assert errors[0]["protocol"] is p.spr
        assert p.str.is_closing()
        expected_log = ["made", "data", "lost"] if mode == "updated" else ["made", "lost"]
        assert p.spr.log == expected_log
        await turns(5)
        assert p.spr.n_lost == 1
        # the client sees the server close: with a reset when the server closed without
        # reading what it had been sent
        exc = await p.cpr.lost
        if mode == "updated":
            assert exc is None
        else:
            assert isinstance(exc, ConnectionResetError)
        assert lenv.take_errors() == []
        await p.aclose()

    lenv.run(main())


def test_buffered_protocol_get_buffer_oserror_not_reported(lenv, kind, sockdir):
    """An OSError is a fatal error too, but asyncio does not report OSErrors to the
    exception handler (only in debug logs)."""
    async def main():
        err = ConnectionAbortedError(errno.ECONNABORTED, "from get_buffer")

        def factory():
            pr = BadBuf()
            pr.mode = "raise"
            pr.err = err
            return pr

        p = await open_pair(kind, sockdir, server=factory)
        p.ctr.write(b"trigger")
        assert await p.spr.lost is err
        assert p.spr.log == ["made", "lost"]
        await p.cpr.lost
        await p.aclose()

    lenv.run(main())


@pytest.mark.parametrize("make_exc", [lambda: ValueError("boom"),
                                      lambda: OSError(errno.EIO, "io")],
                         ids=["ValueError", "OSError"])
def test_data_received_raising(lenv, kind, sockdir, make_exc):
    # A fresh exception per run: raising one shared instance again appends each run's
    # frames to its __traceback__ (what the refleak plugin saw grow, on both loops).
    exc = make_exc()

    class P(RecProto):
        def data_received(self, data):
            super().data_received(data)
            raise exc

    async def main():
        p = await open_pair(kind, sockdir, server=P)
        p.ctr.write(b"x")
        assert await p.spr.lost is exc
        errors = lenv.take_errors()
        if isinstance(exc, OSError):
            assert errors == []
        else:
            assert [e["message"] for e in errors] == [
                "Fatal error: protocol.data_received() call failed."]
            assert errors[0]["exception"] is exc
            assert errors[0]["transport"] is p.str
            assert errors[0]["protocol"] is p.spr
        assert p.spr.log == ["made", "data", "lost"]
        assert await p.cpr.lost is None
        assert p.cpr.log == ["made", "eof", "lost"]
        await p.aclose()

    lenv.run(main())


def test_connection_lost_raising_is_reported(lenv, kind, sockdir):
    """An exception from connection_lost escapes the transport's callback: the loop's
    exception handler gets it (the message names the callback, so only its start is
    pinned), and the socket is closed anyway."""
    err = LookupError("lost")

    class P(RecProto):
        def connection_lost(self, exc):
            super().connection_lost(exc)
            raise err

    async def main():
        p = await open_pair(kind, sockdir, client=P)
        p.ctr.close()
        await p.cpr.lost
        await turns(3)
        errors = lenv.take_errors()
        assert len(errors) == 1
        assert errors[0]["exception"] is err
        assert errors[0]["message"].startswith("Exception in callback ")
        assert await p.spr.lost is None         # the socket was closed
        await p.aclose()

    lenv.run(main())


def test_connection_made_raising(lenv, kind, sockdir):
    """asyncio calls connection_made from a callback of its own: its exception goes to the
    loop's exception handler (the message names the callback, so only its start is
    pinned), create_connection still succeeds, and the connection works."""
    err = UnicodeError("made")

    class P(RecProto):
        def connection_made(self, transport):
            super().connection_made(transport)
            raise err

    async def main():
        p = await open_pair(kind, sockdir, client=P)
        errors = lenv.take_errors()
        assert len(errors) == 1
        assert errors[0]["exception"] is err
        assert errors[0]["message"].startswith("Exception in callback ")
        assert p.ctr.get_protocol() is p.cpr and not p.ctr.is_closing()
        p.str.write(b"works")
        assert await p.cpr.wait_bytes(5) == b"works"
        assert p.cpr.log == ["made", "data"]
        await p.aclose()

    lenv.run(main())


# --------------------------------------------------------------------------------------
# ResourceWarning, repr


def test_unclosed_transport_resource_warning(lenv, kind, sockdir):
    async def main():
        p = await open_pair(kind, sockdir)
        tr = p.ctr
        tr.pause_reading()                     # the loop keeps no reference to it now
        p.ctr = p.cpr.transport = p.cpr.made = None
        with pytest.warns(ResourceWarning, match="unclosed transport"):
            del tr
            collect()
        assert p.cpr.n_lost == 0               # no connection_lost from a finalizer
        # the finalizer closed the socket: the server sees the EOF
        assert await p.spr.lost is None
        assert p.spr.log == ["made", "eof", "lost"]
        await p.aclose()

    lenv.run(main())


def test_unclosed_transport_at_loop_close(lenv, kind, sockdir):
    async def main():
        p = await open_pair(kind, sockdir)
        p.server.close()
        await turns(2)
        return p.cpr.lost, p.spr.lost

    futs = lenv.run(main())
    del futs
    collect()
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        lenv.loop.close()
        collect()
    msgs = [str(x.message) for x in w if issubclass(x.category, ResourceWarning)]
    assert any("unclosed transport" in m for m in msgs), msgs


def test_repr_through_lifecycle(lenv, kind, sockdir):
    async def main():
        p = await open_pair(kind, sockdir)
        tr = p.ctr
        r = repr(tr)
        assert r.startswith("<") and r.endswith(">")
        assert "closed" not in r and "closing" not in r
        p.str.pause_reading()
        fill_until_buffered(tr)
        repr(tr)
        tr.close()
        assert "closing" in repr(tr)
        p.str.resume_reading()
        await p.cpr.lost
        assert "closed" in repr(tr)
        await p.aclose()
        return tr

    tr = lenv.run(main())
    lenv.loop.close()
    assert "closed" in repr(tr)


# --------------------------------------------------------------------------------------
# Server API


def test_server_api(lenv, kind, sockdir):
    async def main():
        loop = asyncio.get_running_loop()
        if kind == "tcp":
            srv = await loop.create_server(EchoProto, "127.0.0.1", 0)
            fam = socket.AF_INET
        else:
            path = unix_path(sockdir)
            srv = await loop.create_unix_server(EchoProto, path)
            fam = socket.AF_UNIX
        assert isinstance(srv, asyncio.AbstractServer)
        assert srv.get_loop() is loop
        assert srv.is_serving()
        socks = srv.sockets
        assert isinstance(socks, tuple) and len(socks) == 1
        assert isinstance(socks[0], asyncio.trsock.TransportSocket)
        assert socks[0].family == fam and socks[0].type == socket.SOCK_STREAM
        addr = socks[0].getsockname()
        assert repr(srv).startswith("<Server sockets=(")
        async with srv as s:
            assert s is srv
            if kind == "tcp":
                tr, pr = await loop.create_connection(RecProto, *addr)
            else:
                tr, pr = await loop.create_unix_connection(RecProto, addr)
            tr.write(b"echo")
            assert await pr.wait_bytes(4) == b"echo"
            tr.close()
            await pr.lost
        assert not srv.is_serving()
        assert srv.sockets == ()
        assert repr(srv) == "<Server sockets=()>"
        srv.close()                            # again: no-op
        await srv.wait_closed()
        if kind == "tcp":
            with pytest.raises(ConnectionRefusedError):
                await loop.create_connection(RecProto, *addr)
        else:
            # 3.13 removes the socket file of a closed server (cleanup_socket=True)
            expected = FileNotFoundError if PY >= (3, 13) else ConnectionRefusedError
            with pytest.raises(expected):
                await loop.create_unix_connection(RecProto, addr)

    lenv.run(main())


def test_server_start_serving_false(lenv, kind, sockdir):
    async def main():
        loop = asyncio.get_running_loop()
        if kind == "tcp":
            srv = await loop.create_server(EchoProto, "127.0.0.1", 0, start_serving=False)
            addr = srv.sockets[0].getsockname()

            def connect():
                return loop.create_connection(RecProto, *addr)
        else:
            addr = unix_path(sockdir)
            srv = await loop.create_unix_server(EchoProto, addr, start_serving=False)

            def connect():
                return loop.create_unix_connection(RecProto, addr)
        assert not srv.is_serving()
        assert len(srv.sockets) == 1
        with pytest.raises(ConnectionRefusedError):   # bound but not listening
            await connect()
        await srv.start_serving()
        assert srv.is_serving()
        await srv.start_serving()              # again: no-op
        tr, pr = await connect()
        tr.write(b"now")
        assert await pr.wait_bytes(3) == b"now"
        tr.close()
        await pr.lost
        srv.close()
        await srv.wait_closed()

    lenv.run(main())


def test_server_serve_forever(lenv, kind, sockdir):
    async def main():
        loop = asyncio.get_running_loop()
        if kind == "tcp":
            srv = await loop.create_server(EchoProto, "127.0.0.1", 0, start_serving=False)
            addr = srv.sockets[0].getsockname()

            def connect():
                return loop.create_connection(RecProto, *addr)
        else:
            addr = unix_path(sockdir)
            srv = await loop.create_unix_server(EchoProto, addr, start_serving=False)

            def connect():
                return loop.create_unix_connection(RecProto, addr)
        task = loop.create_task(srv.serve_forever())
        await turns(3)
        assert srv.is_serving()
        with pytest.raises(RuntimeError, match="is already being awaited on serve_forever"):
            await srv.serve_forever()
        tr, pr = await connect()
        tr.write(b"forever")
        assert await pr.wait_bytes(7) == b"forever"
        tr.close()
        await pr.lost
        await turns(5)                         # the server side of it closes too
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert not srv.is_serving()
        assert srv.sockets == ()
        with pytest.raises(RuntimeError, match=r"^server .* is closed$"):
            await srv.serve_forever()

    lenv.run(main())


def test_server_wait_closed_waits_for_connections(lenv, kind, sockdir):
    """A wait_closed() begun before close() ends only once the server is closed AND its
    last connection is gone (the transports attach to / detach from their Server)."""
    async def main():
        loop = asyncio.get_running_loop()
        p = await open_pair(kind, sockdir)
        waiter = loop.create_task(p.server.wait_closed())
        await turns(10)
        assert not waiter.done()
        p.server.close()
        await turns(10)
        assert not waiter.done()               # one connection still open
        late = loop.create_task(p.server.wait_closed())
        await turns(10)
        # 3.11 returns at once from a wait_closed() begun after close()
        assert late.done() == (PY < (3, 12))
        p.ctr.close()
        await p.spr.lost                       # the server's transport goes
        await asyncio.wait_for(waiter, 10)
        await asyncio.wait_for(late, 10)
        await p.server.wait_closed()

    lenv.run(main())


def test_server_wait_closed_after_abort(lenv, kind, sockdir):
    async def main():
        loop = asyncio.get_running_loop()
        p = await open_pair(kind, sockdir)
        p.server.close()
        waiter = loop.create_task(p.server.wait_closed())
        await turns(10)
        if PY >= (3, 12):
            assert not waiter.done()
        p.str.abort()
        await asyncio.wait_for(waiter, 10)
        assert await p.spr.lost is None
        assert await p.cpr.lost is None
        await p.aclose()

    lenv.run(main())


@pytest.mark.skipif(PY < (3, 13), reason="Server.close_clients/abort_clients are 3.13+")
def test_server_close_clients(lenv, kind, sockdir):
    async def main():
        p = await open_pair(kind, sockdir)
        p.server.close()
        p.server.close_clients()
        assert p.str.is_closing()
        assert await p.spr.lost is None
        assert await p.cpr.lost is None
        assert p.cpr.log == ["made", "eof", "lost"]
        await asyncio.wait_for(p.server.wait_closed(), 10)

    lenv.run(main())


@pytest.mark.skipif(PY < (3, 13), reason="Server.close_clients/abort_clients are 3.13+")
def test_server_abort_clients(lenv, kind, sockdir):
    async def main():
        p = await open_pair(kind, sockdir)
        p.ctr.pause_reading()
        sent = fill_until_buffered(p.str)
        p.server.abort_clients()
        assert p.str.get_write_buffer_size() == 0
        assert await p.spr.lost is None
        p.ctr.resume_reading()
        await p.cpr.lost
        assert len(p.cpr.data) < sent
        p.server.close()
        await asyncio.wait_for(p.server.wait_closed(), 10)

    lenv.run(main())


@needs_ipv6
def test_server_several_hosts(lenv):
    async def main():
        loop = asyncio.get_running_loop()
        srv = await loop.create_server(EchoProto, ["127.0.0.1", "::1"], 0)
        assert len(srv.sockets) == 2
        assert {s.family for s in srv.sockets} == {socket.AF_INET, socket.AF_INET6}
        for s in srv.sockets:
            if s.family == socket.AF_INET6:
                assert s.getsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY) == 1
            host, port = s.getsockname()[:2]
            tr, pr = await loop.create_connection(RecProto, host, port)
            assert tr.get_extra_info("socket").family == s.family
            tr.write(host.encode())
            assert await pr.wait_bytes(len(host)) == host.encode()
            tr.close()
            await pr.lost
        srv.close()
        await srv.wait_closed()

    lenv.run(main())


def test_server_reuse_port(lenv):
    async def main():
        loop = asyncio.get_running_loop()
        s1 = await loop.create_server(EchoProto, "127.0.0.1", 0, reuse_port=True)
        port = s1.sockets[0].getsockname()[1]
        s2 = await loop.create_server(EchoProto, "127.0.0.1", port, reuse_port=True)
        for s in (s1, s2):
            assert s.sockets[0].getsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT) != 0
            assert s.sockets[0].getsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR) != 0
        conns = [await loop.create_connection(RecProto, "127.0.0.1", port) for _ in range(8)]
        for i, (tr, pr) in enumerate(conns):
            tr.write(b"%d" % i)
        for i, (tr, pr) in enumerate(conns):
            assert await pr.wait_bytes(1) == b"%d" % i
            tr.close()
            await pr.lost
        with pytest.raises(OSError) as ei:     # without reuse_port the port is taken
            await loop.create_server(EchoProto, "127.0.0.1", port)
        assert ei.value.errno == errno.EADDRINUSE
        msg = str(ei.value)                    # 3.13 also repeats the errno at the end
        assert msg.startswith(f"[Errno {errno.EADDRINUSE}] error while attempting to bind "
                              f"on address ('127.0.0.1', {port}): ")
        assert msg.endswith("address already in use")
        for s in (s1, s2):
            s.close()
            await s.wait_closed()

    lenv.run(main())


# --------------------------------------------------------------------------------------
# Unix-specific: stale socket files, abstract namespace, sock=


def test_unix_server_removes_stale_socket_file(lenv, sockdir):
    async def main():
        loop = asyncio.get_running_loop()
        path = unix_path(sockdir)
        stale = socket.socket(socket.AF_UNIX)
        stale.bind(path)
        stale.close()                          # leaves the file behind
        assert stat.S_ISSOCK(os.stat(path).st_mode)
        srv = await loop.create_unix_server(EchoProto, pathlib.Path(path))
        tr, pr = await loop.create_unix_connection(RecProto, pathlib.Path(path))
        tr.write(b"fresh")
        assert await pr.wait_bytes(5) == b"fresh"
        tr.close()
        await pr.lost
        srv.close()
        await srv.wait_closed()

    lenv.run(main())


def test_unix_server_path_is_a_regular_file(lenv, sockdir):
    async def main():
        loop = asyncio.get_running_loop()
        path = unix_path(sockdir)
        with open(path, "w") as f:
            f.write("not a socket")
        with pytest.raises(OSError) as ei:
            await loop.create_unix_server(EchoProto, path)
        assert ei.value.errno == errno.EADDRINUSE
        assert str(ei.value) == f"[Errno {errno.EADDRINUSE}] Address {path!r} is already in use"
        assert os.path.isfile(path)            # a regular file is never removed

    lenv.run(main())


@pytest.mark.parametrize("cleanup", [None, True, False])
def test_unix_server_socket_file_after_close(lenv, sockdir, cleanup):
    async def main():
        loop = asyncio.get_running_loop()
        path = unix_path(sockdir)
        kw = {} if cleanup is None else {"cleanup_socket": cleanup}
        if kw and PY < (3, 13):
            with pytest.raises(TypeError):
                await loop.create_unix_server(EchoProto, path, **kw)
            return
        srv = await loop.create_unix_server(EchoProto, path, **kw)
        assert os.path.exists(path)
        srv.close()
        await srv.wait_closed()
        removed = PY >= (3, 13) and cleanup is not False
        assert os.path.exists(path) == (not removed)

    lenv.run(main())


def test_unix_abstract_namespace(lenv):
    async def main():
        loop = asyncio.get_running_loop()
        name = f"\0acnet-{os.getpid()}-{id(loop)}"
        srv = await loop.create_unix_server(EchoProto, name)
        got = srv.sockets[0].getsockname()
        assert got in (name, name.encode())
        tr, pr = await loop.create_unix_connection(RecProto, name)
        assert tr.get_extra_info("peername") in (name, name.encode())
        tr.write(b"abstract")
        assert await pr.wait_bytes(8) == b"abstract"
        tr.close()
        await pr.lost
        srv.close()
        await srv.wait_closed()

    lenv.run(main())


def test_unix_connection_errors(lenv, sockdir):
    async def main():
        loop = asyncio.get_running_loop()
        with pytest.raises(FileNotFoundError):
            await loop.create_unix_connection(RecProto, os.path.join(sockdir, "missing"))
        path = unix_path(sockdir)
        s = socket.socket(socket.AF_UNIX)
        s.bind(path)                           # bound, never listening
        try:
            with pytest.raises(ConnectionRefusedError):
                await loop.create_unix_connection(RecProto, path)
        finally:
            s.close()
        udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        with udp:
            with pytest.raises(ValueError, match="^A UNIX Domain Stream Socket was expected"):
                await loop.create_unix_connection(RecProto, sock=udp)
            with pytest.raises(ValueError, match="^A UNIX Domain Stream Socket was expected"):
                await loop.create_unix_server(RecProto, sock=udp)
        with pytest.raises(ValueError, match="^path and sock can not be specified"):
            await loop.create_unix_connection(RecProto, path, sock=udp)

    lenv.run(main())


def test_unix_server_from_sock(lenv, sockdir):
    async def main():
        loop = asyncio.get_running_loop()
        path = unix_path(sockdir)
        ls = socket.socket(socket.AF_UNIX)
        ls.bind(path)
        srv = await loop.create_unix_server(EchoProto, sock=ls)
        cs = socket.socket(socket.AF_UNIX)
        cs.setblocking(False)
        await loop.sock_connect(cs, path)
        tr, pr = await loop.create_unix_connection(RecProto, sock=cs)
        tr.write(b"via sock")
        assert await pr.wait_bytes(8) == b"via sock"
        tr.close()
        await pr.lost
        srv.close()
        await srv.wait_closed()

    lenv.run(main())


# --------------------------------------------------------------------------------------
# connect_accepted_socket, create_connection(sock=), errors


def test_connect_accepted_socket(lenv, kind, sockdir):
    async def main():
        loop = asyncio.get_running_loop()
        c, s = raw_pair(kind, sockdir)
        tr, pr = await loop.connect_accepted_socket(RecProto, s)
        assert pr.log == ["made"] and pr.transport is tr
        assert tr.get_extra_info("socket").fileno() == s.fileno()
        await loop.sock_sendall(c, b"hello")
        assert await pr.wait_bytes(5) == b"hello"
        tr.write(b"world")
        got = b""
        while len(got) < 5:
            got += await loop.sock_recv(c, 100)
        assert got == b"world"
        c.close()
        assert await pr.lost is None
        assert pr.log == ["made", "data", "eof", "lost"]
        assert s.fileno() == -1                 # the transport closed the socket

    lenv.run(main())


def test_create_connection_from_sock(lenv, kind, sockdir):
    async def main():
        loop = asyncio.get_running_loop()
        c, s = raw_pair(kind, sockdir)
        tr, pr = await loop.create_connection(RecProto, sock=c)
        await loop.sock_sendall(s, b"from server")
        assert await pr.wait_bytes(11) == b"from server"
        tr.close()
        assert await pr.lost is None
        assert await loop.sock_recv(s, 10) == b""
        s.close()

    lenv.run(main())


def test_stream_socket_required(lenv):
    async def main():
        loop = asyncio.get_running_loop()
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            for coro in (loop.connect_accepted_socket(RecProto, udp),
                         loop.create_connection(RecProto, sock=udp),
                         loop.create_server(RecProto, sock=udp)):
                with pytest.raises(ValueError) as ei:
                    await coro
                assert str(ei.value) == f"A Stream Socket was expected, got {udp!r}"

    lenv.run(main())


def test_create_connection_errors(lenv):
    async def main():
        loop = asyncio.get_running_loop()
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]          # bound, not listening: refused
            with pytest.raises(ConnectionRefusedError) as ei:
                await loop.create_connection(RecProto, "127.0.0.1", port)
            assert ei.value.errno == errno.ECONNREFUSED
            with pytest.raises(ValueError,
                               match="^host/port and sock can not be specified at the same"):
                await loop.create_connection(RecProto, "127.0.0.1", port, sock=s)
        with pytest.raises(ValueError, match="^host and port was not specified and no sock"):
            await loop.create_connection(RecProto)
        with pytest.raises(ValueError, match="^server_hostname is only meaningful with ssl$"):
            await loop.create_connection(RecProto, "127.0.0.1", 1, server_hostname="x")

    lenv.run(main())


@pytest.mark.parametrize("debug", [False, True], ids=["nodebug", "debug"])
def test_protocol_factory_raising(lenv, debug):
    """A factory that raises on the client side fails create_connection; on the server side
    the accepted connection is dropped, and reported to the exception handler only in
    debug mode."""
    async def main():
        loop = asyncio.get_running_loop()
        loop.set_debug(debug)

        def bad():
            raise ZeroDivisionError("factory")

        srv = await loop.create_server(bad, "127.0.0.1", 0)
        addr = srv.sockets[0].getsockname()
        tr, pr = await loop.create_connection(RecProto, *addr)
        if debug:
            await until(lambda: lenv.errors)
            errors = lenv.take_errors()
            assert [e["message"] for e in errors] == [
                "Error on transport creation for incoming connection"]
            assert isinstance(errors[0]["exception"], ZeroDivisionError)
            del errors                         # its traceback holds the accepted socket
        with warnings.catch_warnings():        # the accepted socket is dropped unclosed
            warnings.simplefilter("ignore", ResourceWarning)
            collect()
            assert await pr.lost is None       # the server side went away
        assert lenv.take_errors() == []
        srv.close()
        await srv.wait_closed()
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            s.listen()
            with pytest.raises(ZeroDivisionError):
                await loop.create_connection(bad, *s.getsockname())

    lenv.run(main())


# --------------------------------------------------------------------------------------
# streams


async def _start_stream_server(kind, sockdir, handler, **kw):
    if kind == "tcp":
        srv = await asyncio.start_server(handler, "127.0.0.1", 0, **kw)
        addr = srv.sockets[0].getsockname()

        def connect(**ckw):
            return asyncio.open_connection(*addr, **ckw)
    else:
        addr = unix_path(sockdir)
        srv = await asyncio.start_unix_server(handler, addr, **kw)

        def connect(**ckw):
            return asyncio.open_unix_connection(addr, **ckw)
    return srv, connect


async def _echo_handler(reader, writer):
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
        if writer.can_write_eof():             # not over SSL
            writer.write_eof()
            await writer.drain()
    finally:
        writer.close()
        await writer.wait_closed()


def test_streams_echo(lenv, kind, sockdir):
    async def main():
        srv, connect = await _start_stream_server(kind, sockdir, _echo_handler)
        reader, writer = await connect()
        assert isinstance(writer.transport, asyncio.Transport)
        assert writer.get_extra_info("peername") == srv.sockets[0].getsockname()
        assert writer.can_write_eof() is True
        writer.write(b"one\n")
        writer.writelines([b"tw", b"o\n", b"threeXX"])
        assert await reader.readline() == b"one\n"
        assert await reader.readuntil(b"\n") == b"two\n"
        assert await reader.readexactly(5) == b"three"
        assert await reader.readuntil(b"XX") == b"XX"
        assert not reader.at_eof()
        writer.write(b"tail")
        writer.write_eof()
        await writer.drain()
        assert await reader.read() == b"tail"
        assert reader.at_eof()
        assert await reader.read() == b""
        writer.close()
        assert writer.is_closing()
        await writer.wait_closed()
        await writer.wait_closed()             # twice is fine
        srv.close()
        await srv.wait_closed()

    lenv.run(main())


def test_streams_incomplete_and_limits(lenv, kind, sockdir):
    async def handler(reader, writer):
        writer.write(b"abc")
        writer.close()
        await writer.wait_closed()

    async def main():
        srv, connect = await _start_stream_server(kind, sockdir, handler)
        reader, writer = await connect()
        with pytest.raises(asyncio.IncompleteReadError) as ei:
            await reader.readexactly(5)
        assert ei.value.partial == b"abc" and ei.value.expected == 5
        assert str(ei.value) == "3 bytes read on a total of 5 expected bytes"
        assert reader.at_eof()
        writer.close()
        await writer.wait_closed()

        reader, writer = await connect()
        with pytest.raises(asyncio.IncompleteReadError) as ei:
            await reader.readuntil(b"\n")
        assert ei.value.partial == b"abc" and ei.value.expected is None
        writer.close()
        await writer.wait_closed()
        srv.close()
        await srv.wait_closed()

        async def chatty(reader, writer):
            writer.write(b"x" * 40 + b"\n")
            await writer.drain()
            writer.close()
            await writer.wait_closed()

        srv, connect = await _start_stream_server(kind, sockdir, chatty)
        reader, writer = await connect(limit=8)
        with pytest.raises(asyncio.LimitOverrunError) as ei:
            await reader.readuntil(b"\n")
        assert str(ei.value) in ("Separator is not found, and chunk exceed the limit",
                                 "Separator is found, but chunk is longer than limit")
        writer.close()
        await writer.wait_closed()
        reader, writer = await connect(limit=8)
        with pytest.raises(ValueError):
            await reader.readline()
        writer.close()
        await writer.wait_closed()
        srv.close()
        await srv.wait_closed()

    lenv.run(main())


def test_streams_drain_flow_control(lenv, kind, sockdir):
    """drain() blocks while the transport is paused and returns once it resumed."""
    total = 8 << 20

    async def slow_sink(reader, writer):
        n = 0
        while chunk := await reader.read(4096):
            n += len(chunk)
            if n % (1 << 20) < 4096:
                await asyncio.sleep(0)
        writer.write(str(n).encode())
        await writer.drain()
        writer.close()
        await writer.wait_closed()

    async def main():
        srv, connect = await _start_stream_server(kind, sockdir, slow_sink)
        reader, writer = await connect()
        chunk = b"d" * (1 << 20)
        for _ in range(total // len(chunk)):
            writer.write(chunk)
            await writer.drain()
            assert writer.transport.get_write_buffer_size() <= 65536
        writer.write_eof()
        assert await reader.read() == str(total).encode()
        writer.close()
        await writer.wait_closed()
        srv.close()
        await srv.wait_closed()

    lenv.run(main())


def test_streams_async_iteration_and_server_context(lenv, kind, sockdir):
    async def main():
        srv, connect = await _start_stream_server(kind, sockdir, _echo_handler)
        async with srv:
            reader, writer = await connect()
            writer.write(b"a\nb\nc")
            writer.write_eof()
            assert [line async for line in reader] == [b"a\n", b"b\n", b"c"]
            writer.close()
            await writer.wait_closed()
        assert not srv.is_serving()

    lenv.run(main())


# --------------------------------------------------------------------------------------
# SSL


def _ssl_open(kind, sockdir, certs, server_factory=EchoProto):
    async def go():
        loop = asyncio.get_running_loop()
        sprotos = []

        def sfactory():
            p = server_factory()
            sprotos.append(p)
            return p

        if kind == "tcp":
            srv = await loop.create_server(sfactory, "127.0.0.1", 0, ssl=server_ctx(certs))
            addr = srv.sockets[0].getsockname()
            tr, pr = await loop.create_connection(RecProto, *addr, ssl=client_ctx(certs),
                                                  server_hostname=certs.hostname)
        else:
            addr = unix_path(sockdir)
            srv = await loop.create_unix_server(sfactory, addr, ssl=server_ctx(certs))
            tr, pr = await loop.create_unix_connection(RecProto, addr, ssl=client_ctx(certs),
                                                       server_hostname=certs.hostname)
        await until(lambda: sprotos and sprotos[0].transport is not None)
        from _net_helpers import Pair
        return Pair(srv, tr, pr, sprotos[0], addr)
    return go()


def test_ssl_roundtrip(lenv, kind, sockdir, certs):
    async def main():
        p = await _ssl_open(kind, sockdir, certs)
        tr = p.ctr
        assert isinstance(tr, asyncio.Transport)
        sslobj = tr.get_extra_info("ssl_object")
        assert isinstance(sslobj, ssl.SSLObject)
        assert isinstance(tr.get_extra_info("sslcontext"), ssl.SSLContext)
        cert = tr.get_extra_info("peercert")
        assert ("commonName", "localhost") in [x for rdn in cert["subject"] for x in rdn]
        assert isinstance(tr.get_extra_info("cipher"), tuple)
        raw = tr.get_extra_info("socket")
        assert isinstance(raw, asyncio.trsock.TransportSocket)
        assert tr.get_extra_info("peername") == raw.getpeername()
        payload = os.urandom(1 << 20)
        tr.write(payload)
        assert await p.cpr.wait_bytes(len(payload), timeout=30) == payload
        assert p.cpr.log == ["made", "data"]
        tr.close()
        assert await p.cpr.lost is None
        assert await p.spr.lost is None
        assert p.cpr.n_lost == 1 and p.spr.n_lost == 1
        p.server.close()
        await p.server.wait_closed()

    lenv.run(main())


def test_ssl_streams(lenv, kind, sockdir, certs):
    async def main():
        srv, connect = await _start_stream_server(kind, sockdir, _echo_handler,
                                                  ssl=server_ctx(certs))
        reader, writer = await connect(ssl=client_ctx(certs), server_hostname=certs.hostname)
        writer.write(b"secret line\n")
        assert await reader.readline() == b"secret line\n"
        writer.write(b"x" * 300000)
        await writer.drain()
        assert await reader.readexactly(300000) == b"x" * 300000
        writer.close()
        await writer.wait_closed()
        srv.close()
        await srv.wait_closed()

    lenv.run(main())


def test_ssl_handshake_failure(lenv, certs):
    """The client does not trust the certificate: create_connection raises the
    verification error; OSErrors are not reported to the exception handler."""
    async def main():
        loop = asyncio.get_running_loop()
        sprotos = []

        def sfactory():
            p = RecProto()
            sprotos.append(p)
            return p

        srv = await loop.create_server(sfactory, "127.0.0.1", 0, ssl=server_ctx(certs))
        addr = srv.sockets[0].getsockname()
        untrusting = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)   # no CA loaded
        with pytest.raises(ssl.SSLCertVerificationError):
            await loop.create_connection(RecProto, *addr, ssl=untrusting,
                                         server_hostname=certs.hostname)
        await asyncio.sleep(0.1)
        # the server's protocol was made at accept time, but the handshake never completed
        assert [p.log for p in sprotos] == [[]]
        srv.close()
        await srv.wait_closed()

    lenv.run(main())


def test_start_tls_protocols(lenv, kind, sockdir, certs):
    """Upgrade a plain connection to TLS with loop.start_tls on both sides."""
    async def main():
        loop = asyncio.get_running_loop()
        p = await open_pair(kind, sockdir)
        p.ctr.write(b"plain")
        assert await p.spr.wait_bytes(5) == b"plain"
        server_side = loop.create_task(loop.start_tls(p.str, p.spr, server_ctx(certs),
                                                      server_side=True))
        ctr = await loop.start_tls(p.ctr, p.cpr, client_ctx(certs),
                                   server_hostname=certs.hostname)
        str_ = await server_side
        assert ctr is not p.ctr and str_ is not p.str
        assert isinstance(ctr.get_extra_info("ssl_object"), ssl.SSLObject)
        assert ctr.get_protocol() is p.cpr
        assert p.ctr.get_protocol() is not p.cpr   # the raw transport feeds the TLS layer
        ctr.write(b"over tls")
        assert await p.spr.wait_bytes(13) == b"plainover tls"
        str_.write(b"back")
        assert await p.cpr.wait_bytes(4) == b"back"
        ctr.close()
        assert await p.cpr.lost is None
        assert await p.spr.lost is None
        assert p.cpr.log[:2] == ["made", "data"] and p.cpr.log[-1] == "lost"
        assert p.cpr.n_made == 1                   # start_tls does not call it again
        assert p.cpr.n_lost == 1
        p.server.close()
        await p.server.wait_closed()

    lenv.run(main())


def test_start_tls_streams(lenv, kind, sockdir, certs):
    async def handler(reader, writer):
        assert await reader.readline() == b"STARTTLS\n"
        writer.write(b"OK\n")
        await writer.drain()
        await writer.start_tls(server_ctx(certs))
        line = await reader.readline()
        writer.write(line.upper())
        await writer.drain()
        writer.close()
        await writer.wait_closed()

    async def main():
        srv, connect = await _start_stream_server(kind, sockdir, handler)
        reader, writer = await connect()
        writer.write(b"STARTTLS\n")
        assert await reader.readline() == b"OK\n"
        await writer.start_tls(client_ctx(certs), server_hostname=certs.hostname)
        assert writer.get_extra_info("ssl_object") is not None
        writer.write(b"quiet\n")
        assert await reader.readline() == b"QUIET\n"
        writer.close()
        await writer.wait_closed()
        srv.close()
        await srv.wait_closed()

    lenv.run(main())


def test_gc_of_closed_transport_has_no_warning(lenv, kind, sockdir):
    async def main():
        p = await open_pair(kind, sockdir)
        await p.aclose()
        return p

    p = lenv.run(main())
    with warnings.catch_warnings():
        warnings.simplefilter("error", ResourceWarning)
        del p
        gc.collect()
