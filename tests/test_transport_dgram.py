"""The datagram transport (UDP and Unix datagram sockets): asyncio's behaviour, on both loops.

What src/transport_dgram.c has to get right: receiving (addresses of each family, errors to
error_received), sendto's address checks, sending at once or queueing when the kernel does
not take a datagram, the write-buffer size and flow control on that queue, close/abort with
datagrams queued, sendto after close, the ordering of connection_made and the waiter, the
class layout, the ResourceWarning of an unclosed transport.

asyncio's own transport is the oracle; where asyncio_c deliberately differs the test says so
and asserts each behaviour (``lenv.impl.is_c``):
  * 3.11's asyncio transport is not an asyncio.DatagramTransport (3.12 made it one); ours is.
  * 3.13's asyncio adds 8 bytes per queued datagram to the write-buffer size but takes only
    the data's length off when it is sent (CPython gh-135444, fixed after 3.13.0), so its size
    never returns to 0; ours takes off what it added.  After abort() asyncio keeps
    reporting the dropped datagrams' size; ours reports 0.
"""
import asyncio
import contextvars
import gc
import logging
import os
import socket
import struct
import sys
import tempfile
import weakref

import pytest

from _loop_helpers import PY, collect, lenv, limpl  # noqa: F401  (fixtures)

import asyncio_c

VAR = contextvars.ContextVar("VAR", default="unset")
HEADER = 8 if PY >= (3, 13) else 0      # what asyncio counts per queued datagram
TIMEOUT = 10


class Recorder(asyncio.DatagramProtocol):
    def __init__(self):
        self.events = []
        self.transport = None
        self.closed = None

    def connection_made(self, transport):
        self.transport = transport
        self.events.append(("made", VAR.get()))
        self.closed = asyncio.get_running_loop().create_future()

    def datagram_received(self, data, addr):
        self.events.append(("data", data, addr, VAR.get()))

    def error_received(self, exc):
        self.events.append(("error", exc))

    def pause_writing(self):
        self.events.append(("pause",))

    def resume_writing(self):
        self.events.append(("resume",))

    def connection_lost(self, exc):
        self.events.append(("lost", exc))
        if not self.closed.done():
            self.closed.set_result(None)

    def received(self):
        return [(e[1], e[2]) for e in self.events if e[0] == "data"]

    def errors(self):
        return [e[1] for e in self.events if e[0] == "error"]

    def kinds(self):
        return [e[0] for e in self.events]


def endpoint(lenv, proto_factory=Recorder, **kw):
    return lenv.run(lenv.loop.create_datagram_endpoint(proto_factory, **kw))


def close(lenv, tr, proto):
    tr.close()
    lenv.run(asyncio.wait_for(proto.closed, TIMEOUT))


