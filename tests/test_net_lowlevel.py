"""The loop's socket methods (sock_recv, sock_recv_into, sock_recvfrom, sock_recvfrom_into,
sock_sendall, sock_sendto, sock_connect, sock_accept, sock_sendfile), loop.sendfile over a
transport, name resolution shortcuts for numeric hosts, cancellation, and the checks that
keep a transport's fd out of the low-level API.

Every case runs on asyncio's own selector loop and on asyncio_c's loop (``lenv``) with the
same expectations (asyncio's selector_events / base_events / unix_events are the spec).
"""
import asyncio
import concurrent.futures
import errno
import io
import os
import socket
import ssl

import pytest

from _loop_helpers import PY, lenv, limpl  # noqa: F401
from _net_helpers import (RecProto, certs, client_ctx, needs_ipv6,  # noqa: F401
                          open_pair, raw_pair, server_ctx, sockdir, turns, unix_path, until)

KINDS = ["tcp", "unix"]


@pytest.fixture(params=KINDS)
def kind(request):
    return request.param


@pytest.fixture
def socks():
    """Sockets closed at teardown."""
    made = []

    class Socks:
        def keep(self, *ss):
            made.extend(ss)
            return ss if len(ss) > 1 else ss[0]

        def pair(self, kind="unix", sockdir=None):
            if kind == "unix" and sockdir is None:
                a, b = socket.socketpair()
                a.setblocking(False)
                b.setblocking(False)
            else:
                a, b = raw_pair(kind, sockdir)
            return self.keep(a, b)

        def udp(self, host="127.0.0.1"):
            fam = socket.AF_INET6 if ":" in host else socket.AF_INET
            s = socket.socket(fam, socket.SOCK_DGRAM)
            s.bind((host, 0))
            s.setblocking(False)
            return self.keep(s)

        def listener(self):
            s = socket.create_server(("127.0.0.1", 0))
            s.setblocking(False)
            return self.keep(s)

    yield Socks()
    for s in made:
        s.close()


async def recv_exactly(loop, sock, n):
    buf = bytearray()
    while len(buf) < n:
        chunk = await loop.sock_recv(sock, min(1 << 20, n - len(buf)))
        if not chunk:
            break
        buf += chunk
    return bytes(buf)


# --------------------------------------------------------------------------------------
# receiving


def test_sock_recv(lenv, socks, kind, sockdir):
    async def main():
        loop = asyncio.get_running_loop()
        a, b = socks.pair(kind, sockdir)
        b.send(b"ready")
        assert await loop.sock_recv(a, 100) == b"ready"     # data already there
        task = loop.create_task(loop.sock_recv(a, 3))
        await turns(5)
        assert not task.done()
        b.send(b"later")
        assert await task == b"lat"                          # at most n bytes
        assert await loop.sock_recv(a, 100) == b"er"
        b.shutdown(socket.SHUT_WR)
        assert await loop.sock_recv(a, 100) == b""           # EOF
        assert loop.remove_reader(a.fileno()) is False       # nothing left registered

    lenv.run(main())


def test_sock_recv_into(lenv, socks):
    async def main():
        loop = asyncio.get_running_loop()
        a, b = socks.pair()
        buf = bytearray(10)
        task = loop.create_task(loop.sock_recv_into(a, buf))
        await turns(5)
        assert not task.done()
        b.send(b"abcdef")
        assert await task == 6
        assert buf == b"abcdef\0\0\0\0"
        b.send(b"0123456789")
        view = memoryview(buf)[2:5]
        assert await loop.sock_recv_into(a, view) == 3
        assert buf == b"ab012f\0\0\0\0"
        b.close()
        assert await loop.sock_recv_into(a, buf) == 7          # the rest, then EOF
        assert await loop.sock_recv_into(a, buf) == 0

    lenv.run(main())


def test_sock_recvfrom(lenv, socks):
    async def main():
        loop = asyncio.get_running_loop()
        a = socks.udp()
        b = socks.udp()
        task = loop.create_task(loop.sock_recvfrom(a, 100))
        await turns(5)
        assert not task.done()
        b.sendto(b"datagram", a.getsockname())
        assert await task == (b"datagram", b.getsockname())
        b.sendto(b"0123456789", a.getsockname())
        assert await loop.sock_recvfrom(a, 4) == (b"0123", b.getsockname())   # truncated

    lenv.run(main())


