"""Soak echo server for bench/soak.py: ``_soak_server.py LOOP [--flavour F]``.

An echo protocol (every chunk written back as it arrives; reading paused
while the transport's write buffer is above its high-water mark; every
other connection gets a 4 KiB SO_SNDBUF and a 16 KiB high-water mark, so
that writes stop short and pausing happens), or with
``--flavour streams`` the same with asyncio's streams (read, write, drain),
served on
127.0.0.1 and a port the kernel picks, on the loop named (made by
bench/_child.make_loop, as the benchmarks make it).  Prints one JSON line
``{"port": ..., "pid": ...}`` when listening, then a sample line every
second (--interval), taken by a timer on the loop itself (so a stuck loop
shows as missing samples):

    {"event": "sample", "t": seconds since listening, "rss_kib": VmRSS,
     "fds": open fds, "live": connections open, "accepted": total,
     "resets": connections lost to an RST/EPIPE, "bytes": echoed,
     "blocks": sys.getallocatedblocks(), "malloc_kib": malloc() in use,
     "n_errors": count}

Commands on stdin, one per line: ``idle`` (answered by an ``idle`` line:
the same figures after ``gc.collect()``, plus the number of transport and
protocol objects still alive); EOF (the parent closed it, or died) stops
the server: the listening socket and any connection left are closed and a
``stopped`` line with the totals and the errors is printed.  Errors are
connections lost with an exception other than a reset/broken pipe, and
anything reported to the loop's exception handler (except, with --nofile,
asyncio's "socket.accept() out of system resource": counted as
accept_pauses).
"""
import argparse
import asyncio
import ctypes
import gc
import json
import os
import resource
import signal
import socket
import sys
import time

_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, _HERE)                       # _child
sys.path.insert(1, os.path.dirname(_HERE))      # the asyncio_c package

from _child import make_loop  # noqa: E402
from _echo_server import warm_heap  # noqa: E402

LOOPS = ("asyncio", "uvloop", "asyncio_c", "asyncio_c+native")
STOP_GRACE = 10.0
LOW_HIGH_WATER = 16 * 1024      # every other connection: high-water mark
SMALL_SNDBUF = 4096             # ... and SO_SNDBUF
READ_SIZE = 64 * 1024           # streams: reader.read(READ_SIZE)
# How a peer's RST or a write after it shows up; expected, not errors.
RESET_ERRORS = (ConnectionResetError, BrokenPipeError, ConnectionAbortedError)
# asyncio's report when accept() fails for want of fds (it then stops
# accepting for ACCEPT_RETRY_DELAY); expected under --nofile.
ACCEPT_PAUSE = "socket.accept() out of system resource"


class Stats:
    def __init__(self):
        self.accepted = 0
        self.closed = 0
        self.resets = 0
        self.bytes = 0
        self.pauses = 0
        self.accept_pauses = 0
        self.errors = []

    def error(self, text):
        if len(self.errors) < 100:
            self.errors.append(text)


def squeeze(transport):
    """A small kernel send buffer and a low high-water mark: the echo's
    writes stop short (more so against a client's small receive buffer), so
    the transport buffers, pauses its protocol and resumes it."""
    sock = transport.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SMALL_SNDBUF)
    transport.set_write_buffer_limits(high=LOW_HIGH_WATER)


class SoakEcho(asyncio.Protocol):
    __slots__ = ("stats", "live", "transport")

    def __init__(self, stats, live):
        self.stats = stats
        self.live = live
        self.transport = None

    def connection_made(self, transport):
        self.transport = transport
        self.stats.accepted += 1
        self.live.add(self)
        if self.stats.accepted % 2:
            squeeze(transport)

    def data_received(self, data):
        self.stats.bytes += len(data)
        self.transport.write(data)

    def pause_writing(self):
        self.stats.pauses += 1
        self.transport.pause_reading()

    def resume_writing(self):
        self.transport.resume_reading()

    def connection_lost(self, exc):
        if self not in self.live:
            self.stats.error("connection_lost called twice (or without "
                             "connection_made)")
        self.live.discard(self)
        self.stats.closed += 1
        if isinstance(exc, RESET_ERRORS):
            self.stats.resets += 1
        elif exc is not None:
            self.stats.error(f"connection lost: {exc!r}")
        self.transport = None