def udp_peer():
    """A blocking UDP socket on loopback, bound, with a timeout."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    s.settimeout(TIMEOUT)
    return s


def closed_udp_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


@pytest.fixture
def sockdir():
    with tempfile.TemporaryDirectory(prefix="acdg") as d:    # short: sun_path is 108 bytes
        yield d


# ---------------------------------------------------------------------------------------------
# types and extra info


def test_types(lenv):
    tr, proto = endpoint(lenv, local_addr=("127.0.0.1", 0))
    try:
        for cls in (asyncio.BaseTransport, asyncio.transports._FlowControlMixin):
            assert isinstance(tr, cls)
        # asyncio's own transport became a DatagramTransport in 3.12; ours always is
        assert isinstance(tr, asyncio.DatagramTransport) == (lenv.impl.is_c or PY >= (3, 12))
        if lenv.impl.is_c:
            assert type(tr) is asyncio_c._core.DatagramTransport
        assert "fd=" in repr(tr)
        assert tr.get_extra_info("nonexistent", 42) == 42
        assert tr.get_write_buffer_size() == 0
        assert tr.get_write_buffer_limits() == (16384, 65536)
        assert tr.is_reading()
        assert not tr.is_closing()
        assert tr.get_protocol() is proto
    finally:
        close(lenv, tr, proto)
    assert "closed" in repr(tr)
    assert tr.is_closing()


def test_extra_info_unconnected(lenv):
    tr, proto = endpoint(lenv, local_addr=("127.0.0.1", 0))
    sock = tr.get_extra_info("socket")
    assert sock.family == socket.AF_INET and sock.type == socket.SOCK_DGRAM
    assert tr.get_extra_info("sockname") == sock.getsockname()
    assert tr.get_extra_info("sockname")[0] == "127.0.0.1"
    assert tr.get_extra_info("peername") is None
    close(lenv, tr, proto)


def test_extra_info_connected(lenv):
    peer = udp_peer()
    tr, proto = endpoint(lenv, remote_addr=peer.getsockname())
    sock = tr.get_extra_info("socket")
    assert tr.get_extra_info("peername") == peer.getsockname()
    assert tr.get_extra_info("sockname") == sock.getsockname()
    assert sock.fileno() >= 0
    close(lenv, tr, proto)
    peer.close()


def test_c_transport_is_not_instantiable():
    with pytest.raises(TypeError):
        asyncio_c._core.DatagramTransport()
    with pytest.raises(TypeError):
        asyncio_c._core._datagram_transport(1, 2, 3)
    loop = asyncio.SelectorEventLoop()
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
    try:
        with pytest.raises(TypeError, match="asyncio_c loop"):
            asyncio_c._core._datagram_transport(loop, a, asyncio.DatagramProtocol(), None,
                                                None)
    finally:
        a.close()
        b.close()
        loop.close()


# ---------------------------------------------------------------------------------------------
# receiving and sending


def test_udp_echo(lenv):
    class Echo(Recorder):
        def datagram_received(self, data, addr):
            super().datagram_received(data, addr)
            self.transport.sendto(data.upper(), addr)

    server, sproto = endpoint(lenv, Echo, local_addr=("127.0.0.1", 0))
    client, cproto = endpoint(lenv, remote_addr=server.get_extra_info("sockname"))
    for i in range(10):
        client.sendto(b"hello %d" % i)
    lenv.run_until(lambda: len(cproto.received()) == 10, TIMEOUT)
    caddr = client.get_extra_info("sockname")
    assert sproto.received() == [(b"hello %d" % i, caddr) for i in range(10)]
    assert cproto.received() == [(b"HELLO %d" % i, server.get_extra_info("sockname"))
                                 for i in range(10)]
    assert server.get_write_buffer_size() == client.get_write_buffer_size() == 0
    close(lenv, client, cproto)
    close(lenv, server, sproto)
    assert cproto.kinds()[0] == "made" and cproto.events[-1] == ("lost", None)


def test_udp_ipv6_address(lenv):
    if not socket.has_ipv6:
        pytest.skip("no IPv6")
    try:
        server, sproto = endpoint(lenv, local_addr=("::1", 0))
    except OSError:
        pytest.skip("no IPv6 loopback")
    peer = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    peer.bind(("::1", 0))
    peer.sendto(b"six", server.get_extra_info("sockname"))
    lenv.run_until(lambda: sproto.received(), TIMEOUT)
    data, addr = sproto.received()[0]
    assert data == b"six"
    assert addr == peer.getsockname() and len(addr) == 4
    server.sendto(b"back", addr)
    peer.settimeout(TIMEOUT)
    assert peer.recvfrom(10) == (b"back", server.get_extra_info("sockname"))
    peer.close()
    close(lenv, server, sproto)


def test_connected_and_unconnected_addresses(lenv):
    peer = udp_peer()
    other = udp_peer()
    tr, proto = endpoint(lenv, remote_addr=peer.getsockname())
    paddr = peer.getsockname()
    # None or the connected address are accepted, by position or keyword
    tr.sendto(b"a")
    tr.sendto(b"b", paddr)
    tr.sendto(data=b"c", addr=None)
    with pytest.raises(ValueError, match=r"Invalid address: must be None or \('127\.0\.0\.1', "
                                         r"%d\)" % paddr[1]):
        tr.sendto(b"x", other.getsockname())
    with pytest.raises(ValueError, match="Invalid address"):
        tr.sendto(b"x", "not an address")
    assert [peer.recvfrom(10)[0] for _ in range(3)] == [b"a", b"b", b"c"]
    close(lenv, tr, proto)

    # unconnected: each datagram to the address it is given
    tr, proto = endpoint(lenv, local_addr=("127.0.0.1", 0))
    tr.sendto(b"to peer", paddr)
    tr.sendto(b"to other", other.getsockname())
    assert peer.recvfrom(100) == (b"to peer", tr.get_extra_info("sockname"))
    assert other.recvfrom(100) == (b"to other", tr.get_extra_info("sockname"))
    close(lenv, tr, proto)
    peer.close()
    other.close()


def test_sendto_bad_data(lenv):
    peer = udp_peer()
    tr, proto = endpoint(lenv, remote_addr=peer.getsockname())
    with pytest.raises(TypeError, match="data argument must be a bytes-like object, not 'str'"):
        tr.sendto("text")
    with pytest.raises(TypeError, match="not 'int'"):
        tr.sendto(5)
    with pytest.raises(TypeError):
        tr.sendto()
    # bytearray and memoryview are accepted
    tr.sendto(bytearray(b"ba"))
    tr.sendto(memoryview(b"xmvx")[1:3])
    assert peer.recv(10) == b"ba"
    assert peer.recv(10) == b"mv"
    assert not tr.is_closing()
    close(lenv, tr, proto)
    peer.close()


def test_unconnected_sendto_without_address_is_fatal(lenv):
    tr, proto = endpoint(lenv, local_addr=("127.0.0.1", 0))
    tr.sendto(b"nowhere")                   # the socket's sendto(data, None) raises TypeError
    assert tr.is_closing()
    lenv.run(asyncio.wait_for(proto.closed, TIMEOUT))
    [err] = lenv.take_errors()
    assert err["message"] == "Fatal write error on datagram transport"
    assert isinstance(err["exception"], TypeError)
    assert err["transport"] is tr and err["protocol"] is proto
    assert proto.events[-1] == ("lost", err["exception"])


def test_empty_datagram(lenv):
    """3.13 sends an empty datagram for sendto(b''); 3.11 and 3.12 ignore the call."""
    peer = udp_peer()
    tr, proto = endpoint(lenv, remote_addr=peer.getsockname())
    tr.sendto(b"")
    tr.sendto(b"x")
    if PY >= (3, 13):
        assert peer.recv(10) == b""
    assert peer.recv(10) == b"x"
    # and receiving one
    peer.sendto(b"", tr.get_extra_info("sockname"))
    lenv.run_until(lambda: proto.received(), TIMEOUT)
    assert proto.received() == [(b"", peer.getsockname())]
    close(lenv, tr, proto)
    peer.close()


def test_big_udp_datagram(lenv):
    server, sproto = endpoint(lenv, local_addr=("127.0.0.1", 0))
    client, cproto = endpoint(lenv, remote_addr=server.get_extra_info("sockname"))
    big = bytes(range(256)) * 255 + b"end"      # 65283 bytes (UDP's limit is 65507)
    client.sendto(big)
    client.sendto(b"small")
    lenv.run_until(lambda: len(sproto.received()) == 2, TIMEOUT)
    assert [d for d, _ in sproto.received()] == [big, b"small"]
    # too big for UDP (EMSGSIZE): error_received(), the transport stays open
    client.sendto(b"x" * 70000)
    [exc] = cproto.errors()
    assert isinstance(exc, OSError)
    assert not client.is_closing()
    close(lenv, client, cproto)
    close(lenv, server, sproto)


def test_error_received_on_icmp_refused(lenv):
    """A connected UDP socket learns from ICMP that nobody listens: error_received()."""
    tr, proto = endpoint(lenv, remote_addr=("127.0.0.1", closed_udp_port()))
    tr.sendto(b"anyone?")
    lenv.run_until(lambda: proto.errors(), TIMEOUT)
    assert isinstance(proto.errors()[0], ConnectionRefusedError)
    assert not tr.is_closing()
    assert lenv.take_errors() == []
    close(lenv, tr, proto)
    assert proto.events[-1] == ("lost", None)


def test_protocol_errors_go_to_the_exception_handler(lenv):
    class Bad(Recorder):
        def datagram_received(self, data, addr):
            super().datagram_received(data, addr)
            raise ZeroDivisionError("in datagram_received")

        def error_received(self, exc):
            super().error_received(exc)
            raise KeyError("in error_received")

    tr, proto = endpoint(lenv, Bad, local_addr=("127.0.0.1", 0))
    peer = udp_peer()
    peer.sendto(b"1", tr.get_extra_info("sockname"))
    lenv.run_until(lambda: lenv.errors, TIMEOUT)
    [err] = lenv.take_errors()
    assert err["message"].startswith("Exception in callback ")
    assert isinstance(err["exception"], ZeroDivisionError)
    assert not tr.is_closing()              # not a fatal error: the transport goes on
    peer.sendto(b"2", tr.get_extra_info("sockname"))
    lenv.run_until(lambda: len(proto.received()) == 2, TIMEOUT)
    lenv.take_errors()
    # error_received() raising inside sendto() propagates to the caller
    with pytest.raises(KeyError, match="in error_received"):
        tr.sendto(b"x" * 70000, peer.getsockname())
    assert not tr.is_closing()
    close(lenv, tr, proto)
    peer.close()


def test_callbacks_run_in_the_creation_context(lenv):
    peer = udp_peer()

    async def make():
        VAR.set("creator")
        return await lenv.loop.create_datagram_endpoint(Recorder, local_addr=("127.0.0.1", 0))

    tr, proto = lenv.run(make())
    VAR.set("outside")
    peer.sendto(b"x", tr.get_extra_info("sockname"))
    lenv.run_until(lambda: proto.received(), TIMEOUT)
    assert proto.events[0] == ("made", "creator")
    assert proto.events[1][3] == "creator"
    VAR.set("unset")
    close(lenv, tr, proto)
    peer.close()


def test_connection_made_before_reading_and_waiter(lenv):
    """A datagram already waiting is delivered after connection_made; the endpoint's
    coroutine returns after connection_made."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.setblocking(False)
    peer = udp_peer()
    peer.sendto(b"early", sock.getsockname())

    async def make():
        tr, proto = await lenv.loop.create_datagram_endpoint(Recorder, sock=sock)
        return tr, proto, list(proto.kinds())

    tr, proto, at_return = lenv.run(make())
    assert at_return[0] == "made"
    lenv.run_until(lambda: proto.received(), TIMEOUT)
    assert proto.kinds()[:2] == ["made", "data"]
    close(lenv, tr, proto)
    peer.close()


