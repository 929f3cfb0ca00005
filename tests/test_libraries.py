"""Real libraries on asyncio_c's loop: aiohttp (server and client) and anyio's asyncio backend.

Every case runs on asyncio's own loop and on asyncio_c's with the same expectations (asyncio
is the oracle).  The aiohttp case is one real server on 127.0.0.1:0 and the real client, in
one loop: JSON both ways, a several-MiB body streamed each way in chunks (checked by hash),
many concurrent requests, a websocket echo of many text and binary messages, then a clean
shutdown with no ResourceWarning and no call of the loop's exception handler.  The anyio
case runs anyio.run(..., backend_options={"loop_factory": ...}) through task groups, cancel
scopes, memory object streams, TCP on loopback, worker threads, a real subprocess and the
synchronisation primitives; anyio's pytest plugin is exercised with an anyio_backend of
asyncio_c's loop.
"""
import asyncio
import contextlib
import gc
import hashlib
import os
import signal
import socket
import subprocess
import sys
import textwrap
import urllib.request
import warnings

import pytest

import asyncio_c
from _loop_helpers import LOOP_IMPLS, child_env, limpl  # noqa: F401  (fixture)
from _net_helpers import certs, client_ctx, server_ctx  # noqa: F401  (fixture)

aiohttp = pytest.importorskip("aiohttp")
anyio = pytest.importorskip("anyio")
from aiohttp import web  # noqa: E402

BIG = 6 * 1024 * 1024 + 12345          # bytes streamed each way (http)
BIG_TLS = 2 * 1024 * 1024 + 12345      # (https: the ssl module's time is not the matter)
CHUNK = 64 * 1024
N_WS = 300                              # websocket messages of each kind
N_CONCURRENT = 40


def _payload(n):
    """n deterministic, not very compressible bytes."""
    block = hashlib.sha256(b"asyncio_c").digest() * 2048      # 64 KiB
    whole, rest = divmod(n, len(block))
    return block * whole + block[:rest]


def _check_loop(limpl, task=True):
    """The running loop is limpl's, and (task=True) so is the current task's type.  aiohttp
    runs its request handlers in tasks it constructs itself, asyncio.Task(coro, loop=loop,
    eager_start=True) on 3.12/3.13: asyncio's Task type on whatever loop is running."""
    loop = asyncio.get_running_loop()
    assert type(loop) is limpl.loop_type, type(loop)
    if task:
        assert type(asyncio.current_task()) is limpl.Task, type(asyncio.current_task())


@contextlib.contextmanager
def _clean_run(limpl):
    """A Runner on limpl's loop; fails if the loop's exception handler was called or a
    ResourceWarning (unclosed transport, socket, session...) was emitted."""
    errors = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        with asyncio.Runner(loop_factory=limpl.new_loop) as runner:
            runner.get_loop().set_exception_handler(lambda loop, ctx: errors.append(ctx))
            yield runner
        gc.collect()
    assert errors == [], errors
    leaks = [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)]
    assert leaks == [], leaks


# --------------------------------------------------------------------------------------------
# aiohttp

def _make_app(limpl, tmp_path, size):
    routes = web.RouteTableDef()
    big = _payload(size)
    static = tmp_path / "static.bin"
    static.write_bytes(big)

    @routes.get("/json")
    async def get_json(request):
        _check_loop(limpl, task=False)
        return web.json_response({"loop": type(asyncio.get_running_loop()).__name__,
                                  "q": request.query.get("q")})

    @routes.post("/json")
    async def post_json(request):
        data = await request.json()
        return web.json_response({"sum": sum(data["numbers"]), "echo": data["text"]})

    @routes.get("/big")
    async def get_big(request):
        resp = web.StreamResponse()
        resp.content_type = "application/octet-stream"
        resp.enable_chunked_encoding()
        await resp.prepare(request)
        view = memoryview(big)
        for i in range(0, len(big), 100_000):      # not a multiple of the reader's chunk
            await resp.write(view[i:i + 100_000])
        await resp.write_eof()
        return resp

    @routes.get("/file")
    async def get_file(request):
        # FileResponse sends with loop.sendfile() (os.sendfile on the transport's socket)
        return web.FileResponse(static)

    @routes.post("/upload")
    async def upload(request):
        h = hashlib.sha256()
        n = 0
        async for chunk in request.content.iter_chunked(CHUNK):
            h.update(chunk)
            n += len(chunk)
        return web.json_response({"n": n, "sha256": h.hexdigest()})

    @routes.get("/slow/{i}")
    async def slow(request):
        await asyncio.sleep(0.001)
        return web.Response(text=request.match_info["i"])

    @routes.get("/ws")
    async def ws_echo(request):
        _check_loop(limpl, task=False)
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        async for msg in ws:
            if msg.type == aiohttp.WSMsgType.TEXT:
                if msg.data == "close":
                    await ws.close(code=4000, message=b"bye")
                else:
                    await ws.send_str(msg.data[::-1])
            elif msg.type == aiohttp.WSMsgType.BINARY:
                await ws.send_bytes(hashlib.sha256(msg.data).digest() + msg.data)
        return ws

    app = web.Application()
    app.add_routes(routes)
    return app


