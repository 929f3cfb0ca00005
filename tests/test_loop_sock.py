"""The loop's sock_* coroutine methods (asyncio_c: src/sock.c on the loop's C fd watchers).

Every case runs on asyncio's selector loop and on asyncio_c's loop (fixture ``lenv``) with
the same expectations, on real sockets: results, cancellation (the fd is no longer watched
and the socket stays usable), large sendall, concurrent operations on one socket (the later
one replaces the earlier one's watch, as in asyncio), closed and blocking sockets, errors.
"""
import asyncio
import contextlib
import contextvars
import selectors
import socket
import ssl
import struct

import pytest

from _loop_helpers import lenv, limpl  # noqa: F401


@pytest.fixture
def socks():
    """Non-blocking sockets made by the test, closed at teardown."""
    made = []

    class Socks:
        def pair(self, family=socket.AF_UNIX, type=socket.SOCK_STREAM):
            a, b = socket.socketpair(family, type)
            return self.keep(a), self.keep(b)

        def keep(self, s, blocking=False):
            s.setblocking(blocking)
            made.append(s)
            return s

        def listener(self):
            s = self.keep(socket.socket())
            s.bind(("127.0.0.1", 0))
            s.listen(8)
            return s

        def tcp(self):
            return self.keep(socket.socket())

        def udp(self, bind=True):
            s = self.keep(socket.socket(socket.AF_INET, socket.SOCK_DGRAM))
            if bind:
                s.bind(("127.0.0.1", 0))
            return s

        def tcp_pair(self):
            srv = self.listener()
            c = self.tcp()
            c.setblocking(True)
            c.connect(srv.getsockname())
            c.setblocking(False)
            conn, _ = srv.accept()
            return self.keep(conn), c

    yield Socks()
    for s in made:
        s.close()


def watched(loop, sock):
    """The events the loop watches sock's fd for (0: none), read through loop._selector."""
    try:
        return loop._selector.get_key(sock.fileno()).events
    except KeyError:
        return 0


async def pending(coro):
    """A task for coro, run until it waits."""
    t = asyncio.ensure_future(coro)
    for _ in range(3):
        await asyncio.sleep(0)
    assert not t.done()
    return t


async def cancelled(task):
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await asyncio.sleep(0)


# --------------------------------------------------------------------------------------
# the methods are coroutine functions


def test_methods_are_coroutine_functions(lenv, socks):
    loop = lenv.loop
    a, b = socks.pair()
    for name in ("sock_recv", "sock_recv_into", "sock_recvfrom", "sock_recvfrom_into",
                 "sock_sendall", "sock_sendto", "sock_connect", "sock_accept"):
        assert asyncio.iscoroutinefunction(getattr(loop, name)), name
    coro = loop.sock_recv(a, 1)
    assert asyncio.iscoroutine(coro)
    coro.close()
    b.send(b"x")
    assert lenv.run(loop.sock_recv(a, 10)) == b"x"      # no task needed


# --------------------------------------------------------------------------------------
# receiving


def test_sock_recv_at_once_and_after_waiting(lenv, socks):
    loop = lenv.loop
    a, b = socks.pair()

    async def main():
        b.send(b"ready")
        assert await loop.sock_recv(a, 100) == b"ready"   # no wait: no watch
        assert watched(loop, a) == 0
        t = await pending(loop.sock_recv(a, 3))
        assert watched(loop, a) == selectors.EVENT_READ
        await loop.sock_sendall(b, b"later")
        assert await t == b"lat"
        assert watched(loop, a) == 0
        assert await loop.sock_recv(a, 100) == b"er"
        b.close()
        assert await loop.sock_recv(a, 100) == b""        # EOF

    lenv.run(main())


def test_sock_recv_into(lenv, socks):
    loop = lenv.loop
    a, b = socks.pair()
    buf = bytearray(8)

    async def main():
        t = await pending(loop.sock_recv_into(a, memoryview(buf)[2:]))
        b.send(b"abcdefghij")
        assert await t == 6
        assert bytes(buf) == b"\0\0abcdef"
        assert await loop.sock_recv_into(a, buf) == 4
        assert bytes(buf[:4]) == b"ghij"

    lenv.run(main())