def test_pause_and_resume_reading(lenv):
    tr, proto = endpoint(lenv, local_addr=("127.0.0.1", 0))
    peer = udp_peer()
    tr.pause_reading()
    assert not tr.is_reading()
    peer.sendto(b"held", tr.get_extra_info("sockname"))
    lenv.run(asyncio.sleep(0.05))
    assert proto.received() == []
    tr.resume_reading()
    assert tr.is_reading()
    lenv.run_until(lambda: proto.received(), TIMEOUT)
    assert proto.received()[0][0] == b"held"
    close(lenv, tr, proto)
    peer.close()


# ---------------------------------------------------------------------------------------------
# after close() / abort()


def test_connected_sendto_after_close_is_counted(lenv, caplog):
    peer = udp_peer()
    tr, proto = endpoint(lenv, remote_addr=peer.getsockname())
    tr.close()
    tr.sendto(b"dropped")                   # connection_lost is scheduled: not sent
    lenv.run(asyncio.wait_for(proto.closed, TIMEOUT))
    with caplog.at_level(logging.WARNING, logger="asyncio"):
        for _ in range(6):
            tr.sendto(b"dropped")
    warnings = [r for r in caplog.records if r.getMessage() == "socket.send() raised exception."]
    assert len(warnings) == 3
    peer.settimeout(0.05)
    with pytest.raises(socket.timeout):
        peer.recv(10)
    peer.close()