async def _aiohttp_scenario(limpl, tmp_path, certs=None):
    """certs: over TLS (https, wss; the loop's start_tls, and sendfile's fallback)."""
    _check_loop(limpl)
    size = BIG_TLS if certs else BIG
    runner = web.AppRunner(_make_app(limpl, tmp_path, size))
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0,
                           ssl_context=server_ctx(certs) if certs else None)
        await site.start()
        host, port = runner.addresses[0][:2]
        scheme = "https" if certs else "http"
        base = f"{scheme}://{host}:{port}"
        connector = aiohttp.TCPConnector(ssl=client_ctx(certs) if certs else None)
        async with aiohttp.ClientSession(connector=connector) as session:
            # JSON both ways
            async with session.get(base + "/json", params={"q": "x y"}) as r:
                assert r.status == 200
                assert await r.json() == {"loop": type(asyncio.get_running_loop()).__name__,
                                          "q": "x y"}
            async with session.post(base + "/json",
                                    json={"numbers": list(range(1000)), "text": "héllo"}) as r:
                assert await r.json() == {"sum": 499500, "echo": "héllo"}

            # a large body streamed to the client, read in chunks
            want = hashlib.sha256(_payload(size)).hexdigest()
            async with session.get(base + "/big") as r:
                assert r.status == 200 and r.headers["Transfer-Encoding"] == "chunked"
                h, n, chunks = hashlib.sha256(), 0, 0
                async for chunk in r.content.iter_chunked(CHUNK):
                    h.update(chunk)
                    n += len(chunk)
                    chunks += 1
                assert (n, h.hexdigest()) == (size, want) and chunks > 1

            # a file (sendfile), whole and a range; by name: the resolver's getaddrinfo
            async with session.get(f"{scheme}://localhost:{port}/file") as r:
                assert r.status == 200 and int(r.headers["Content-Length"]) == size
                assert hashlib.sha256(await r.read()).hexdigest() == want
            async with session.get(base + "/file",
                                   headers={"Range": "bytes=1000000-1999999"}) as r:
                assert r.status == 206
                assert await r.read() == _payload(size)[1000000:2000000]

            # and one streamed to the server by an async generator (chunked upload)
            async def body():
                view = memoryview(_payload(size))
                for i in range(0, size, 77_777):
                    yield bytes(view[i:i + 77_777])
            async with session.post(base + "/upload", data=body()) as r:
                assert await r.json() == {"n": size, "sha256": want}

            # many requests at once (the connector's pool, keep-alive)
            async def one(i):
                async with session.get(f"{base}/slow/{i}") as r:
                    return await r.text()
            got = await asyncio.gather(*(one(i) for i in range(N_CONCURRENT)))
            assert got == [str(i) for i in range(N_CONCURRENT)]

            # websocket echo: text and binary, sizes from 0 bytes to beyond 64 KiB
            async with session.ws_connect(base + "/ws") as ws:
                for i in range(N_WS):
                    text = "ab€" * (i * 7 % 500)
                    await ws.send_str(text)
                    assert await ws.receive_str() == text[::-1]
                    data = os.urandom(i * 331 % 70_000) if i % 50 else b""
                    await ws.send_bytes(data)
                    echoed = await ws.receive_bytes()
                    assert echoed == hashlib.sha256(data).digest() + data
                # pipelined: many sent before any is read
                for i in range(N_WS):
                    await ws.send_str(str(i))
                for i in range(N_WS):
                    assert await ws.receive_str() == str(i)[::-1]
                await ws.send_str("close")
                msg = await ws.receive()
                assert msg.type == aiohttp.WSMsgType.CLOSE, msg
                assert ws.close_code is None or ws.close_code == 4000
                await ws.close()
                assert ws.closed and ws.close_code == 4000
    finally:
        await runner.cleanup()
    return "done"


