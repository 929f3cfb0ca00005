"""Echo client for bench/echo.py: ``_echo_client.py PORT SIZE CONCURRENCY``.

The same client runs against every server loop, so only the server differs.
It is deliberately not built on any event loop: plain non-blocking sockets and
one ``select.epoll``, a preallocated receive buffer per connection
(``recv_into``), TCP_NODELAY.  Per request it costs a ``send``, a share of one
``epoll.poll`` (all ready connections come back from one call) and one or
more ``recv_into``, with a few lines of Python around them; that is less than
any of the measured servers spends per request (asyncio's and asyncio_c's
Python transports, uvloop's Cython ones, plus the Python protocol or streams
code on top), so with several connections in flight the server, not the
client, is the saturated process.  bench/echo.py shows both processes' CPU
use during the measurement to check exactly that.

Each of CONCURRENCY connections runs request/response: send SIZE bytes, wait
until all SIZE bytes have come back (and equal what was sent), send the next.
The run has three phases: warm-up (not counted), measurement (requests
completed in a window of --duration seconds, between two clock readings),
then drain (no new requests; the ones in flight finish).  Then every
connection is closed and the totals are checked: each connection received
exactly as many bytes as it sent.

Protocol on stdout, one JSON object per line: ``{"event": "start"}`` when the
measured window opens, ``{"event": "end"}`` when it closes (so the parent can
sample the processes' CPU time right then), then the result.  Exit status 1
on any error (the result then has ``error``).  If stdin is a pipe and reaches
EOF (the parent went away), the client stops at once.
"""
import argparse
import json
import os
import select
import socket
import stat
import sys
import time

EPOLLIN, EPOLLOUT = select.EPOLLIN, select.EPOLLOUT
EPOLLERR, EPOLLHUP = select.EPOLLERR, select.EPOLLHUP


class Conn:
    __slots__ = ("sock", "buf", "view", "got", "off", "sent", "received",
                 "wantout")

    def __init__(self, sock, size):
        self.sock = sock
        self.buf = bytearray(size)
        self.view = memoryview(self.buf)
        self.got = 0            # bytes of the current response received
        self.off = 0            # bytes of the current request sent
        self.sent = 0           # totals
        self.received = 0
        self.wantout = False    # registered for EPOLLOUT (partial send)


class ClientError(Exception):
    pass


