"""Networking under stress: peer resets, half-close in both directions, clients that connect
and vanish, writes after the connection is gone, a slow reader (flow control keeps the
writer's buffer bounded), many concurrent connections (RLIMIT_NOFILE raised towards the hard
limit), and a server that survives a failing protocol.

Every case runs on asyncio's own selector loop and on asyncio_c's loop (``lenv``) with the
same expectations.  Durations are never asserted; the big cases are sized to stay under
~20 s on asyncio's loop on a loaded 2-core machine.
"""
import asyncio
import contextlib
import hashlib
import logging
import os
import resource
import socket
import subprocess
import sys
import textwrap
import time

import pytest

from _loop_helpers import lenv, limpl  # noqa: F401
from _net_helpers import (EchoProto, RecProto, open_pair, raw_pair, set_linger0,  # noqa: F401
                          sockdir, turns, unix_path, until)

KINDS = ["tcp", "unix"]


@pytest.fixture(params=KINDS)
def kind(request):
    return request.param


# --------------------------------------------------------------------------------------
# peer resets


def test_peer_reset_while_reading(lenv):
    """The peer closes with SO_LINGER 0 (RST): the reading side's protocol gets
    connection_lost(ConnectionResetError), with no eof_received, and nothing is reported
    to the exception handler (an OSError)."""
    async def main():
        loop = asyncio.get_running_loop()
        c, s = raw_pair("tcp")
        tr, pr = await loop.connect_accepted_socket(RecProto, s)
        await loop.sock_sendall(c, b"before")
        await pr.wait_bytes(6)
        set_linger0(c)
        c.close()
        exc = await pr.lost
        assert isinstance(exc, ConnectionResetError)
        assert pr.log == ["made", "data", "lost"]
        assert tr.is_closing()
        await turns(5)
        assert pr.n_lost == 1

    lenv.run(main())


def test_peer_closes_with_unread_data(lenv, kind, sockdir):
    """Closing a socket whose receive queue holds unread data resets the connection (TCP
    and Unix alike): the peer's protocol gets ConnectionResetError."""
    async def main():
        loop = asyncio.get_running_loop()
        c, s = raw_pair(kind, sockdir)
        tr, pr = await loop.connect_accepted_socket(RecProto, s)
        tr.write(b"never read")
        await asyncio.sleep(0.01)
        c.close()
        exc = await pr.lost
        assert isinstance(exc, ConnectionResetError)
        assert pr.log == ["made", "lost"]

    lenv.run(main())


def test_peer_reset_while_writing(lenv, caplog):
    """The transport is not reading (paused) and has data buffered when the RST comes: the
    write side meets the error, connection_lost gets it, the buffer is dropped; later
    writes are dropped silently (a warning from the 5th on)."""
    async def main():
        loop = asyncio.get_running_loop()
        c, s = raw_pair("tcp")
        tr, pr = await loop.connect_accepted_socket(RecProto, s)
        tr.pause_reading()
        chunk = b"w" * (1 << 20)
        for _ in range(256):
            tr.write(chunk)
            if tr.get_write_buffer_size():
                break
        assert tr.get_write_buffer_size() > 0
        set_linger0(c)
        c.close()
        exc = await pr.lost
        assert isinstance(exc, (ConnectionResetError, BrokenPipeError))
        assert pr.log == ["made", "pause", "lost"] or pr.log == ["made", "lost"]
        assert tr.get_write_buffer_size() == 0
        with caplog.at_level(logging.WARNING, logger="asyncio"):
            for _ in range(10):
                tr.write(b"after reset")
        assert any(r.getMessage() == "socket.send() raised exception."
                   for r in caplog.records)
        assert pr.n_lost == 1

    lenv.run(main())


def test_reset_seen_by_write_with_empty_buffer(lenv):
    """Not reading, nothing buffered: the reset shows up at the next write(), which
    closes the transport with the error."""
    async def main():
        loop = asyncio.get_running_loop()
        c, s = raw_pair("tcp")
        tr, pr = await loop.connect_accepted_socket(RecProto, s)
        tr.pause_reading()
        set_linger0(c)
        c.close()
        await asyncio.sleep(0.05)
        assert pr.n_lost == 0                     # nobody looked at the socket
        tr.write(b"into the void")
        exc = await pr.lost
        assert isinstance(exc, (ConnectionResetError, BrokenPipeError))
        assert pr.log == ["made", "lost"]

    lenv.run(main())