def test_sock_recvfrom_into(lenv, socks):
    async def main():
        loop = asyncio.get_running_loop()
        a = socks.udp()
        b = socks.udp()
        buf = bytearray(8)
        task = loop.create_task(loop.sock_recvfrom_into(a, buf))
        await turns(5)
        assert not task.done()
        b.sendto(b"hello", a.getsockname())
        assert await task == (5, b.getsockname())
        assert buf[:5] == b"hello"
        b.sendto(b"abcdefgh", a.getsockname())
        assert await loop.sock_recvfrom_into(a, buf, 3) == (3, b.getsockname())
        assert buf[:5] == b"abclo"
        b.sendto(b"XY", a.getsockname())
        assert await loop.sock_recvfrom_into(a, memoryview(buf)[6:]) == (2, b.getsockname())
        assert buf == b"abclo\0XY"

    lenv.run(main())


# --------------------------------------------------------------------------------------
# sending


def test_sock_sendall_large(lenv, socks, kind, sockdir):
    """A payload much larger than the socket buffers: sendall waits for the reader."""
    async def main():
        loop = asyncio.get_running_loop()
        a, b = socks.pair(kind, sockdir)
        payload = os.urandom(1 << 20) * 16
        reader = loop.create_task(recv_exactly(loop, b, len(payload)))
        assert await loop.sock_sendall(a, payload) is None
        assert await reader == payload
        assert await loop.sock_sendall(a, b"") is None
        assert await loop.sock_sendall(a, memoryview(b"tail")) is None
        assert await loop.sock_recv(b, 10) == b"tail"

    lenv.run(main())


def test_sock_sendall_blocked_then_drained(lenv, socks):
    async def main():
        loop = asyncio.get_running_loop()
        a, b = socks.pair()
        payload = b"s" * (8 << 20)
        task = loop.create_task(loop.sock_sendall(a, payload))
        await turns(10)
        assert not task.done()                               # the peer is not reading
        got = await recv_exactly(loop, b, len(payload))
        assert await task is None
        assert got == payload

    lenv.run(main())


def test_sock_sendall_peer_gone(lenv, socks):
    async def main():
        loop = asyncio.get_running_loop()
        a, b = socks.pair("tcp")
        b.close()
        with pytest.raises((BrokenPipeError, ConnectionResetError)):
            for _ in range(100):
                await loop.sock_sendall(a, b"x" * 65536)
                await asyncio.sleep(0.001)

    lenv.run(main())


def test_sock_sendto(lenv, socks):
    async def main():
        loop = asyncio.get_running_loop()
        a = socks.udp()
        b = socks.udp()
        assert await loop.sock_sendto(a, b"to b", b.getsockname()) == 4
        assert await loop.sock_recvfrom(b, 100) == (b"to b", a.getsockname())
        assert await loop.sock_sendto(a, memoryview(b"view"), b.getsockname()) == 4
        assert await loop.sock_recv(b, 100) == b"view"

    lenv.run(main())


# --------------------------------------------------------------------------------------
# connecting, accepting, resolution


class RecordingExecutor(concurrent.futures.ThreadPoolExecutor):
    def __init__(self):
        super().__init__(max_workers=1)
        self.submitted = []

    def submit(self, fn, *args, **kwargs):
        self.submitted.append(getattr(fn, "__name__", repr(fn)))
        return super().submit(fn, *args, **kwargs)


def _record_getaddrinfo(loop):
    calls = []
    orig = loop.getaddrinfo

    async def getaddrinfo(*args, **kwargs):
        calls.append(args)
        return await orig(*args, **kwargs)

    loop.getaddrinfo = getaddrinfo
    return calls