def emit(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def run(host, port, size, concurrency, warmup, duration, drain_timeout):
    msg = os.urandom(size)
    msgview = memoryview(msg)
    ep = select.epoll()
    conns = {}
    watch_stdin = False
    try:
        if stat.S_ISFIFO(os.fstat(0).st_mode):
            ep.register(0, EPOLLIN)
            watch_stdin = True
    except OSError:
        pass

    t_connect = time.perf_counter()
    for _ in range(concurrency):
        s = socket.create_connection((host, port), timeout=10)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        s.setblocking(False)
        c = Conn(s, size)
        conns[s.fileno()] = c
        ep.register(s.fileno(), EPOLLIN)
    t_connect = time.perf_counter() - t_connect

    def send_more(fd, c):
        """Send what is left of the request; poll for EPOLLOUT if partial."""
        try:
            n = c.sock.send(msgview[c.off:] if c.off else msg)
        except BlockingIOError:
            n = 0
        c.off += n
        c.sent += n
        if c.off < size:
            if not c.wantout:
                ep.modify(fd, EPOLLIN | EPOLLOUT)
                c.wantout = True
        elif c.wantout:
            ep.modify(fd, EPOLLIN)
            c.wantout = False

    completed = 0
    mismatches = 0
    sending = True
    inflight = 0
    now = time.perf_counter()
    phase = 0                   # 0 warm-up, 1 measuring, 2 draining
    deadline = now + warmup
    t_start = t_end = None
    count_start = count_end = 0
    cpu_start = cpu_end = None

    for fd, c in conns.items():
        c.off = c.got = 0
        send_more(fd, c)
        inflight += 1

    # The hot loop: kept flat (no calls but the socket's own in the common
    # case of a request sent whole), since it is the client's share of
    # every request.
    poll = ep.poll
    get = conns.get
    readable = EPOLLIN | EPOLLHUP | EPOLLERR
    while True:
        timeout = deadline - now
        for fd, ev in poll(timeout if timeout > 0 else 0):
            c = get(fd)
            if c is None:               # stdin: EOF or a stray byte
                if not os.read(0, 4096):
                    raise ClientError("stdin closed: the parent went away")
                continue
            if ev & EPOLLOUT and c.off < size:
                send_more(fd, c)
            if not ev & readable:
                continue
            got = c.got
            try:
                n = c.sock.recv_into(c.view[got:] if got else c.buf)
            except BlockingIOError:
                continue
            if not n:
                raise ClientError("the server closed a connection")
            got += n
            c.received += n
            if got > c.off:
                raise ClientError("received more bytes than were sent")
            if got < size:
                c.got = got
                continue
            completed += 1
            if c.buf != msg:
                mismatches += 1
            c.got = 0
            if not sending:
                inflight -= 1
                continue
            try:
                n = c.sock.send(msg)    # the next request, usually whole
            except BlockingIOError:
                n = 0
            c.sent += n
            c.off = n
            if n < size:
                if not c.wantout:
                    ep.modify(fd, EPOLLIN | EPOLLOUT)
                    c.wantout = True
        now = time.perf_counter()
        if now >= deadline:
            if phase == 0:
                phase, t_start, count_start = 1, now, completed
                cpu_start = time.process_time()
                deadline = now + duration
                emit({"event": "start"})
            elif phase == 1:
                t_end, count_end = now, completed
                cpu_end = time.process_time()
                phase, sending = 2, False
                deadline = now + drain_timeout
                emit({"event": "end"})
            else:
                raise ClientError(
                    f"{inflight} response(s) still incomplete "
                    f"{drain_timeout:g} s after the measurement")
        if phase == 2 and not inflight:
            break

    sent = received = 0
    for fd, c in conns.items():
        ep.unregister(fd)
        c.sock.close()
        sent += c.sent
        received += c.received
        if c.sent != c.received:
            raise ClientError(f"a connection sent {c.sent} bytes but got "
                              f"{c.received} back")
    if watch_stdin:
        ep.unregister(0)
    ep.close()
    if mismatches:
        raise ClientError(f"{mismatches} response(s) differ from the request")

    window = t_end - t_start
    requests = count_end - count_start
    return dict(
        event="result",
        size=size,
        concurrency=concurrency,
        requests=requests,
        window_s=window,
        rps=requests / window,
        completed_total=completed,
        bytes_sent=sent,
        bytes_received=received,
        client_cpu_pct=(cpu_end - cpu_start) / window * 100,
        connect_s=t_connect,
    )


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("port", type=int)
    p.add_argument("size", type=int)
    p.add_argument("concurrency", type=int)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--warmup", type=float, default=0.3)
    p.add_argument("--duration", type=float, default=1.5)
    p.add_argument("--drain-timeout", type=float, default=10.0)
    p.add_argument("--cpu", type=int, default=None,
                   help="pin this process to that CPU")
    args = p.parse_args(argv)
    if args.size < 1 or args.concurrency < 1 or args.duration <= 0:
        p.error("size, concurrency and duration must be positive")
    if args.cpu is not None:
        os.sched_setaffinity(0, {args.cpu})
    try:
        res = run(args.host, args.port, args.size, args.concurrency,
                  args.warmup, args.duration, args.drain_timeout)
    except (ClientError, OSError) as exc:
        emit({"event": "result", "error": f"{type(exc).__name__}: {exc}"})
        return 1
    emit(res)
    return 0


if __name__ == "__main__":
    sys.exit(main())