@pytest.mark.parametrize("tls", [False, True], ids=["http", "https"])
def test_aiohttp_server_and_client(limpl, tmp_path, tls, request):
    tls_certs = request.getfixturevalue("certs") if tls else None
    with _clean_run(limpl) as runner:
        assert runner.run(_aiohttp_scenario(limpl, tmp_path, tls_certs)) == "done"


async def _aiohttp_unix_timeout_heartbeat(limpl, tmp_path):
    """A UnixSite and UnixConnector; a client timeout, and the server cancelling the handler
    of the request the client gave up on; websocket ping/pong and heartbeat timers."""
    handler_cancelled = asyncio.Event()

    async def forever(request):
        try:
            await asyncio.sleep(3600)
        finally:
            handler_cancelled.set()

    async def hello(request):
        return web.Response(text=type(asyncio.get_running_loop()).__name__)

    async def ws_echo(request):
        ws = web.WebSocketResponse(heartbeat=30)
        await ws.prepare(request)
        async for msg in ws:
            await ws.send_str(msg.data)
        return ws

    app = web.Application()
    app.router.add_get("/", hello)
    app.router.add_get("/forever", forever)
    app.router.add_get("/ws", ws_echo)
    runner = web.AppRunner(app, handler_cancellation=True)
    await runner.setup()
    try:
        path = str(tmp_path / "aiohttp.sock")
        await web.UnixSite(runner, path).start()
        async with aiohttp.ClientSession(connector=aiohttp.UnixConnector(path)) as s:
            async with s.get("http://unix/") as r:
                assert await r.text() == type(asyncio.get_running_loop()).__name__
            with pytest.raises(asyncio.TimeoutError):
                async with s.get("http://unix/forever",
                                 timeout=aiohttp.ClientTimeout(total=0.05)):
                    pass
            await asyncio.wait_for(handler_cancelled.wait(), 30)
            # heartbeat timers armed (and cancelled at close) on both sides; they do not
            # fire here: a pong deadline of heartbeat/2 is a timing test on a loaded box
            async with s.ws_connect("http://unix/ws", heartbeat=30, autoping=False) as ws:
                await ws.ping(b"are you there")       # the server's autoping answers
                msg = await ws.receive()
                assert (msg.type, msg.data) == (aiohttp.WSMsgType.PONG, b"are you there")
                await ws.send_str("still here")
                assert await ws.receive_str() == "still here"
    finally:
        await runner.cleanup()
    return "done"


def test_aiohttp_unix_timeout_heartbeat(limpl, tmp_path):
    with _clean_run(limpl) as runner:
        assert runner.run(_aiohttp_unix_timeout_heartbeat(limpl, tmp_path)) == "done"


RUN_APP = """\
    import asyncio, socket, sys
    from aiohttp import web

    async def hello(request):
        return web.Response(text=type(asyncio.get_running_loop()).__module__)

    async def cleanup(app):
        print("cleanup", flush=True)

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(100)        # connections queue up until the server accepts
    print("port", sock.getsockname()[1], flush=True)
    app = web.Application()
    app.router.add_get("/", hello)
    app.on_cleanup.append(cleanup)
    web.run_app(app, sock=sock, print=None)     # asyncio.new_event_loop(), SIGINT/SIGTERM
    print("exited", flush=True)
"""


@pytest.mark.parametrize("launcher", [["-m", "asyncio_c"], []], ids=["python_m_asyncio_c",
                                                                      "plain_python"])
def test_aiohttp_run_app(tmp_path, launcher):
    """An unchanged aiohttp application, `python -m asyncio_c app.py`: web.run_app() gets
    asyncio_c's loop from the policy; SIGTERM (loop.add_signal_handler) shuts it down
    gracefully.  Plain `python app.py` is the oracle."""
    app = tmp_path / "app.py"
    app.write_text(textwrap.dedent(RUN_APP))
    proc = subprocess.Popen([sys.executable, *launcher, str(app)], cwd=tmp_path,
                            env=child_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        line = proc.stdout.readline()
        assert line.startswith("port "), (line, proc.stderr.read() if proc.poll() else "")
        port = int(line.split()[1])
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=60) as r:
            body = r.read().decode()
        assert body == ("asyncio_c._loop" if launcher else "asyncio.unix_events")
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert (proc.returncode, out) == (0, "cleanup\nexited\n"), err
    assert "Traceback" not in err and "Warning" not in err, err