def test_sock_connect_numeric_host_does_not_resolve(lenv, socks):
    """A numeric host is used as is (base_events._ipaddr_info): no getaddrinfo call and
    nothing run in the executor."""
    async def main():
        loop = asyncio.get_running_loop()
        executor = RecordingExecutor()
        loop.set_default_executor(executor)
        calls = _record_getaddrinfo(loop)
        lsock = socks.listener()
        port = lsock.getsockname()[1]
        for addr in [("127.0.0.1", port), ("127.0.0.1", str(port))]:
            c = socks.keep(socket.socket())
            c.setblocking(False)
            assert await loop.sock_connect(c, addr) is None
            conn, peer = await loop.sock_accept(lsock)
            socks.keep(conn)
            assert peer == c.getsockname()
        # and the same through create_connection / create_server / datagram endpoints
        srv = await loop.create_server(RecProto, "127.0.0.1", 0)
        tr, pr = await loop.create_connection(RecProto, "127.0.0.1",
                                              srv.sockets[0].getsockname()[1])
        dtr, _ = await loop.create_datagram_endpoint(asyncio.DatagramProtocol,
                                                     local_addr=("127.0.0.1", 0))
        assert calls == []
        assert executor.submitted == []
        tr.close()
        dtr.close()
        srv.close()
        await srv.wait_closed()

    lenv.run(main())


@needs_ipv6
def test_sock_connect_numeric_ipv6(lenv, socks):
    async def main():
        loop = asyncio.get_running_loop()
        calls = _record_getaddrinfo(loop)
        lsock = socks.keep(socket.create_server(("::1", 0), family=socket.AF_INET6))
        lsock.setblocking(False)
        c = socks.keep(socket.socket(socket.AF_INET6))
        c.setblocking(False)
        await loop.sock_connect(c, lsock.getsockname()[:2])
        conn, _ = await loop.sock_accept(lsock)
        socks.keep(conn)
        assert calls == []

    lenv.run(main())


def test_sock_connect_by_name_resolves(lenv, socks):
    async def main():
        loop = asyncio.get_running_loop()
        executor = RecordingExecutor()
        loop.set_default_executor(executor)
        calls = _record_getaddrinfo(loop)
        lsock = socks.listener()
        c = socks.keep(socket.socket())
        c.setblocking(False)
        await loop.sock_connect(c, ("localhost", lsock.getsockname()[1]))
        conn, _ = await loop.sock_accept(lsock)
        socks.keep(conn)
        assert [a[0] for a in calls] == ["localhost"]
        assert executor.submitted == ["getaddrinfo"]

    lenv.run(main())


def test_sock_connect_refused_and_unix(lenv, socks, sockdir):
    async def main():
        loop = asyncio.get_running_loop()
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            addr = s.getsockname()
            c = socks.keep(socket.socket())
            c.setblocking(False)
            with pytest.raises(ConnectionRefusedError) as ei:
                await loop.sock_connect(c, addr)
            assert ei.value.errno == errno.ECONNREFUSED
        path = unix_path(sockdir)
        ls = socks.keep(socket.socket(socket.AF_UNIX))
        ls.bind(path)
        ls.listen()
        ls.setblocking(False)
        u = socks.keep(socket.socket(socket.AF_UNIX))
        u.setblocking(False)
        calls = _record_getaddrinfo(loop)
        await loop.sock_connect(u, path)
        conn, addr = await loop.sock_accept(ls)
        socks.keep(conn)
        assert calls == []
        assert u.getpeername() == path

    lenv.run(main())


def test_sock_accept(lenv, socks):
    async def main():
        loop = asyncio.get_running_loop()
        lsock = socks.listener()
        task = loop.create_task(loop.sock_accept(lsock))
        await turns(5)
        assert not task.done()
        c = socks.keep(socket.socket())
        c.setblocking(False)
        await loop.sock_connect(c, lsock.getsockname())
        conn, addr = await task
        socks.keep(conn)
        assert addr == c.getsockname()
        assert conn.gettimeout() == 0                         # non-blocking
        # a connection already queued is accepted at once
        c2 = socks.keep(socket.create_connection(lsock.getsockname()))
        conn2, addr2 = await loop.sock_accept(lsock)
        socks.keep(conn2)
        assert addr2 == c2.getsockname()
        assert loop.remove_reader(lsock.fileno()) is False

    lenv.run(main())


# --------------------------------------------------------------------------------------
# cancellation


