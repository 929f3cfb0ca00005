"""Shared helpers for the networking tests (test_net_*.py): recording protocols, connected
pairs over TCP and Unix sockets, short Unix socket paths, test certificates.

Every networking case runs on asyncio's own loop and on asyncio_c's (the ``lenv`` fixture of
_loop_helpers); asyncio is the oracle, so what these helpers record is compared against what
asyncio's own transports do.
"""
import asyncio
import contextlib
import os
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import types

import pytest

PY = sys.version_info[:2]


def has_ipv6_loopback():
    if not socket.has_ipv6:
        return False
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


HAS_IPV6 = has_ipv6_loopback()
needs_ipv6 = pytest.mark.skipif(not HAS_IPV6, reason="no IPv6 loopback")


async def until(predicate, timeout=10.0, what=None):
    """Poll the running loop until predicate() is true (TimeoutError after timeout s)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"condition not met within {timeout} s: {what or predicate}")
        await asyncio.sleep(0.001)


async def turns(n):
    """Give the loop n iterations."""
    for _ in range(n):
        await asyncio.sleep(0)


class RecProto(asyncio.Protocol):
    """A protocol that records every callback, in order.

    ``log`` holds 'made', 'data' (consecutive data_received calls are merged into one
    entry), 'eof', 'pause', 'resume' and 'lost'; ``data`` all bytes received; ``exc``
    what connection_lost got; ``n_lost`` how many times it was called.
    """

    eof_result = None

    def __init__(self, loop=None, *, eof_result=None):
        self.loop = loop or asyncio.get_running_loop()
        self.log = []
        self.data = bytearray()
        self.chunk_types = set()
        self.transport = None
        self.exc = "not called"
        self.n_lost = 0
        self.n_made = 0
        if eof_result is not None:
            self.eof_result = eof_result
        self.made = self.loop.create_future()
        self.lost = self.loop.create_future()

    def connection_made(self, transport):
        self.n_made += 1
        self.transport = transport
        self.log.append("made")
        if not self.made.done():
            self.made.set_result(transport)

    def data_received(self, data):
        self.chunk_types.add(type(data))
        self.data += data
        if not self.log or self.log[-1] != "data":
            self.log.append("data")

    def eof_received(self):
        self.log.append("eof")
        return self.eof_result

    def pause_writing(self):
        self.log.append("pause")

    def resume_writing(self):
        self.log.append("resume")

    def connection_lost(self, exc):
        self.n_lost += 1
        self.exc = exc
        self.log.append("lost")
        if not self.lost.done():
            self.lost.set_result(exc)

    async def wait_bytes(self, n, timeout=10.0):
        await until(lambda: len(self.data) >= n or self.n_lost, timeout,
                    f"{n} bytes (have {len(self.data)})")
        return bytes(self.data)


class EchoProto(RecProto):
    """Echoes everything back (and records like RecProto)."""

    def data_received(self, data):
        super().data_received(data)
        self.transport.write(data)


class RecBufProto(asyncio.BufferedProtocol):
    """A BufferedProtocol that records like RecProto; ``bufsize`` is what get_buffer gives."""

    eof_result = None

    def __init__(self, loop=None, *, bufsize=65536, eof_result=None):
        self.loop = loop or asyncio.get_running_loop()
        self.bufsize = bufsize
        self.buf = bytearray(bufsize)
        self.log = []
        self.hints = []
        self.data = bytearray()
        self.transport = None
        self.exc = "not called"
        self.n_lost = 0
        if eof_result is not None:
            self.eof_result = eof_result
        self.made = self.loop.create_future()
        self.lost = self.loop.create_future()

    def connection_made(self, transport):
        self.transport = transport
        self.log.append("made")
        self.made.set_result(transport)

    def get_buffer(self, sizehint):
        self.hints.append(sizehint)
        return self.buf

    def buffer_updated(self, nbytes):
        self.data += self.buf[:nbytes]
        if not self.log or self.log[-1] != "data":
            self.log.append("data")

    def eof_received(self):
        self.log.append("eof")
        return self.eof_result

    def connection_lost(self, exc):
        self.n_lost += 1
        self.exc = exc
        self.log.append("lost")
        if not self.lost.done():
            self.lost.set_result(exc)

    async def wait_bytes(self, n, timeout=10.0):
        await until(lambda: len(self.data) >= n or self.n_lost, timeout,
                    f"{n} bytes (have {len(self.data)})")
        return bytes(self.data)


class Pair:
    """A client transport/protocol connected to a server protocol (and its server)."""

    def __init__(self, server, ctr, cpr, spr, address):
        self.server = server
        self.ctr = ctr
        self.cpr = cpr
        self.spr = spr
        self.address = address

    @property
    def str(self):
        return self.spr.transport

    async def aclose(self):
        """Close both ends and the server; wait for the connection_lost of each protocol
        that is still its transport's protocol."""
        for tr, p in ((self.ctr, self.cpr), (self.spr.transport, self.spr)):
            if tr is None:
                continue
            tr.close()
            if tr.get_protocol() is p and hasattr(p, "lost"):
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(asyncio.shield(p.lost), 10)
        self.server.close()
        await self.server.wait_closed()