def test_sock_recvfrom_and_sendto(lenv, socks):
    loop = lenv.loop
    u1, u2 = socks.udp(), socks.udp()

    async def main():
        t = await pending(loop.sock_recvfrom(u1, 100))
        assert await loop.sock_sendto(u2, b"dgram", u1.getsockname()) == 5
        assert await t == (b"dgram", u2.getsockname())
        # bufsize cuts the datagram
        await loop.sock_sendto(u2, b"0123456789", u1.getsockname())
        assert await loop.sock_recvfrom(u1, 4) == (b"0123", u2.getsockname())

    lenv.run(main())


def test_sock_recvfrom_into(lenv, socks):
    loop = lenv.loop
    u1, u2 = socks.udp(), socks.udp()
    buf = bytearray(6)

    async def main():
        t = await pending(loop.sock_recvfrom_into(u1, buf))       # nbytes 0: len(buf)
        await loop.sock_sendto(u2, b"datagram", u1.getsockname())
        assert await t == (6, u2.getsockname())
        assert bytes(buf) == b"datagr"
        await loop.sock_sendto(u2, b"XYZW", u1.getsockname())
        assert await loop.sock_recvfrom_into(u1, buf, 2) == (2, u2.getsockname())
        assert bytes(buf) == b"XYtagr"
        with pytest.raises(ValueError):     # nbytes larger than the buffer: socket's error
            await loop.sock_recvfrom_into(u1, buf, 100)

    lenv.run(main())


def test_sock_recv_error_goes_to_the_future(lenv, socks):
    """A retry that fails (the peer resets the connection) completes the future with the
    socket's exception."""
    loop = lenv.loop
    conn, c = socks.tcp_pair()

    async def main():
        t = await pending(loop.sock_recv(conn, 10))
        c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        c.close()
        with pytest.raises(ConnectionResetError):
            await t
        assert watched(loop, conn) == 0

    lenv.run(main())


def test_retry_runs_in_the_callers_context(lenv, socks):
    var = contextvars.ContextVar("var", default="unset")
    seen = []

    class CtxSock(socket.socket):
        def recv(self, n):
            seen.append(var.get())
            return super().recv(n)

    loop = lenv.loop
    a0, b = socks.pair()
    a = socks.keep(CtxSock(fileno=a0.detach()))

    async def reader():
        var.set("caller")
        return await loop.sock_recv(a, 10)

    async def main():
        t = await pending(reader())
        var.set("main")
        b.send(b"x")
        assert await t == b"x"

    lenv.run(main())
    assert seen == ["caller", "caller"]


# --------------------------------------------------------------------------------------
# sending


def test_sock_sendall_large(lenv, socks):
    loop = lenv.loop
    a, b = socks.pair()
    a.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    data = bytes(range(256)) * (16 * 1024)       # 4 MiB

    async def main():
        t = await pending(loop.sock_sendall(a, data))
        assert watched(loop, a) == selectors.EVENT_WRITE
        got = bytearray()
        while len(got) < len(data):
            got += await loop.sock_recv(b, 65536)
        assert await t is None
        assert got == data
        assert watched(loop, a) == 0

    lenv.run(main())


def test_sock_sendall_small_is_done_at_once(lenv, socks):
    loop = lenv.loop
    a, b = socks.pair()

    async def main():
        assert await loop.sock_sendall(a, b"small") is None
        assert watched(loop, a) == 0
        assert await loop.sock_sendall(a, b"") is None
        assert b.recv(100) == b"small"

    lenv.run(main())


def test_sock_sendall_holds_the_buffer_while_waiting(lenv, socks):
    """The rest is sent from a memoryview of the data: a bytearray cannot be resized until
    the send is over."""
    loop = lenv.loop
    a, b = socks.pair()
    a.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    data = bytearray(b"z" * (1 << 20))

    async def main():
        t = await pending(loop.sock_sendall(a, data))
        with pytest.raises(BufferError):
            data.extend(b"more")
        n = 0
        while n < (1 << 20):
            n += len(await loop.sock_recv(b, 65536))
        await t
        data.extend(b"more")            # released

    lenv.run(main())


def test_sock_sendall_error_goes_to_the_future(lenv, socks):
    loop = lenv.loop
    a, b = socks.pair()
    a.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)

    async def main():
        t = await pending(loop.sock_sendall(a, b"q" * (1 << 20)))
        b.close()
        with pytest.raises((BrokenPipeError, ConnectionResetError)):
            await t
        assert watched(loop, a) == 0

    lenv.run(main())