def test_unconnected_sendto_after_close(lenv):
    peer = udp_peer()
    tr, proto = endpoint(lenv, local_addr=("127.0.0.1", 0))
    tr.close()
    tr.sendto(b"still sent", peer.getsockname())    # the socket is open until connection_lost
    assert peer.recv(20) == b"still sent"
    lenv.run(asyncio.wait_for(proto.closed, TIMEOUT))
    # once connection_lost has run asyncio fails with an AttributeError (its socket and loop
    # are None); ours raises AttributeError too
    with pytest.raises(AttributeError):
        tr.sendto(b"x", peer.getsockname())
    if PY < (3, 13):
        tr.sendto(b"", peer.getsockname())          # ignored before anything else
    peer.close()


def test_abort(lenv):
    peer = udp_peer()
    tr, proto = endpoint(lenv, remote_addr=peer.getsockname())
    tr.abort()
    assert tr.is_closing()
    tr.sendto(b"x")                         # counted, not sent
    lenv.run(asyncio.wait_for(proto.closed, TIMEOUT))
    assert proto.events[-1] == ("lost", None)
    assert proto.kinds().count("lost") == 1
    tr.close()                              # nothing more
    tr.abort()
    lenv.run(asyncio.sleep(0))
    assert proto.kinds().count("lost") == 1
    peer.close()