# --------------------------------------------------------------------------------------------
# anyio

async def _anyio_scenario(limpl, tmp_path):
    _check_loop(limpl)
    log = []

    # task groups, and the first error cancelling the siblings
    async def child(i, delay):
        await anyio.sleep(delay)
        log.append(i)

    async with anyio.create_task_group() as tg:
        for i in (3, 1, 2):
            tg.start_soon(child, i, i * 0.01)
    assert log == [1, 2, 3]

    async def boom():
        await anyio.sleep(0)
        raise ValueError("boom")

    cancelled = []

    async def victim():
        try:
            await anyio.sleep(3600)
        except anyio.get_cancelled_exc_class():
            cancelled.append(True)
            raise

    with pytest.raises(BaseExceptionGroup) as ei:
        async with anyio.create_task_group() as tg:
            tg.start_soon(victim)
            tg.start_soon(boom)
    assert ei.group_contains(ValueError) and cancelled == [True]

    # task_status: tg.start() waits for the child to report ready
    async def server_like(*, task_status=anyio.TASK_STATUS_IGNORED):
        task_status.started("ready")
        await anyio.sleep(3600)

    async with anyio.create_task_group() as tg:
        assert await tg.start(server_like) == "ready"
        tg.cancel_scope.cancel()

    # cancel scopes and timeouts
    with anyio.move_on_after(0.01) as scope:
        await anyio.sleep(3600)
    assert scope.cancelled_caught
    with pytest.raises(TimeoutError):
        with anyio.fail_after(0.01):
            await anyio.sleep(3600)
    with anyio.CancelScope() as scope:
        scope.cancel()
        await anyio.sleep(3600)
    assert scope.cancelled_caught
    with anyio.CancelScope(shield=True):
        await anyio.sleep(0)

    # memory object streams, a producer and a consumer
    send, recv = anyio.create_memory_object_stream[int](5)
    got = []

    async def producer():
        async with send:
            for i in range(200):
                await send.send(i)

    async def consumer():
        async with recv:
            async for item in recv:
                got.append(item)

    async with anyio.create_task_group() as tg:
        tg.start_soon(producer)
        tg.start_soon(consumer)
    assert got == list(range(200))

    # TCP on loopback: a listener serving an echo, and anyio.connect_tcp
    payload = _payload(1024 * 1024)

    async def echo(stream):
        async with stream:
            try:
                async for data in stream:
                    await stream.send(data)
            except anyio.EndOfStream:
                pass

    listener = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=0)
    port = listener.extra(anyio.abc.SocketAttribute.local_port)
    async with listener, anyio.create_task_group() as tg:
        tg.start_soon(listener.serve, echo)
        async with await anyio.connect_tcp("127.0.0.1", port) as client:
            async def writer():
                for i in range(0, len(payload), 50_000):
                    await client.send(payload[i:i + 50_000])
                await client.send_eof()
            tg.start_soon(writer)
            received = bytearray()
            async for data in client:
                received += data
        assert received == payload
        tg.cancel_scope.cancel()

    # worker threads, and back into the loop from one
    def in_thread(x):
        return anyio.from_thread.run(anyio_sync_add, x) * 2

    async def anyio_sync_add(x):
        _check_loop(limpl)
        return x + 1

    assert await anyio.to_thread.run_sync(in_thread, 20) == 42

    # a real subprocess
    proc = await anyio.run_process(
        [sys.executable, "-c", "import sys; sys.stdout.write(sys.stdin.read().upper())"],
        input=b"hello from anyio")
    assert proc.returncode == 0 and proc.stdout == b"HELLO FROM ANYIO"
    async with await anyio.open_process(
            [sys.executable, "-c", "import sys; print(len(sys.stdin.buffer.read()))"]) as p:
        await p.stdin.send(b"x" * 100_000)
        await p.stdin.aclose()
        out = b"".join([chunk async for chunk in p.stdout])
        assert await p.wait() == 0 and out.strip() == b"100000"

    # Event, Lock, Semaphore, Condition
    event, lock = anyio.Event(), anyio.Lock()
    order = []

    async def waiter(i):
        await event.wait()
        async with lock:
            order.append(i)
            await anyio.sleep(0)

    async with anyio.create_task_group() as tg:
        for i in range(5):
            tg.start_soon(waiter, i)
        await anyio.sleep(0.01)
        assert order == []
        event.set()
    assert sorted(order) == list(range(5))
    sem = anyio.Semaphore(2)
    peak = active = 0

    async def limited():
        nonlocal peak, active
        async with sem:
            active += 1
            peak = max(peak, active)
            await anyio.sleep(0.001)
            active -= 1

    async with anyio.create_task_group() as tg:
        for _ in range(10):
            tg.start_soon(limited)
    assert peak == 2

    # UDP (datagram endpoints), unix stream sockets, wait_readable (add_reader) on a raw socket
    async with await anyio.create_udp_socket(local_host="127.0.0.1") as a, \
            await anyio.create_udp_socket(local_host="127.0.0.1") as b:
        port = b.extra(anyio.abc.SocketAttribute.local_port)
        for i in range(20):
            await a.sendto(b"m%d" % i, "127.0.0.1", port)
        assert [(await b.receive())[0] for _ in range(20)] == [b"m%d" % i for i in range(20)]

    async def unix_echo(stream):
        async with stream:
            await stream.send(await stream.receive())

    listener = await anyio.create_unix_listener(str(tmp_path / "anyio.sock"))
    async with listener, anyio.create_task_group() as tg:
        tg.start_soon(listener.serve, unix_echo)
        async with await anyio.connect_unix(str(tmp_path / "anyio.sock")) as c:
            await c.send(b"hello unix")
            assert await c.receive() == b"hello unix"
        tg.cancel_scope.cancel()

    r, w = socket.socketpair()
    with r, w:
        async def later():
            await anyio.sleep(0.001)
            w.send(b"x")
        async with anyio.create_task_group() as tg:
            tg.start_soon(later)
            await anyio.wait_readable(r)
            assert r.recv(1) == b"x"
    return "done"