def test_cancelled_sock_recv_leaves_fd_usable(lenv, socks):
    async def main():
        loop = asyncio.get_running_loop()
        a, b = socks.pair()
        task = loop.create_task(loop.sock_recv(a, 100))
        await turns(5)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert loop.remove_reader(a.fileno()) is False        # the reader went with it
        b.send(b"not lost")
        assert await loop.sock_recv(a, 100) == b"not lost"
        # cancelled while data is ready but before it ran
        task = loop.create_task(loop.sock_recv(a, 100))
        await turns(3)
        b.send(b"kept")
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert await loop.sock_recv(a, 100) == b"kept"

    lenv.run(main())


def test_cancelled_sock_recv_into_and_accept(lenv, socks):
    async def main():
        loop = asyncio.get_running_loop()
        a, b = socks.pair()
        buf = bytearray(10)
        task = loop.create_task(loop.sock_recv_into(a, buf))
        await turns(3)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        b.send(b"12")
        assert await loop.sock_recv_into(a, buf) == 2
        lsock = socks.listener()
        task = loop.create_task(loop.sock_accept(lsock))
        await turns(3)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        c = socks.keep(socket.create_connection(lsock.getsockname()))
        conn, addr = await loop.sock_accept(lsock)
        socks.keep(conn)
        assert addr == c.getsockname()

    lenv.run(main())


def test_cancelled_sock_sendall(lenv, socks):
    async def main():
        loop = asyncio.get_running_loop()
        a, b = socks.pair()
        task = loop.create_task(loop.sock_sendall(a, b"c" * (8 << 20)))
        await turns(5)
        assert not task.done()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert loop.remove_writer(a.fileno()) is False
        # drain what went out, then the socket still sends
        b_got = 0
        while True:
            try:
                b_got += len(b.recv(1 << 20))
            except BlockingIOError:
                break
        assert 0 < b_got < 8 << 20
        await loop.sock_sendall(a, b"after")
        assert await loop.sock_recv(b, 10) == b"after"

    lenv.run(main())


def test_cancelled_sock_connect(lenv, socks):
    async def main():
        loop = asyncio.get_running_loop()
        lsock = socks.listener()
        c = socks.keep(socket.socket())
        c.setblocking(False)
        task = loop.create_task(loop.sock_connect(c, lsock.getsockname()))
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert loop.remove_writer(c.fileno()) is False

    lenv.run(main())


# --------------------------------------------------------------------------------------
# argument checks


def test_blocking_sockets_refused_in_debug_mode(lenv, socks, tmp_path):
    async def main():
        loop = asyncio.get_running_loop()
        loop.set_debug(True)
        a, b = socket.socketpair()
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        lsock = socket.create_server(("127.0.0.1", 0))
        socks.keep(a, b, u, lsock)
        assert a.gettimeout() is None                         # blocking
        f = open(tmp_path / "f", "wb+")
        f.write(b"x")
        f.seek(0)
        calls = [
            loop.sock_recv(a, 1), loop.sock_recv_into(a, bytearray(1)),
            loop.sock_recvfrom(u, 1), loop.sock_recvfrom_into(u, bytearray(1)),
            loop.sock_sendall(a, b"x"), loop.sock_sendto(u, b"x", ("127.0.0.1", 9)),
            loop.sock_connect(a, "nowhere"), loop.sock_accept(lsock),
            loop.sock_sendfile(a, f),
        ]
        for coro in calls:
            with pytest.raises(ValueError, match="^the socket must be non-blocking$"):
                await coro
        f.close()

    lenv.run(main())


def test_ssl_socket_refused(lenv, socks):
    async def main():
        loop = asyncio.get_running_loop()
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        s = socks.keep(ctx.wrap_socket(socket.socket(), do_handshake_on_connect=False))
        s.setblocking(False)
        for coro in (loop.sock_recv(s, 1), loop.sock_recv_into(s, bytearray(1)),
                     loop.sock_sendall(s, b"x"), loop.sock_connect(s, ("127.0.0.1", 9)),
                     loop.sock_accept(s)):
            with pytest.raises(TypeError, match="^Socket cannot be of type SSLSocket$"):
                await coro

    lenv.run(main())


