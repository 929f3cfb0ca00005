"""Soak client for bench/soak.py: ``_soak_client.py PORT --conns N``.

Like bench/_echo_client.py it is built on no event loop (plain non-blocking
sockets and one ``select.epoll``), so that only the server's loop is under
test.  It keeps N connections busy with request/response for --duration
seconds, and churns them:

- every request has a size drawn log-uniformly from 1 byte to --max-size
  (64 KiB), cut at a random offset out of 1 MiB of seeded random data, and
  every chunk of the reply is compared with the bytes it should echo as it
  arrives: a lost, extra, reordered or corrupted byte is an error;
- after a reply, with probability --churn the connection ends and a new one
  replaces it (non-blocking connect).  It ends in one of three ways: close()
  (FIN); shutdown(SHUT_WR) then waiting for the server's EOF before close()
  (the server's eof_received/close path); one more request with the
  shutdown(SHUT_WR) right behind it, whose echo must still come back whole
  before the server's EOF (a close with data still to write); or an
  abortive close (SO_LINGER 0: an RST); --rst of them RSTs, the rest split
  evenly;
- a fraction --small-rcvbuf of the connections have a 4 KiB receive
  buffer, so that the server's writes stop short and its transports buffer,
  pause and resume (the server sets a low high-water mark on half of its
  connections);
- with probability --abort-mid a request is cut short: part of it is sent,
  then the connection is reset (RST) with the echo possibly in flight, which
  soaks the server's read/write error paths.

At the end no new request starts; the ones in flight complete (within
--drain-timeout), each connection closing as its last echo is complete,
then every connection left closes gracefully and one JSON
object with the totals is printed on stdout.  Exit status 1 on any error
(the JSON then has ``error`` and ``errors``).  If stdin is a pipe and
reaches EOF (the parent went away), the client stops at once.
"""
import argparse
import errno
import json
import math
import os
import random
import select
import socket
import stat
import struct
import sys
import time

EPOLLIN, EPOLLOUT = select.EPOLLIN, select.EPOLLOUT
EPOLLERR, EPOLLHUP = select.EPOLLERR, select.EPOLLHUP
READABLE = EPOLLIN | EPOLLHUP | EPOLLERR
SOURCE_SIZE = 1 << 20
SMALL_RCVBUF = 4096
LINGER_RST = struct.pack("ii", 1, 0)        # SO_LINGER on, 0 s: close = RST

CONNECTING, ACTIVE, CLOSING = range(3)


class ClientError(Exception):
    pass


class Conn:
    __slots__ = ("sock", "fd", "state", "src", "size", "off", "got",
                 "mask", "abort_at", "fin_after")

    def __init__(self, sock):
        self.sock = sock
        self.fd = sock.fileno()
        self.state = CONNECTING
        self.src = 0            # offset of the current request in the source
        self.size = 0           # its size (0: none in flight)
        self.off = 0            # bytes of it sent
        self.got = 0            # bytes of its echo received and verified
        self.mask = 0           # events registered
        self.abort_at = 0       # reset after sending this many (0: never)
        self.fin_after = False  # half-close once this request is sent