def test_no_reference_kept_after_close(lenv):
    peer = udp_peer()
    tr, proto = endpoint(lenv, remote_addr=peer.getsockname())
    wtr, wproto = weakref.ref(tr), weakref.ref(proto)
    tr.sendto(b"bye")
    close(lenv, tr, proto)
    del tr, proto
    collect()
    assert wtr() is None
    assert wproto() is None
    peer.close()


def test_unclosed_transport_warns(lenv):
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))

    async def make():
        tr, proto = await lenv.loop.create_datagram_endpoint(asyncio.DatagramProtocol,
                                                             sock=sock)
        return tr

    tr = lenv.run(make())
    tr.pause_reading()       # the loop no longer refers to it
    with pytest.warns(ResourceWarning, match="unclosed transport"):
        del tr
        gc.collect()
    assert sock.fileno() == -1  # closed with the transport


# ---------------------------------------------------------------------------------------------
# Unix datagram sockets


def test_unix_datagrams(lenv, sockdir):
    pa, pb = os.path.join(sockdir, "a"), os.path.join(sockdir, "b")
    server, sproto = endpoint(lenv, family=socket.AF_UNIX, local_addr=pa)
    client, cproto = endpoint(lenv, family=socket.AF_UNIX, local_addr=pb, remote_addr=pa)
    assert server.get_extra_info("sockname") == pa
    assert client.get_extra_info("peername") == pa
    assert client.get_extra_info("sockname") == pb
    client.sendto(b"from b")
    big = os.urandom(100_000)               # bigger than any UDP datagram
    client.sendto(big)
    lenv.run_until(lambda: len(sproto.received()) == 2, TIMEOUT)
    assert sproto.received() == [(b"from b", pb), (big, pb)]
    server.sendto(b"to b", pb)
    lenv.run_until(lambda: cproto.received(), TIMEOUT)
    assert cproto.received() == [(b"to b", pa)]

    # an unnamed sender has no address; an abstract one's is bytes
    anon = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    anon.sendto(b"anon", pa)
    abstract = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    name = b"\0acdg-%d-%s" % (os.getpid(), lenv.impl.name.encode())
    abstract.bind(name)
    abstract.sendto(b"abstract", pa)
    lenv.run_until(lambda: len(sproto.received()) == 4, TIMEOUT)
    assert sproto.received()[2:] == [(b"anon", None), (b"abstract", name)]
    server.sendto(b"reply", name)
    abstract.settimeout(TIMEOUT)
    assert abstract.recvfrom(10) == (b"reply", pa)
    anon.close()
    abstract.close()
    close(lenv, client, cproto)
    close(lenv, server, sproto)


def test_unix_socketpair_has_an_empty_peername(lenv):
    """A socketpair's peer is unnamed: peername '' (false), so sendto() needs an address."""
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
    tr, proto = endpoint(lenv, sock=a)
    assert tr.get_extra_info("peername") == ""
    b.send(b"ping")
    lenv.run_until(lambda: proto.received(), TIMEOUT)
    assert proto.received() == [(b"ping", None)]
    tr.sendto(b"pong")                      # socket.sendto(data, None): a fatal TypeError
    lenv.run(asyncio.wait_for(proto.closed, TIMEOUT))
    [err] = lenv.take_errors()
    assert isinstance(err["exception"], TypeError)
    b.close()


def blocked_unix_pair(lenv, sockdir, size=1000):
    """A transport connected to a Unix datagram socket that does not read, sent to until
    the kernel refuses more: (transport, protocol, peer, datagrams sent, datagrams queued)."""
    pa, pb = os.path.join(sockdir, "a"), os.path.join(sockdir, "b")
    peer = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    peer.bind(pb)
    tr, proto = endpoint(lenv, family=socket.AF_UNIX, local_addr=pa, remote_addr=pb)
    sent = []
    for i in range(100_000):
        data = struct.pack("!I", i) + b"x" * (size - 4)
        tr.sendto(data)
        sent.append(data)
        if tr.get_write_buffer_size():
            break
    else:
        pytest.fail("the kernel never refused a datagram")
    return tr, proto, peer, sent, 1


def drain(lenv, peer, got, until):
    peer.setblocking(False)

    def pred():
        while True:
            try:
                got.append(peer.recv(65536))
            except BlockingIOError:
                break
        return until()
    lenv.run_until(pred, TIMEOUT)