def test_sock_sendall_retry_failure_is_reported(lenv, socks):
    """What fails in a retry outside the socket call (here `start += n` with the str a
    socket subclass returns) goes to the exception handler; the future stays pending."""

    class OddSock(socket.socket):
        calls = 0

        def send(self, data, *args):
            self.calls += 1
            if self.calls == 1:
                return super().send(bytes(data)[:1])
            return "x"

    loop = lenv.loop
    a0, b = socks.pair()
    a = socks.keep(OddSock(fileno=a0.detach()))

    async def main():
        t = await pending(loop.sock_sendall(a, b"ab"))
        while not lenv.errors:
            await asyncio.sleep(0.001)
        assert not t.done()
        await cancelled(t)

    lenv.run(main())
    errors = lenv.take_errors()
    assert errors
    assert all(isinstance(e["exception"], TypeError) for e in errors)
    assert errors[0]["message"].startswith("Exception in callback ")


# --------------------------------------------------------------------------------------
# accept and connect


def test_sock_accept_and_connect(lenv, socks):
    loop = lenv.loop
    srv = socks.listener()
    c = socks.tcp()

    async def main():
        acc = await pending(loop.sock_accept(srv))
        assert watched(loop, srv) == selectors.EVENT_READ
        assert await loop.sock_connect(c, srv.getsockname()) is None
        conn, addr = await acc
        socks.keep(conn)
        assert conn.gettimeout() == 0.0
        assert addr == c.getsockname()
        assert watched(loop, srv) == 0
        await loop.sock_sendall(c, b"ping")
        assert await loop.sock_recv(conn, 10) == b"ping"
        # a connection already waiting: accepted at once
        c2 = socks.tcp()
        await loop.sock_connect(c2, srv.getsockname())
        conn2, addr2 = await loop.sock_accept(srv)
        socks.keep(conn2)
        assert addr2 == c2.getsockname() and conn2.gettimeout() == 0.0

    lenv.run(main())


def test_sock_connect_resolves_the_address(lenv, socks):
    loop = lenv.loop
    srv = socks.listener()
    c = socks.tcp()
    lenv.run(loop.sock_connect(c, ("localhost", srv.getsockname()[1])))
    assert c.getpeername() == srv.getsockname()


def test_sock_connect_refused(lenv, socks):
    loop = lenv.loop
    srv = socks.listener()
    addr = srv.getsockname()
    srv.close()
    c = socks.tcp()
    with pytest.raises(ConnectionRefusedError) as info:
        lenv.run(loop.sock_connect(c, addr))
    assert str(info.value) == f"[Errno 111] Connect call failed {addr}"
    assert watched(loop, c) == 0


def test_sock_connect_unix(lenv, socks, tmp_path):
    loop = lenv.loop
    path = str(tmp_path / "sock")
    srv = socks.keep(socket.socket(socket.AF_UNIX))
    srv.bind(path)
    srv.listen(1)
    c = socks.keep(socket.socket(socket.AF_UNIX))
    lenv.run(loop.sock_connect(c, path))
    conn, _ = lenv.run(loop.sock_accept(srv))
    socks.keep(conn)
    with pytest.raises(FileNotFoundError):
        lenv.run(loop.sock_connect(socks.keep(socket.socket(socket.AF_UNIX)),
                                   str(tmp_path / "nothing")))


# --------------------------------------------------------------------------------------
# cancellation


def test_cancel_sock_recv_leaves_the_socket_usable(lenv, socks):
    loop = lenv.loop
    a, b = socks.pair()

    async def main():
        t = await pending(loop.sock_recv(a, 100))
        await cancelled(t)
        assert watched(loop, a) == 0
        b.send(b"kept")                 # nothing was read by the cancelled operation
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        assert await loop.sock_recv(a, 100) == b"kept"

    lenv.run(main())


def test_cancel_in_the_pass_the_fd_is_ready(lenv, socks):
    """Cancelled while its fd is ready in the same pass: the data stays for the next
    reader (the retry checks the future first)."""
    loop = lenv.loop
    a, b = socks.pair()

    async def main():
        t = await pending(loop.sock_recv(a, 100))
        b.send(b"data")
        loop.call_soon(t.cancel)        # runs before the reader in the next pass
        with pytest.raises(asyncio.CancelledError):
            await t
        assert await loop.sock_recv(a, 100) == b"data"

    lenv.run(main())