def test_anyio_run_with_loop_factory(limpl, tmp_path):
    errors = []

    async def main():
        asyncio.get_running_loop().set_exception_handler(lambda l, c: errors.append(c))
        return await _anyio_scenario(limpl, tmp_path)

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        assert anyio.run(main, backend="asyncio",
                         backend_options={"loop_factory": limpl.new_loop}) == "done"
        gc.collect()
    assert errors == []
    assert [w for w in caught if issubclass(w.category, ResourceWarning)] == []


def test_anyio_blocking_portal(limpl):
    """anyio's blocking portal: the loop in a worker thread (a subprocess from there too)."""
    async def work(x):
        _check_loop(limpl)
        proc = await anyio.run_process([sys.executable, "-c", "print(6 * 7)"])
        with anyio.move_on_after(0.01):
            await anyio.sleep(3600)
        return proc.stdout, x

    with anyio.from_thread.start_blocking_portal(
            "asyncio", {"loop_factory": limpl.new_loop}) as portal:
        assert portal.call(work, 1) == (b"42\n", 1)
        assert portal.start_task_soon(work, 2).result(timeout=60) == (b"42\n", 2)


def test_anyio_run_with_policy():
    """asyncio_c.install(): anyio.run() with no options gets asyncio_c's loop."""
    async def main():
        return type(asyncio.get_running_loop()), type(asyncio.current_task())

    old = asyncio.get_event_loop_policy()
    asyncio_c.install()
    try:
        assert anyio.run(main) == (asyncio_c.Loop, asyncio_c.Task)
    finally:
        asyncio.set_event_loop_policy(old)


# anyio's pytest plugin (the README recipe): an anyio_backend fixture naming our loop
@pytest.fixture(params=[pytest.param(("asyncio", {"loop_factory": impl.new_loop}),
                                     id=impl.name) for impl in LOOP_IMPLS])
def anyio_backend(request):
    return request.param


@pytest.mark.anyio
async def test_anyio_pytest_plugin(anyio_backend):
    want = asyncio_c.Loop if anyio_backend[1]["loop_factory"] is asyncio_c.new_event_loop \
        else asyncio.SelectorEventLoop
    assert type(asyncio.get_running_loop()) is want
    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(anyio.sleep, 0)