def test_streams_peer_reset(lenv):
    async def main():
        accepted = asyncio.get_running_loop().create_future()

        async def handler(reader, writer):
            accepted.set_result((reader, writer))

        srv = await asyncio.start_server(handler, "127.0.0.1", 0)
        c = socket.create_connection(srv.sockets[0].getsockname())
        reader, writer = await accepted
        set_linger0(c)
        c.close()
        with pytest.raises(ConnectionResetError):
            await reader.read(100)
        with pytest.raises(ConnectionResetError):
            writer.write(b"x")
            await writer.drain()
        writer.close()
        with contextlib.suppress(ConnectionResetError):
            await writer.wait_closed()
        srv.close()
        await srv.wait_closed()

    lenv.run(main())


# --------------------------------------------------------------------------------------
# half-close


@pytest.mark.parametrize("first", ["client", "server"])
def test_half_close_both_directions(lenv, kind, sockdir, first):
    """Each side shuts its writing in turn while keeping the transport open
    (eof_received -> True); each still receives until the other's EOF."""
    async def main():
        p = await open_pair(kind, sockdir, client=lambda: RecProto(eof_result=True),
                            server=lambda: RecProto(eof_result=True))
        one, two = (p.ctr, p.str) if first == "client" else (p.str, p.ctr)
        one_p, two_p = (p.cpr, p.spr) if first == "client" else (p.spr, p.cpr)
        one.write(b"request")
        one.write_eof()
        await until(lambda: "eof" in two_p.log)
        assert two_p.data == b"request"
        with pytest.raises(RuntimeError):
            one.write(b"no more")
        two.write(b"response part 1, ")
        await turns(5)
        two.write(b"part 2")
        two.write_eof()
        await until(lambda: "eof" in one_p.log)
        assert one_p.data == b"response part 1, part 2"
        await turns(10)
        assert not one.is_closing() and not two.is_closing()
        assert one_p.log == ["made", "data", "eof"]
        assert two_p.log == ["made", "data", "eof"]
        one.close()
        two.close()
        assert await one_p.lost is None
        assert await two_p.lost is None
        assert (one_p.n_lost, two_p.n_lost) == (1, 1)
        await p.aclose()

    lenv.run(main())


def test_half_close_streams(lenv, kind, sockdir):
    async def handler(reader, writer):
        data = await reader.read()                # until the client's EOF
        writer.write(b"got %d bytes" % len(data))
        writer.write_eof()
        await writer.drain()
        writer.close()
        await writer.wait_closed()

    async def main():
        if kind == "tcp":
            srv = await asyncio.start_server(handler, "127.0.0.1", 0)
            reader, writer = await asyncio.open_connection(*srv.sockets[0].getsockname())
        else:
            path = unix_path(sockdir)
            srv = await asyncio.start_unix_server(handler, path)
            reader, writer = await asyncio.open_unix_connection(path)
        writer.write(b"z" * 300000)
        writer.write_eof()
        assert await reader.read() == b"got 300000 bytes"
        writer.close()
        await writer.wait_closed()
        srv.close()
        await srv.wait_closed()

    lenv.run(main())


# --------------------------------------------------------------------------------------
# clients that connect and vanish


def test_clients_connect_and_vanish(lenv):
    """Clients that close at once, normally or with a reset, some before the server
    accepted them: every server protocol gets connection_made then exactly one
    connection_lost (None or ConnectionResetError); the server keeps serving; nothing is
    reported to the exception handler."""
    async def main():
        loop = asyncio.get_running_loop()
        sprotos = []

        def factory():
            pr = RecProto()
            sprotos.append(pr)
            return pr

        srv = await loop.create_server(factory, "127.0.0.1", 0, backlog=512)
        addr = srv.sockets[0].getsockname()
        n = 200
        for i in range(n):
            c = socket.create_connection(addr)
            if i % 2:
                set_linger0(c)
            if i % 3 == 0:
                c.send(b"x")
            c.close()
        await until(lambda: len(sprotos) == n and all(p.n_lost for p in sprotos), 30)
        await turns(10)
        for p in sprotos:
            assert p.log[0] == "made" and p.log[-1] == "lost" and p.n_lost == 1
            assert p.exc is None or isinstance(p.exc, ConnectionResetError)
            if p.exc is None:
                assert p.log[-2] == "eof"
        # still serving
        tr, pr = await loop.create_connection(RecProto, *addr)
        await until(lambda: len(sprotos) == n + 1)
        sprotos[-1].transport.write(b"alive")
        assert await pr.wait_bytes(5) == b"alive"
        tr.close()
        await pr.lost
        srv.close()
        await srv.wait_closed()

    lenv.run(main())