def test_cancel_sock_recv_into_and_recvfrom(lenv, socks):
    loop = lenv.loop
    a, b = socks.pair()
    u1, u2 = socks.udp(), socks.udp()

    async def main():
        await cancelled(await pending(loop.sock_recv_into(a, bytearray(4))))
        await cancelled(await pending(loop.sock_recvfrom(u1, 4)))
        await cancelled(await pending(loop.sock_recvfrom_into(u1, bytearray(4))))
        assert watched(loop, a) == watched(loop, u1) == 0
        b.send(b"abc")
        assert await loop.sock_recv(a, 10) == b"abc"
        await loop.sock_sendto(u2, b"d", u1.getsockname())
        assert (await loop.sock_recvfrom(u1, 10))[0] == b"d"

    lenv.run(main())


def test_cancel_sock_sendall_then_send_again(lenv, socks):
    loop = lenv.loop
    conn, c = socks.tcp_pair()
    c.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)

    async def main():
        size = 8192
        while size >= 4:                # fill the buffers until 4 bytes would block
            with contextlib.suppress(BlockingIOError):
                while True:
                    c.send(b" " * size)
            size //= 2
        t = await pending(loop.sock_sendall(c, b"hello"))
        await cancelled(t)
        assert watched(loop, c) == 0

        async def recv_all():
            got = b""
            while True:
                chunk = await loop.sock_recv(conn, 65536)
                if not chunk:
                    return got
                got += chunk.strip()

        reader = asyncio.ensure_future(recv_all())
        await loop.sock_sendall(c, b"world")
        c.shutdown(socket.SHUT_WR)
        assert (await reader).endswith(b"world")

    lenv.run(main())


def test_cancel_sock_accept_then_accept(lenv, socks):
    loop = lenv.loop
    srv = socks.listener()

    async def main():
        await cancelled(await pending(loop.sock_accept(srv)))
        assert watched(loop, srv) == 0
        c = socks.tcp()
        await loop.sock_connect(c, srv.getsockname())
        conn, addr = await asyncio.wait_for(loop.sock_accept(srv), 10)
        socks.keep(conn)
        assert addr == c.getsockname()

    lenv.run(main())


def test_sock_accept_wait_for_timeout(lenv, socks):
    loop = lenv.loop
    srv = socks.listener()
    with pytest.raises(asyncio.TimeoutError):
        lenv.run(asyncio.wait_for(loop.sock_accept(srv), 0.05))
    assert watched(loop, srv) == 0


def test_cancel_sock_connect(lenv, socks):
    """A connect in progress, cancelled (to a listener whose backlog is full, the SYN is not
    answered); the writer is removed."""
    loop = lenv.loop
    srv = socks.keep(socket.socket())
    srv.bind(("127.0.0.1", 0))
    srv.listen(0)
    addr = srv.getsockname()
    fillers = []

    async def main():
        for _ in range(8):              # fill the backlog (nobody accepts)
            f = socks.tcp()
            with contextlib.suppress(BlockingIOError):
                f.connect(addr)
            fillers.append(f)
        c = socks.tcp()
        t = asyncio.ensure_future(loop.sock_connect(c, addr))
        for _ in range(5):
            await asyncio.sleep(0)
        if t.done():
            pytest.skip("the kernel answered the connect at once")
        assert watched(loop, c) == selectors.EVENT_WRITE
        await cancelled(t)
        assert watched(loop, c) == 0

    lenv.run(main())


# --------------------------------------------------------------------------------------
# two operations on one socket


def test_concurrent_readers_the_later_replaces_the_earlier(lenv, socks):
    """As asyncio: the second sock_recv's reader replaces the first's; the data goes to the
    second and the first waits until it is cancelled (its cleanup leaves the second's
    watch alone)."""
    loop = lenv.loop
    a, b = socks.pair()

    async def main():
        t1 = await pending(loop.sock_recv(a, 100))
        t2 = await pending(loop.sock_recv(a, 100))
        b.send(b"one")
        assert await t2 == b"one"
        for _ in range(5):
            await asyncio.sleep(0)
        assert not t1.done()
        assert watched(loop, a) == 0
        t3 = await pending(loop.sock_recv(a, 100))
        await cancelled(t1)             # t1's cleanup must not remove t3's reader
        assert watched(loop, a) == selectors.EVENT_READ
        b.send(b"three")
        assert await t3 == b"three"

    lenv.run(main())


def test_reader_and_writer_on_one_socket(lenv, socks):
    loop = lenv.loop
    a, b = socks.pair()
    a.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    data = b"w" * (1 << 20)

    async def main():
        r = await pending(loop.sock_recv(a, 100))
        w = await pending(loop.sock_sendall(a, data))
        assert watched(loop, a) == selectors.EVENT_READ | selectors.EVENT_WRITE
        await loop.sock_sendall(b, b"to a")
        assert await r == b"to a"
        n = 0
        while n < len(data):
            n += len(await loop.sock_recv(b, 65536))
        await w
        assert watched(loop, a) == 0

    lenv.run(main())