def test_transport_fd_refused_by_fd_api(lenv, kind, sockdir):
    """A transport's fd cannot be given to add_reader & co. while the transport is open."""
    async def main():
        loop = asyncio.get_running_loop()
        p = await open_pair(kind, sockdir)
        fd = p.ctr.get_extra_info("socket").fileno()
        for meth, args in ((loop.add_reader, (fd, print)), (loop.add_writer, (fd, print)),
                           (loop.remove_reader, (fd,)), (loop.remove_writer, (fd,))):
            with pytest.raises(RuntimeError) as ei:
                meth(*args)
            assert str(ei.value) == f"File descriptor {fd!r} is used by transport {p.ctr!r}"
        p.ctr.close()                                         # closing: allowed again
        assert loop.remove_writer(fd) is False
        await p.aclose()

    lenv.run(main())


# --------------------------------------------------------------------------------------
# sock_sendfile


@pytest.fixture
def datafile(tmp_path):
    data = os.urandom(1 << 20) + b"end"
    path = tmp_path / "data.bin"
    path.write_bytes(data)
    return path, data


@pytest.mark.parametrize("fallback", [True, False])
def test_sock_sendfile(lenv, socks, datafile, kind, sockdir, fallback):
    async def main():
        loop = asyncio.get_running_loop()
        path, data = datafile
        a, b = socks.pair(kind, sockdir)
        with open(path, "rb") as f:
            reader = loop.create_task(recv_exactly(loop, b, len(data)))
            assert await loop.sock_sendfile(a, f, fallback=fallback) == len(data)
            assert await reader == data
            assert f.tell() == len(data)
            reader = loop.create_task(recv_exactly(loop, b, 1000))
            assert await loop.sock_sendfile(a, f, 5000, 1000, fallback=fallback) == 1000
            assert await reader == data[5000:6000]
            assert f.tell() == 6000
            # past the end: nothing sent
            assert await loop.sock_sendfile(a, f, len(data) + 10, fallback=fallback) == 0

    lenv.run(main())


def test_sock_sendfile_fallback_for_non_regular_file(lenv, socks):
    async def main():
        loop = asyncio.get_running_loop()
        a, b = socks.pair("tcp")
        data = b"in memory " * 1000
        bio = io.BytesIO(data)
        with pytest.raises(asyncio.SendfileNotAvailableError):
            await loop.sock_sendfile(a, bio, fallback=False)
        reader = loop.create_task(recv_exactly(loop, b, len(data)))
        assert await loop.sock_sendfile(a, bio) == len(data)    # falls back
        assert await reader == data
        assert bio.tell() == len(data)

    lenv.run(main())


def test_sock_sendfile_argument_checks(lenv, socks, datafile, tmp_path):
    async def main():
        loop = asyncio.get_running_loop()
        path, _ = datafile
        a, b = socks.pair()
        u = socks.udp()
        with open(path, "rb") as f:
            with pytest.raises(ValueError, match="^only SOCK_STREAM type sockets are supported$"):
                await loop.sock_sendfile(u, f)
            with pytest.raises(ValueError, match=r"^count must be a positive integer \(got 0\)$"):
                await loop.sock_sendfile(a, f, 0, 0)
            with pytest.raises(TypeError, match=r"^count must be a positive integer \(got '1'\)$"):
                await loop.sock_sendfile(a, f, 0, "1")
            with pytest.raises(ValueError,
                               match=r"^offset must be a non-negative integer \(got -1\)$"):
                await loop.sock_sendfile(a, f, -1)
            with pytest.raises(TypeError,
                               match=r"^offset must be a non-negative integer \(got 1.0\)$"):
                await loop.sock_sendfile(a, f, 1.0)
        with open(tmp_path / "t.txt", "w") as t:
            with pytest.raises(ValueError, match="^file should be opened in binary mode$"):
                await loop.sock_sendfile(a, t)

    lenv.run(main())


# --------------------------------------------------------------------------------------
# loop.sendfile over a transport