def emit(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def run(args):
    rng = random.Random(args.seed)
    source = rng.randbytes(SOURCE_SIZE)
    srcview = memoryview(source)
    rbuf = bytearray(256 * 1024)
    rview = memoryview(rbuf)
    log_max = math.log(args.max_size)
    ep = select.epoll()
    conns = {}
    t = dict(requests=0, bytes_sent=0, bytes_verified=0, connects=0,
             closes_fin=0, closes_shutdown=0, closes_eof_early=0,
             closes_rst=0, aborts_mid=0,
             partial_sends=0, small_rcvbuf=0)
    errors = []
    watch_stdin = False
    try:
        if stat.S_ISFIFO(os.fstat(0).st_mode):
            ep.register(0, EPOLLIN)
            watch_stdin = True
    except OSError:
        pass

    def fail(c, what):
        errors.append(what)
        if len(errors) >= 20:
            raise ClientError("; ".join(errors[:5]))
        drop(c, rst=True)

    def set_mask(c, mask):
        if mask != c.mask:
            ep.modify(c.fd, mask)
            c.mask = mask

    def drop(c, rst=False):
        conns.pop(c.fd, None)
        ep.unregister(c.fd)
        if rst:
            c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, LINGER_RST)
        c.sock.close()

    def connect():
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setblocking(False)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if rng.random() < args.small_rcvbuf:
            # A small window: the server's writes stop short, its transport
            # buffers and (with its low high-water mark) pauses.
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, SMALL_RCVBUF)
            t["small_rcvbuf"] += 1
        err = s.connect_ex((args.host, args.port))
        if err not in (0, errno.EINPROGRESS):
            s.close()
            raise ClientError(f"connect: {os.strerror(err)}")
        c = Conn(s)
        conns[c.fd] = c
        c.mask = EPOLLOUT
        ep.register(c.fd, EPOLLOUT)
        t["connects"] += 1

    def start_request(c):
        size = max(1, min(args.max_size,
                          int(math.exp(rng.random() * log_max))))
        c.size = size
        c.src = rng.randrange(SOURCE_SIZE - size + 1)
        c.off = c.got = 0
        c.abort_at = (rng.randrange(1, size + 1)
                      if rng.random() < args.abort_mid else 0)
        send_more(c)

    def send_more(c):
        end = c.abort_at or c.size
        try:
            n = c.sock.send(srcview[c.src + c.off:c.src + end])
        except BlockingIOError:
            n = 0
        c.off += n
        t["bytes_sent"] += n
        if c.abort_at and c.off >= c.abort_at:
            # Cut the request short with an RST, echo possibly in flight.
            t["aborts_mid"] += 1
            drop(c, rst=True)
            if sending:
                connect()
            return
        if c.off < c.size:
            if n and c.mask != EPOLLIN | EPOLLOUT:
                t["partial_sends"] += 1
            set_mask(c, EPOLLIN | EPOLLOUT)
        else:
            if c.fin_after:
                c.sock.shutdown(socket.SHUT_WR)
            set_mask(c, EPOLLIN)

    def finish(c):
        """The echo of c's request is complete: close, or the next one."""
        t["requests"] += 1
        c.size = 0
        if c.fin_after:                 # now the server's EOF
            c.state = CLOSING
            return
        if not sending:
            # Draining: close at once, so that a server at its fd limit
            # can accept the connections still waiting in its backlog.
            t["closes_fin"] += 1
            drop(c)
            return
        if rng.random() < args.churn:
            r = rng.random()
            if r < args.rst:
                t["closes_rst"] += 1
                drop(c, rst=True)
            elif r < args.rst + (1 - args.rst) / 3:
                t["closes_fin"] += 1
                drop(c)
            elif r < args.rst + (1 - args.rst) * 2 / 3:
                # Half-close right behind one more request: the server
                # sees its data then EOF, and must echo all of it (its
                # write buffer flushed) before it closes.
                t["closes_eof_early"] += 1
                c.fin_after = True
                start_request(c)
                return
            else:
                # Half-close: the server must see EOF and close its side.
                t["closes_shutdown"] += 1
                c.sock.shutdown(socket.SHUT_WR)
                c.state = CLOSING
                set_mask(c, EPOLLIN)
                return
            connect()
            return
        start_request(c)

    for _ in range(args.conns):
        connect()

    sending = True
    now = time.monotonic()
    t_start = now
    deadline = now + args.duration
    poll = ep.poll
    while True:
        timeout = deadline - now
        for fd, ev in poll(max(0.0, min(timeout, 1.0))):
            c = conns.get(fd)
            if c is None:
                if fd == 0:
                    if not os.read(0, 4096):
                        raise ClientError("stdin closed: the parent went away")
                continue
            if c.state == CONNECTING:
                err = c.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                if err:
                    fail(c, f"connect: {os.strerror(err)}")
                    if sending:
                        connect()
                    continue
                c.state = ACTIVE
                if sending:
                    start_request(c)
                else:
                    t["closes_fin"] += 1
                    drop(c)
                continue
            if ev & EPOLLOUT and c.size and c.off < c.size:
                send_more(c)
                if conns.get(fd) is not c:      # reset (fd maybe reused)
                    continue
            if not ev & READABLE:
                continue
            try:
                n = c.sock.recv_into(rbuf)
            except BlockingIOError:
                continue
            except OSError as exc:
                fail(c, f"recv: {exc!r} (state {c.state})")
                if sending:
                    connect()
                continue
            if c.state == CLOSING:
                if n:
                    fail(c, f"{n} unexpected byte(s) after the half-close")
                else:
                    drop(c)
                    if sending:
                        connect()
                continue
            if not n:
                fail(c, "the server closed a connection mid-request"
                        if c.size else "the server closed an idle connection")
                if sending:
                    connect()
                continue
            if c.got + n > c.off:
                fail(c, f"received {c.got + n} bytes of a request of which "
                        f"{c.off} were sent")
                if sending:
                    connect()
                continue
            a = c.src + c.got
            if rview[:n] != srcview[a:a + n]:
                fail(c, f"corrupted echo: {n} bytes at offset {c.got} of a "
                        f"{c.size}-byte request differ")
                if sending:
                    connect()
                continue
            c.got += n
            t["bytes_verified"] += n
            if c.got == c.size:
                finish(c)
        now = time.monotonic()
        if sending and now >= deadline:
            # Drain: no new request or connection; the ones in flight end.
            sending = False
            deadline = now + args.drain_timeout
        elif not sending:
            if not any(c.size or c.state == CLOSING for c in conns.values()):
                break
            if now >= deadline:
                busy = sum(1 for c in conns.values()
                           if c.size or c.state == CLOSING)
                raise ClientError(f"{busy} connection(s) still busy "
                                  f"{args.drain_timeout:g} s after the end")

    t_run = time.monotonic() - t_start
    for c in list(conns.values()):
        if c.state == ACTIVE:
            t["closes_fin"] += 1
        drop(c)
    if watch_stdin:
        ep.unregister(0)
    ep.close()
    res = dict(event="result", seconds=t_run, conns=args.conns, **t,
               errors=errors)
    if errors:
        res["error"] = f"{len(errors)} error(s): " + "; ".join(errors[:5])
    return res


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("port", type=int)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--conns", type=int, default=500)
    p.add_argument("--duration", type=float, default=180.0)
    p.add_argument("--max-size", type=int, default=64 * 1024)
    p.add_argument("--churn", type=float, default=0.02,
                   help="probability that a connection ends after a reply")
    p.add_argument("--rst", type=float, default=0.2,
                   help="fraction of those ends that are RSTs")
    p.add_argument("--abort-mid", type=float, default=0.002,
                   help="probability that a request is cut short by an RST")
    p.add_argument("--small-rcvbuf", type=float, default=0.25,
                   help="fraction of connections with a 4 KiB SO_RCVBUF")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--drain-timeout", type=float, default=30.0)
    args = p.parse_args(argv)
    if args.conns < 1 or args.duration <= 0 or not \
            1 <= args.max_size <= SOURCE_SIZE:
        p.error("conns, duration and max-size must be positive "
                "(max-size at most 1 MiB)")
    try:
        res = run(args)
    except (ClientError, OSError) as exc:
        emit({"event": "result", "error": f"{type(exc).__name__}: {exc}",
              "errors": [str(exc)]})
        return 1
    emit(res)
    return 1 if res.get("error") else 0


if __name__ == "__main__":
    sys.exit(main())
