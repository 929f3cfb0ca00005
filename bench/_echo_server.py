"""Echo server for bench/echo.py: ``_echo_server.py LOOP FLAVOUR``.

Runs on one event loop (``asyncio``: asyncio.new_event_loop(), ``uvloop``:
uvloop.new_event_loop(), ``asyncio_c``: asyncio_c.new_event_loop(), made by
bench/_child.py's make_loop so they are the same loops bench/run.py measures)
and serves one flavour on 127.0.0.1, on a port the kernel picks:

* ``protocol``: an asyncio.Protocol whose data_received() passes every chunk
  straight to transport.write();
* ``streams``: asyncio.start_server(); each connection loops on
  ``await reader.read(256 KiB)``, ``writer.write(data)``,
  ``await writer.drain()``.

Before serving it frees one 1 MiB block (warm_heap(); not with --cold-heap).

Protocol on stdout, one JSON object per line: first ``{"port": ...}`` plus
facts about the loop once it listens; then, after it was told to stop, its
totals (connections, bytes received and sent).  It stops cleanly (closes the
listening socket and every connection, waits for them, closes the loop) when
its stdin reaches EOF (the parent closed it, or died) or on SIGTERM/SIGINT.
"""
import argparse
import asyncio
import json
import os
import signal
import sys
import time

_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, _HERE)                       # _child
sys.path.insert(1, os.path.dirname(_HERE))      # the asyncio_c package

from _child import make_loop  # noqa: E402

LOOPS = ("asyncio", "uvloop", "asyncio_c")
FLAVOURS = ("protocol", "streams")
READ_SIZE = 256 * 1024          # the most a selector transport reads at once
STOP_GRACE = 10.0               # seconds allowed for closing connections


class Stats:
    def __init__(self):
        self.connections = 0
        self.bytes_in = 0
        self.bytes_out = 0
        self.errors = []


class EchoProtocol(asyncio.Protocol):
    """Writes back every chunk as it arrives."""

    def __init__(self, stats, live):
        self.stats = stats
        self.live = live
        self.transport = None
        self.nbytes = 0

    def connection_made(self, transport):
        self.transport = transport
        self.stats.connections += 1
        self.live.add(transport)

    def data_received(self, data):
        self.nbytes += len(data)
        self.transport.write(data)

    def connection_lost(self, exc):
        self.live.discard(self.transport)
        self.stats.bytes_in += self.nbytes
        self.stats.bytes_out += self.nbytes
        if exc is not None:
            self.stats.errors.append(f"connection lost: {exc!r}")


def streams_handler(stats, live):
    async def echo(reader, writer):
        stats.connections += 1
        live.add(writer)
        nin = nout = 0
        try:
            while True:
                data = await reader.read(READ_SIZE)
                if not data:
                    break
                nin += len(data)
                writer.write(data)
                await writer.drain()
                nout += len(data)
        except (ConnectionError, asyncio.CancelledError) as exc:
            stats.errors.append(f"stream: {exc!r}")
        finally:
            stats.bytes_in += nin
            stats.bytes_out += nout
            writer.close()
            try:
                await writer.wait_closed()
            except ConnectionError:
                pass
            live.discard(writer)
    return echo


async def serve(flavour, host, facts):
    loop = asyncio.get_running_loop()
    stats, live = Stats(), set()
    if flavour == "protocol":
        server = await loop.create_server(
            lambda: EchoProtocol(stats, live), host, 0)
    else:
        server = await asyncio.start_server(
            streams_handler(stats, live), host, 0)
    port = server.sockets[0].getsockname()[1]

    stop = asyncio.Event()

    def on_stdin():
        try:
            chunk = os.read(0, 4096)
        except OSError:
            chunk = b""
        if not chunk:
            loop.remove_reader(0)
            stop.set()

    loop.add_reader(0, on_stdin)
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)

    print(json.dumps(dict(port=port, pid=os.getpid(), **facts)), flush=True)
    await stop.wait()

    # Clean shutdown: no new connections, close the live ones, wait for
    # them (3.12+ Server.wait_closed also waits for its connections).
    t0 = time.perf_counter()
    server.close()
    for conn in list(live):
        conn.close()
    try:
        await asyncio.wait_for(server.wait_closed(), STOP_GRACE)
        deadline = loop.time() + STOP_GRACE
        while live and loop.time() < deadline:
            await asyncio.sleep(0.01)
    except asyncio.TimeoutError:
        stats.errors.append("timed out closing the server")
    if live:
        stats.errors.append(f"{len(live)} connection(s) still open at exit")
    return dict(
        event="stopped",
        connections=stats.connections,
        bytes_in=stats.bytes_in,
        bytes_out=stats.bytes_out,
        errors=stats.errors,
        close_s=time.perf_counter() - t0,
        cpu_s=time.process_time(),
    )


def warm_heap():
    """Put glibc's malloc in the state a long-running process reaches.

    glibc serves blocks above its mmap threshold (128 KiB at start) with
    mmap, and raises the threshold to a block's size the first time such a
    block is freed whole.  asyncio's selector transports read with
    ``sock.recv(256 KiB)`` (a fresh bytes object, shrunk to the data), so
    until that first large free every read of every connection costs an
    mmap, an mremap, a munmap and page faults: on this benchmark's 1 KiB
    echo, 2.5-3x the server's time per request.  Whether some large block
    happened to be freed during start-up is an accident of the process'
    history (even the working directory changed it), so every server, on
    every loop, frees one 1 MiB block before it serves.  ``--cold-heap``
    skips this, to see the other state.
    """
    bytearray(1 << 20)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("loop", choices=LOOPS)
    p.add_argument("flavour", choices=FLAVOURS)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--cpu", type=int, default=None,
                   help="pin this process to that CPU")
    p.add_argument("--cold-heap", action="store_true",
                   help="skip warm_heap()")
    args = p.parse_args(argv)
    if args.cpu is not None:
        os.sched_setaffinity(0, {args.cpu})

    if not args.cold_heap:
        warm_heap()
    loop, facts = make_loop(args.loop)
    facts.update(loop=args.loop, flavour=args.flavour,
                 python=sys.version.split()[0])
    try:
        asyncio.set_event_loop(loop)
        result = loop.run_until_complete(serve(args.flavour, args.host, facts))
        loop.run_until_complete(loop.shutdown_asyncgens())
    finally:
        asyncio.set_event_loop(None)
        loop.close()
    print(json.dumps(result), flush=True)
    return 1 if result["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