def streams_handler(stats, live):
    """The same echo with asyncio's streams: read, write, drain."""
    async def echo(reader, writer):
        stats.accepted += 1
        live.add(writer)
        if stats.accepted % 2:
            squeeze(writer.transport)
        try:
            while True:
                data = await reader.read(READ_SIZE)
                if not data:
                    break
                stats.bytes += len(data)
                writer.write(data)
                if writer.transport.get_write_buffer_size():
                    stats.pauses += 1       # (drain may wait)
                await writer.drain()
            writer.close()
            await writer.wait_closed()
        except RESET_ERRORS:
            stats.resets += 1
            writer.close()
        except Exception as exc:
            stats.error(f"stream: {exc!r}")
            writer.close()
        finally:
            stats.closed += 1
            live.discard(writer)
    return echo


def rss_kib():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return -1


class _MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks",
        "fsmblks", "uordblks", "fordblks", "keepcost")]


def _mallinfo2():
    try:
        fn = ctypes.CDLL(None).mallinfo2     # glibc >= 2.33
    except (OSError, AttributeError):
        return None
    fn.restype = _MallInfo2
    fn.argtypes = []
    return fn


_MALLINFO2 = _mallinfo2()


def malloc_kib():
    """Bytes malloc() has handed out and not got back (heap chunks in use
    plus mmapped chunks, all arenas), in KiB; None off glibc.  pymalloc's
    arenas are mmapped by Python directly, so this is the memory of the C
    allocations (large objects' storage, C code's buffers), while
    sys.getallocatedblocks() counts the small Python objects: together they
    tell a leak from fragmentation, which only RSS shows."""
    if _MALLINFO2 is None:
        return None
    mi = _MALLINFO2()
    return (mi.uordblks + mi.hblkhd) // 1024


def nfds():
    """Open fds, less listdir's own and the spares (given back while the
    figures are taken, if any)."""
    return len(os.listdir("/proc/self/fd")) - 1


class _Spare:
    """A few fds held in reserve: at a --nofile limit accept() takes every
    free one, and reading /proc/self/... needs one."""

    def __init__(self, n=4):
        self.n = n
        self.fds = []
        self.take()

    def take(self):
        try:
            while len(self.fds) < self.n:
                self.fds.append(os.open(os.devnull, os.O_RDONLY))
        except OSError:
            pass

    def give_back(self):
        while self.fds:
            os.close(self.fds.pop())


SPARE = None


def figures(stats, live, t0):
    if SPARE is not None:
        SPARE.give_back()               # (no accept can run meanwhile)
    try:
        return _figures(stats, live, t0)
    finally:
        if SPARE is not None:
            SPARE.take()


def _figures(stats, live, t0):
    return dict(t=round(time.monotonic() - t0, 3), rss_kib=rss_kib(),
                fds=nfds(), live=len(live), accepted=stats.accepted,
                closed=stats.closed, resets=stats.resets, bytes=stats.bytes,
                pauses=stats.pauses, accept_pauses=stats.accept_pauses,
                blocks=sys.getallocatedblocks(),
                malloc_kib=malloc_kib(),
                n_errors=len(stats.errors))


def alive_objects():
    """Transports and protocols the garbage collector still knows of."""
    n_tr = n_pr = 0
    for o in gc.get_objects():
        if isinstance(o, asyncio.BaseTransport):
            n_tr += 1
        elif isinstance(o, (SoakEcho, asyncio.StreamReaderProtocol,
                            asyncio.StreamWriter)):
            n_pr += 1
    return n_tr, n_pr