# --------------------------------------------------------------------------------------
# slow reader: flow control bounds the writer's buffer


TOTAL = 48 << 20
CHUNK = 64 * 1024


class Producer(RecProto):
    """Writes TOTAL bytes as fast as flow control lets it: stops at pause_writing, goes on
    from inside resume_writing (asyncio allows writing there)."""

    def connection_made(self, transport):
        super().connection_made(transport)
        self.paused = False
        self.produced = 0
        self.max_buffer = 0
        self.late_pauses = 0
        self.closing_soon = False
        self.block = bytes(range(256)) * (CHUNK // 256)
        self.produce()

    def produce(self):
        tr = self.transport
        high = tr.get_write_buffer_limits()[1]
        while not self.paused and self.produced < TOTAL:
            tr.write(self.block)
            self.produced += len(self.block)
            size = tr.get_write_buffer_size()
            self.max_buffer = max(self.max_buffer, size)
            if size > high and not self.paused:
                self.late_pauses += 1         # write() should have paused us already
        if self.produced >= TOTAL and not self.closing_soon:
            # not tr.close() right here: called from resume_writing with the buffer
            # fully sent, asyncio's transport would run _call_connection_lost twice
            # (a CPython bug: the second call fails with AttributeError)
            self.closing_soon = True
            self.loop.call_soon(tr.close)

    def pause_writing(self):
        super().pause_writing()
        assert not self.paused
        self.paused = True

    def resume_writing(self):
        super().resume_writing()
        assert self.paused
        self.paused = False
        self.produce()


class SlowConsumer(RecProto):
    """Pauses reading for a while after every 4 MiB; hashes what it gets."""

    def __init__(self):
        super().__init__()
        self.count = 0
        self.sha = hashlib.sha256()
        self.next_pause = 4 << 20
        self.pauses = 0

    def data_received(self, data):
        self.count += len(data)
        self.sha.update(data)
        if self.count >= self.next_pause:
            self.next_pause += 4 << 20
            self.pauses += 1
            self.transport.pause_reading()
            self.loop.call_later(0.01, self.transport.resume_reading)


def test_slow_reader_bounds_writer_buffer(lenv, kind, sockdir):
    async def main():
        p = await open_pair(kind, sockdir, client=SlowConsumer, server=Producer)
        prod, cons = p.spr, p.cpr
        # the consumer stops reading: the producer fills the kernel buffers, gets paused
        # and then makes no progress at all
        cons.transport.pause_reading()
        await until(lambda: prod.paused, 30)
        await turns(20)
        stalled_at = prod.produced
        await asyncio.sleep(0.05)
        await turns(20)
        assert prod.produced == stalled_at
        high = prod.transport.get_write_buffer_limits()[1]
        assert prod.transport.get_write_buffer_size() <= high + CHUNK
        cons.transport.resume_reading()
        await until(lambda: cons.n_lost, 60)
        assert cons.exc is None
        assert cons.count == TOTAL
        expected = hashlib.sha256(prod.block * (TOTAL // CHUNK)).hexdigest()
        assert cons.sha.hexdigest() == expected
        # pause_writing came synchronously from the write that crossed the high mark, so
        # the buffer never grew past high + one chunk
        assert prod.max_buffer <= high + CHUNK
        assert prod.late_pauses == 0
        n_pause = prod.log.count("pause")
        assert n_pause >= 1 and prod.log.count("resume") == n_pause
        flow = [e for e in prod.log if e in ("pause", "resume")]
        assert flow == ["pause", "resume"] * n_pause          # strictly alternating
        assert cons.pauses >= 1
        await p.aclose()

    lenv.run(main())


# --------------------------------------------------------------------------------------
# many concurrent connections


@contextlib.contextmanager
def raised_nofile(wanted):
    """Raise RLIMIT_NOFILE's soft limit towards `wanted` (at most the hard limit);
    yields the soft limit in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    new = max(soft, target)
    if new != soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (new, hard))
    try:
        yield new
    finally:
        if new != soft:
            resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def open_fd_count():
    return len(os.listdir("/proc/self/fd"))


MARGIN = 200          # fds kept free for pytest, the loop, executors, ...


async def echo_many(loop, addr, n, batch=250):
    """Open n connections (all kept open), then echo a distinct message on each, then
    close them all.  Returns the client protocols."""
    clients = []
    for start in range(0, n, batch):
        k = min(batch, n - start)
        clients += await asyncio.gather(
            *[loop.create_connection(RecProto, *addr) for _ in range(k)])
    for i, (tr, _) in enumerate(clients):
        tr.write(b"<%d>" % i)
    for i, (_, pr) in enumerate(clients):
        msg = b"<%d>" % i
        await until(lambda pr=pr, m=msg: len(pr.data) >= len(m), 60)
        assert pr.data == msg
    for tr, _ in clients:
        tr.close()
    for _, pr in clients:
        await pr.lost
    return clients


class CountingEcho(EchoProto):
    active = 0
    max_active = 0
    total = 0

    def connection_made(self, transport):
        super().connection_made(transport)
        cls = type(self)
        cls.active += 1
        cls.total += 1
        cls.max_active = max(cls.max_active, cls.active)

    def connection_lost(self, exc):
        super().connection_lost(exc)
        type(self).active -= 1


def _counting_class():
    return type("Counting", (CountingEcho,), {"active": 0, "max_active": 0, "total": 0})


@pytest.mark.timeout(120)
def test_many_connections_in_process(lenv, record_property):
    """As many concurrent echo connections as RLIMIT_NOFILE allows (both ends in this
    process, on the loop under test), up to 10,000."""
    with raised_nofile(2 * 10000 + MARGIN) as soft:
        n = min(10000, (soft - open_fd_count() - MARGIN) // 2)
        if n < 100:
            pytest.skip(f"RLIMIT_NOFILE too low ({soft}) for 100 connections")
        proto = _counting_class()

        async def main():
            loop = asyncio.get_running_loop()
            srv = await loop.create_server(proto, "127.0.0.1", 0, backlog=4096)
            t0 = time.monotonic()
            await echo_many(loop, srv.sockets[0].getsockname(), n)
            await until(lambda: proto.active == 0, 60)
            srv.close()
            await srv.wait_closed()
            return time.monotonic() - t0

        dt = lenv.run(main())
    record_property("connections", n)
    print(f"\n{lenv.impl.name}: {n} concurrent echo connections in {dt:.1f} s "
          f"(RLIMIT_NOFILE soft limit {soft})")
    assert proto.total == n and proto.max_active == n


_CLIENT = r"""
import asyncio, resource, sys
n, port = int(sys.argv[1]), int(sys.argv[2])
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, n + 200), hard))