def short_tmpdir():
    """A fresh directory with a short path (AF_UNIX paths are limited to 107 bytes)."""
    return tempfile.mkdtemp(prefix="acnet-", dir="/tmp")


@pytest.fixture
def sockdir():
    d = short_tmpdir()
    yield d
    shutil.rmtree(d, ignore_errors=True)


_path_counter = [0]


def unix_path(sockdir):
    _path_counter[0] += 1
    return os.path.join(sockdir, f"s{_path_counter[0]}")


async def open_pair(kind, sockdir=None, *, client=None, server=None, **server_kw):
    """Serve one connection of `kind` ('tcp' or 'unix') and connect to it.

    `client` / `server` are protocol factories called with no argument (RecProto by
    default); returns a Pair once both sides had connection_made.
    """
    loop = asyncio.get_running_loop()
    sprotos = []

    def sfactory():
        p = (server or RecProto)()
        sprotos.append(p)
        return p

    cfactory = client or RecProto
    if kind == "tcp":
        srv = await loop.create_server(sfactory, "127.0.0.1", 0, **server_kw)
        address = srv.sockets[0].getsockname()
        ctr, cpr = await loop.create_connection(cfactory, *address)
    else:
        address = unix_path(sockdir)
        srv = await loop.create_unix_server(sfactory, address, **server_kw)
        ctr, cpr = await loop.create_unix_connection(cfactory, address)
    await until(lambda: sprotos and sprotos[0].transport is not None, what="server side made")
    return Pair(srv, ctr, cpr, sprotos[0], address)


def raw_pair(kind, sockdir=None):
    """A connected (client, accepted) pair of plain non-blocking sockets."""
    if kind == "tcp":
        lsock = socket.create_server(("127.0.0.1", 0))
        addr = lsock.getsockname()
        fam = socket.AF_INET
    else:
        addr = unix_path(sockdir)
        lsock = socket.socket(socket.AF_UNIX)
        lsock.bind(addr)
        lsock.listen()
        fam = socket.AF_UNIX
    with lsock:
        c = socket.socket(fam, socket.SOCK_STREAM)
        c.connect(addr)
        s, _ = lsock.accept()
    c.setblocking(False)
    s.setblocking(False)
    return c, s


def set_linger0(sock):
    """Make close() send a RST (SO_LINGER on, timeout 0)."""
    import struct
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


# ----------------------------------------------------------------------------------------
# certificates


def _stdlib_certdata():
    base = os.path.dirname(ssl.__file__)
    for d in (os.path.join(base, "test", "certdata"), os.path.join(base, "test")):
        if os.path.exists(os.path.join(d, "keycert3.pem")):
            return d
    return None


@pytest.fixture(scope="session")
def certs(tmp_path_factory):
    """A certificate for 'localhost' and the CA that signed it, made at test time.

    trustme if installed, else the openssl CLI, else CPython's own test certificates.
    """
    d = tmp_path_factory.mktemp("certs")
    ns = types.SimpleNamespace(hostname="localhost")
    try:
        import trustme
    except ImportError:
        trustme = None
    if trustme is not None:
        ca = trustme.CA()
        leaf = ca.issue_cert("localhost", "127.0.0.1")
        ns.certfile = str(d / "leaf.pem")
        leaf.private_key_and_cert_chain_pem.write_to_path(ns.certfile)
        ns.keyfile = None
        ns.cafile = str(d / "ca.pem")
        ca.cert_pem.write_to_path(ns.cafile)
        ns.source = "trustme"
    elif shutil.which("openssl"):
        ns.certfile = str(d / "cert.pem")
        ns.keyfile = str(d / "key.pem")
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
             "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", ns.keyfile,
             "-out", ns.certfile, "-days", "2", "-subj", "/CN=localhost",
             "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
            check=True, capture_output=True, timeout=60)
        ns.cafile = ns.certfile  # self-signed: it is its own CA
        ns.source = "openssl"
    else:
        cd = _stdlib_certdata()
        if cd is None:
            pytest.skip("no trustme, no openssl CLI, no CPython test certificates")
        ns.certfile = os.path.join(cd, "keycert3.pem")
        ns.keyfile = None
        ns.cafile = os.path.join(cd, "pycacert.pem")
        ns.source = "cpython"
    return ns


def server_ctx(certs):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(certs.certfile, certs.keyfile)
    return ctx


def client_ctx(certs):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(certs.cafile)
    return ctx