def emit(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


async def serve(flavour, backlog, interval, nofile, facts):
    loop = asyncio.get_running_loop()
    stats, live = Stats(), set()

    def on_error(loop, context):
        msg = context.get("message", "")
        exc = context.get("exception")
        if msg.startswith(ACCEPT_PAUSE) and nofile:
            stats.accept_pauses += 1    # expected at the fd limit
            return
        stats.error(f"exception handler: {msg} {exc!r}")
    loop.set_exception_handler(on_error)

    if flavour == "protocol":
        server = await loop.create_server(lambda: SoakEcho(stats, live),
                                          "127.0.0.1", 0, backlog=backlog)
    else:
        server = await asyncio.start_server(streams_handler(stats, live),
                                            "127.0.0.1", 0, backlog=backlog)
    port = server.sockets[0].getsockname()[1]
    t0 = time.monotonic()
    stop = asyncio.Event()
    pending = bytearray()

    def on_stdin():
        try:
            chunk = os.read(0, 4096)
        except OSError:
            chunk = b""
        if not chunk:
            loop.remove_reader(0)
            stop.set()
            return
        pending.extend(chunk)
        while b"\n" in pending:
            i = pending.index(b"\n")
            cmd = bytes(pending[:i]).strip()
            del pending[:i + 1]
            if cmd == b"idle":
                gc.collect()
                tr, pr = alive_objects()
                emit(dict(event="idle", transports=tr, protocols=pr,
                          objects=len(gc.get_objects()),
                          **figures(stats, live, t0)))
            elif cmd:
                stats.error(f"unknown command {cmd!r}")

    def sample():
        emit(dict(event="sample", **figures(stats, live, t0)))
        handle[0] = loop.call_at(next_t[0], sample)
        next_t[0] += interval

    loop.add_reader(0, on_stdin)
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    emit(dict(port=port, pid=os.getpid(), **facts))
    next_t = [loop.time() + interval]
    handle = [None]
    sample()
    await stop.wait()
    handle[0].cancel()

    server.close()
    for p in list(live):
        if isinstance(p, asyncio.StreamWriter):
            p.close()
        elif p.transport is not None:
            p.transport.close()
    try:
        await asyncio.wait_for(server.wait_closed(), STOP_GRACE)
        deadline = loop.time() + STOP_GRACE
        while live and loop.time() < deadline:
            await asyncio.sleep(0.01)
    except asyncio.TimeoutError:
        stats.error("timed out closing the server")
    if live:
        stats.error(f"{len(live)} connection(s) still open at exit")
    return dict(event="stopped", errors=stats.errors,
                **figures(stats, live, t0))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("loop", choices=LOOPS)
    p.add_argument("--flavour", choices=("protocol", "streams"),
                   default="protocol")
    p.add_argument("--backlog", type=int, default=1024)
    p.add_argument("--interval", type=float, default=1.0,
                   help="seconds between samples (default 1)")
    p.add_argument("--nofile", type=int, default=0,
                   help="lower RLIMIT_NOFILE's soft limit to this, so that "
                        "accept() runs out of fds (0: leave it)")
    args = p.parse_args(argv)
    if args.nofile:
        global SPARE
        hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
        resource.setrlimit(resource.RLIMIT_NOFILE, (args.nofile, hard))
        SPARE = _Spare()
    warm_heap()
    loop, facts = make_loop(args.loop)
    facts.update(loop=args.loop, flavour=args.flavour,
                 python=sys.version.split()[0])
    try:
        asyncio.set_event_loop(loop)
        result = loop.run_until_complete(serve(
            args.flavour, args.backlog, args.interval, args.nofile, facts))
        loop.run_until_complete(loop.shutdown_asyncgens())
    finally:
        asyncio.set_event_loop(None)
        loop.close()
    emit(result)
    return 1 if result["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