class P(asyncio.Protocol):
    def __init__(self):
        self.data = b""
        self.got = asyncio.get_running_loop().create_future()
    def connection_made(self, tr):
        self.tr = tr
    def data_received(self, data):
        self.data += data
        if data.endswith(b">") and not self.got.done():
            self.got.set_result(self.data)

async def main():
    loop = asyncio.get_running_loop()
    conns = []
    for start in range(0, n, 250):
        conns += await asyncio.gather(*[loop.create_connection(P, "127.0.0.1", port)
                                        for _ in range(min(250, n - start))])
    print("open", len(conns), flush=True)
    sys.stdin.readline()          # the server counts its connections meanwhile
    for i, (tr, pr) in enumerate(conns):
        tr.write(b"<%d>" % i)
    for i, (tr, pr) in enumerate(conns):
        assert await asyncio.wait_for(pr.got, 60) == b"<%d>" % i, i
    for tr, pr in conns:
        tr.close()
    await asyncio.sleep(0)
    print("ok", len(conns), flush=True)

asyncio.run(main())
"""


@pytest.mark.timeout(180)
def test_10k_connections_to_server(lenv, record_property):
    """10,000 concurrent connections to one server on the loop under test (the clients
    run in a child process, so this process needs only one fd per connection).  Skipped
    when RLIMIT_NOFILE cannot be raised that far."""
    n = 10000
    with raised_nofile(n + MARGIN + 100) as soft:
        if soft - open_fd_count() - MARGIN < n:
            pytest.skip(f"RLIMIT_NOFILE hard limit too low for {n} connections "
                        f"(soft limit {soft})")
        proto = _counting_class()

        async def main():
            loop = asyncio.get_running_loop()
            srv = await loop.create_server(proto, "127.0.0.1", 0, backlog=4096)
            port = srv.sockets[0].getsockname()[1]
            t0 = time.monotonic()
            child = subprocess.Popen(
                [sys.executable, "-c", textwrap.dedent(_CLIENT), str(n), str(port)],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                text=True)
            try:
                os.set_blocking(child.stdout.fileno(), False)
                out = ""
                while "open" not in out:
                    if child.poll() is not None:
                        raise AssertionError(child.stderr.read())
                    with contextlib.suppress(TypeError, BlockingIOError):
                        out += child.stdout.read() or ""
                    await asyncio.sleep(0.01)
                await until(lambda: proto.active == n, 60)
                child.stdin.write("go\n")
                child.stdin.flush()
                while child.poll() is None:
                    await asyncio.sleep(0.01)
                rest = child.stdout.read() or ""
                out += rest
                assert child.returncode == 0, child.stderr.read()
                assert f"ok {n}" in out
            finally:
                if child.poll() is None:
                    child.kill()
                    child.wait()
                for f in (child.stdin, child.stdout, child.stderr):
                    f.close()
            await until(lambda: proto.active == 0, 60)
            srv.close()
            await srv.wait_closed()
            return time.monotonic() - t0

        dt = lenv.run(main())
    record_property("connections", n)
    print(f"\n{lenv.impl.name}: {n} concurrent connections served in {dt:.1f} s")
    assert proto.total == n and proto.max_active == n


# --------------------------------------------------------------------------------------
# a failing protocol does not take the server down


def test_server_survives_failing_protocol(lenv, kind, sockdir):
    class Fragile(EchoProto):
        def data_received(self, data):
            if data == b"boom":
                raise ZeroDivisionError("boom")
            super().data_received(data)

    async def main():
        loop = asyncio.get_running_loop()
        sprotos = []

        def factory():
            pr = Fragile()
            sprotos.append(pr)
            return pr

        if kind == "tcp":
            srv = await loop.create_server(factory, "127.0.0.1", 0)
            addr = srv.sockets[0].getsockname()

            def connect():
                return loop.create_connection(RecProto, *addr)
        else:
            addr = unix_path(sockdir)
            srv = await loop.create_unix_server(factory, addr)

            def connect():
                return loop.create_unix_connection(RecProto, addr)
        clients = [await connect() for _ in range(5)]
        await until(lambda: len(sprotos) == 5)
        bad_tr, bad_pr = clients[2]
        bad_tr.write(b"boom")
        assert await bad_pr.lost is None          # the server closed that connection
        assert bad_pr.log == ["made", "eof", "lost"]
        errors = lenv.take_errors()
        assert [e["message"] for e in errors] == [
            "Fatal error: protocol.data_received() call failed."]
        assert isinstance(errors[0]["exception"], ZeroDivisionError)
        failed = [p for p in sprotos if p.n_lost]
        assert len(failed) == 1 and isinstance(failed[0].exc, ZeroDivisionError)
        assert errors[0]["protocol"] is failed[0]
        for i, (tr, pr) in enumerate(clients):
            if i == 2:
                continue
            tr.write(b"still %d" % i)
            assert await pr.wait_bytes(7) == b"still %d" % i
        tr, pr = await connect()                  # and it still accepts
        tr.write(b"new")
        assert await pr.wait_bytes(3) == b"new"
        for tr, pr in clients + [(tr, pr)]:
            tr.close()
        srv.close()
        await srv.wait_closed()

    lenv.run(main())