@pytest.mark.parametrize("fallback", [True, False])
def test_loop_sendfile(lenv, datafile, kind, sockdir, fallback):
    async def main():
        loop = asyncio.get_running_loop()
        path, data = datafile
        p = await open_pair(kind, sockdir)
        p.ctr.write(b"head:")
        with open(path, "rb") as f:
            assert await loop.sendfile(p.ctr, f, fallback=fallback) == len(data)
            assert f.tell() == len(data)
            assert await loop.sendfile(p.ctr, f, 10, 20, fallback=fallback) == 20
            assert f.tell() == 30
        assert p.ctr.is_reading()                 # reading resumed afterwards
        p.ctr.write(b":tail")
        expected = b"head:" + data + data[10:30] + b":tail"
        assert await p.spr.wait_bytes(len(expected), timeout=30) == expected
        p.str.write(b"still reading")
        assert await p.cpr.wait_bytes(13) == b"still reading"
        await p.aclose()

    lenv.run(main())


def test_loop_sendfile_blocks_writes(lenv, kind, sockdir, tmp_path):
    """While a sendfile is in progress, write() and writelines() raise; reading is paused
    and comes back afterwards."""
    async def main():
        loop = asyncio.get_running_loop()
        path = tmp_path / "big.bin"
        size = 48 << 20
        with open(path, "wb") as f:
            f.truncate(size)
        p = await open_pair(kind, sockdir)
        p.str.pause_reading()
        with open(path, "rb") as f:
            task = loop.create_task(loop.sendfile(p.ctr, f))
            await turns(10)
            assert not task.done()
            with pytest.raises(RuntimeError, match=r"^unable to write; sendfile is in progress$"):
                p.ctr.write(b"x")
            msg = ("unable to writelines; sendfile is in progress" if PY >= (3, 12)
                   else "unable to write; sendfile is in progress")
            with pytest.raises(RuntimeError) as ei:
                p.ctr.writelines([b"x"])
            assert str(ei.value) == msg
            assert not p.ctr.is_reading()
            p.str.resume_reading()
            assert await asyncio.wait_for(task, 60) == size
        assert p.ctr.is_reading()
        p.ctr.write(b"!")
        await p.spr.wait_bytes(size + 1, timeout=60)
        assert p.spr.data[-1:] == b"!"
        await p.aclose()

    lenv.run(main())


def test_loop_sendfile_waits_for_buffer(lenv, kind, sockdir, datafile):
    """Data written before sendfile() goes out first."""
    async def main():
        loop = asyncio.get_running_loop()
        path, data = datafile
        p = await open_pair(kind, sockdir)
        p.str.pause_reading()
        head = b"H" * (4 << 20)
        p.ctr.write(head)
        assert p.ctr.get_write_buffer_size() > 0
        with open(path, "rb") as f:
            task = loop.create_task(loop.sendfile(p.ctr, f))
            await turns(5)
            p.str.resume_reading()
            assert await asyncio.wait_for(task, 30) == len(data)
        assert await p.spr.wait_bytes(len(head) + len(data), timeout=30) == head + data
        await p.aclose()

    lenv.run(main())


def test_loop_sendfile_errors(lenv, datafile):
    async def main():
        loop = asyncio.get_running_loop()
        path, data = datafile
        p = await open_pair("tcp")
        with open(path, "rb") as f:
            p.ctr.close()
            with pytest.raises(RuntimeError, match="^Transport is closing$"):
                await loop.sendfile(p.ctr, f)
        await p.aclose()

    lenv.run(main())


def test_loop_sendfile_over_ssl(lenv, certs, datafile):
    """An SSL transport only has the fallback: fallback=False refuses, the default works."""
    async def main():
        loop = asyncio.get_running_loop()
        path, data = datafile
        sprotos = []

        def sfactory():
            pr = RecProto()
            sprotos.append(pr)
            return pr

        srv = await loop.create_server(sfactory, "127.0.0.1", 0, ssl=server_ctx(certs))
        tr, pr = await loop.create_connection(
            RecProto, *srv.sockets[0].getsockname(), ssl=client_ctx(certs),
            server_hostname=certs.hostname)
        with open(path, "rb") as f:
            with pytest.raises(RuntimeError, match="^fallback is disabled and native sendfile "
                                                   "is not supported for transport"):
                await loop.sendfile(tr, f, fallback=False)
            assert await loop.sendfile(tr, f) == len(data)
        await until(lambda: sprotos and len(sprotos[0].data) >= len(data), 30)
        assert bytes(sprotos[0].data) == data
        tr.close()
        await pr.lost
        srv.close()
        await srv.wait_closed()

    lenv.run(main())