def test_user_reader_replaced_by_sock_recv(lenv, socks):
    """add_reader() then sock_recv() on the same fd: the user's reader is replaced."""
    loop = lenv.loop
    a, b = socks.pair()
    called = []
    loop.add_reader(a, called.append, 1)

    async def main():
        t = await pending(loop.sock_recv(a, 100))
        b.send(b"x")
        assert await t == b"x"
        assert called == []
        assert loop.remove_reader(a) is False

    lenv.run(main())


# --------------------------------------------------------------------------------------
# bad sockets


def test_closed_socket(lenv, socks):
    loop = lenv.loop
    a, b = socks.pair()
    a.close()

    async def main():
        for coro in (loop.sock_recv(a, 1), loop.sock_recv_into(a, bytearray(1)),
                     loop.sock_sendall(a, b"x"), loop.sock_accept(a)):
            with pytest.raises(OSError) as info:
                await coro
            assert info.value.errno == 9     # EBADF

    lenv.run(main())


def test_socket_closed_while_waiting(lenv, socks):
    loop = lenv.loop
    a, b = socks.pair()

    async def main():
        t = await pending(loop.sock_recv(a, 10))
        a.close()
        await asyncio.sleep(0)
        assert not t.done()
        await cancelled(t)

    lenv.run(main())


SOCK_CALLS = {
    "sock_recv": lambda loop, s: loop.sock_recv(s, 1),
    "sock_recv_into": lambda loop, s: loop.sock_recv_into(s, bytearray(1)),
    "sock_recvfrom": lambda loop, s: loop.sock_recvfrom(s, 1),
    "sock_recvfrom_into": lambda loop, s: loop.sock_recvfrom_into(s, bytearray(1)),
    "sock_sendall": lambda loop, s: loop.sock_sendall(s, b"x"),
    "sock_sendto": lambda loop, s: loop.sock_sendto(s, b"x", ("127.0.0.1", 9)),
    "sock_accept": lambda loop, s: loop.sock_accept(s),
    "sock_connect": lambda loop, s: loop.sock_connect(s, ("127.0.0.1", 9)),
}


@pytest.mark.parametrize("name", sorted(SOCK_CALLS))
def test_blocking_socket_refused_in_debug_mode(lenv, socks, name):
    loop = lenv.loop
    loop.set_debug(True)
    s = socks.keep(socket.socket(), blocking=True)
    with pytest.raises(ValueError, match="the socket must be non-blocking"):
        lenv.run(SOCK_CALLS[name](loop, s))


@pytest.mark.parametrize("name", sorted(SOCK_CALLS))
def test_ssl_socket_refused(lenv, socks, name):
    loop = lenv.loop
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    s = ctx.wrap_socket(socks.tcp(), server_hostname="x", do_handshake_on_connect=False)
    socks.keep(s)
    with pytest.raises(TypeError, match="Socket cannot be of type SSLSocket"):
        lenv.run(SOCK_CALLS[name](loop, s))


def test_debug_mode_operations(lenv, socks):
    loop = lenv.loop
    loop.set_debug(True)
    loop.slow_callback_duration = 10.0
    a, b = socks.pair()

    async def main():
        t = await pending(loop.sock_recv(a, 10))
        await loop.sock_sendall(b, b"dbg")
        assert await t == b"dbg"

    lenv.run(main())


def test_fd_used_by_a_transport_is_refused(lenv, socks):
    loop = lenv.loop
    a, b = socks.pair()

    async def main():
        tr, _ = await loop.connect_accepted_socket(asyncio.Protocol, a)
        try:
            with pytest.raises(RuntimeError, match="is used by transport"):
                await loop.sock_recv(a, 1)
            with pytest.raises(RuntimeError, match="is used by transport"):
                await loop.sock_recv_into(a, bytearray(1))
        finally:
            tr.close()
            await asyncio.sleep(0)

    lenv.run(main())


def test_wrong_arguments(lenv, socks):
    loop = lenv.loop
    a, b = socks.pair()

    async def main():
        with pytest.raises(TypeError):
            await loop.sock_recv(a, "many")
        with pytest.raises(TypeError):
            await loop.sock_sendall(a, "text")
        with pytest.raises(AttributeError):
            await loop.sock_recv(object(), 1)

    lenv.run(main())