def test_write_buffer_and_flow_control(lenv, sockdir):
    tr, proto, peer, sent, queued = blocked_unix_pair(lenv, sockdir)
    assert tr.get_write_buffer_size() == 1000 + HEADER
    assert proto.kinds() == ["made"]
    tr.set_write_buffer_limits(high=4000)
    assert tr.get_write_buffer_limits() == (1000, 4000)
    mutable = bytearray(b"m" * 1000)
    while "pause" not in proto.kinds():
        data = struct.pack("!I", len(sent)) + b"y" * 996
        tr.sendto(data if len(sent) % 2 else memoryview(data))
        sent.append(data)
        queued += 1
    tr.sendto(mutable)                      # queued: a copy
    mutable[:] = b"M" * 1000
    sent.append(b"m" * 1000)
    queued += 1
    assert tr.get_write_buffer_size() == queued * (1000 + HEADER)
    assert tr.get_write_buffer_size() > 4000
    assert proto.kinds() == ["made", "pause"]
    assert "bufsize=%d" % tr.get_write_buffer_size() in repr(tr)

    got = []
    drain(lenv, peer, got, lambda: len(got) == len(sent))
    assert got == sent                      # all of them, in order
    assert proto.kinds() == ["made", "pause", "resume"]
    if lenv.impl.is_c or PY < (3, 13):
        assert tr.get_write_buffer_size() == 0
    else:                                   # asyncio's leak (gh-135444)
        assert tr.get_write_buffer_size() == queued * HEADER
    assert not tr.is_closing()
    close(lenv, tr, proto)
    peer.close()


def test_close_waits_for_the_queue(lenv, sockdir):
    tr, proto, peer, sent, queued = blocked_unix_pair(lenv, sockdir)
    tr.sendto(b"last")
    sent.append(b"last")
    tr.close()
    assert tr.is_closing()
    # connection_lost is not scheduled yet (_conn_lost is 0): queued and sent too
    tr.sendto(b"after close")
    sent.append(b"after close")
    lenv.run(asyncio.sleep(0.05))
    assert "lost" not in proto.kinds()      # not while datagrams are queued
    got = []
    drain(lenv, peer, got, lambda: "lost" in proto.kinds())
    drain(lenv, peer, got, lambda: len(got) >= len(sent))
    assert got == sent
    assert proto.events[-1] == ("lost", None)
    peer.close()


def test_abort_drops_the_queue(lenv, sockdir):
    tr, proto, peer, sent, queued = blocked_unix_pair(lenv, sockdir)
    tr.sendto(b"dropped")
    size = tr.get_write_buffer_size()
    assert size == (1000 + HEADER) + (7 + HEADER)
    tr.abort()
    lenv.run(asyncio.wait_for(proto.closed, TIMEOUT))
    assert proto.events[-1] == ("lost", None)
    if lenv.impl.is_c:
        assert tr.get_write_buffer_size() == 0
    else:                                   # asyncio keeps its stale count
        assert tr.get_write_buffer_size() == size
    got = []
    drain(lenv, peer, got, lambda: True)
    assert got == sent[:-1]                 # what the kernel had taken, not the queue
    peer.close()


# ---------------------------------------------------------------------------------------------
# a family whose addresses the C code does not build (read with the socket's recvfrom())


def test_netlink_datagrams(lenv):
    try:
        sock = socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, socket.NETLINK_ROUTE)
    except (AttributeError, OSError) as e:
        pytest.skip(f"no netlink: {e}")
    sock.bind((0, 0))
    tr, proto = endpoint(lenv, sock=sock)
    RTM_GETLINK, NLM_F_REQUEST, NLM_F_DUMP = 18, 1, 0x300
    body = struct.pack("BxHiII", socket.AF_UNSPEC, 0, 0, 0, 0)
    msg = struct.pack("=IHHII", 16 + len(body), RTM_GETLINK, NLM_F_REQUEST | NLM_F_DUMP,
                      1, 0) + body
    tr.sendto(msg, (0, 0))
    NLMSG_DONE = 3

    def done():
        for data, _ in proto.received():
            off = 0
            while off + 16 <= len(data):
                length, typ = struct.unpack_from("=IH", data, off)
                if typ == NLMSG_DONE:
                    return True
                off += (length + 3) & ~3
                if length == 0:
                    break
        return False

    lenv.run_until(done, TIMEOUT)
    for data, addr in proto.received():
        assert addr == (0, 0)               # from the kernel
        assert isinstance(data, bytes) and data
    close(lenv, tr, proto)
