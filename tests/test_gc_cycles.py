"""Every GC type of asyncio_c._core under the cyclic garbage collector.

(a) tp_traverse visits what the object holds: gc.get_referents(obj) contains its loop, result,
    exception, callbacks, coroutine, context, ... (a member traverse forgets is a cycle through
    it that can never be collected).
(b) Reference cycles through callbacks, tasks and their coroutines, helper objects of the
    combinators, a loop referenced from its own callbacks, transports and their protocols:
    built, dropped, collected, and afterwards no instance of any _core type made by the
    scenario is alive (counted in gc.get_objects()) -- the tp_clear path runs without a crash.
    The same scenarios run on asyncio's own loop where they make sense (its C Future/Task
    collect these cycles too), as the oracle.

test_every_gc_type_is_covered fails when a new GC type appears in _core that no scenario makes.
"""
import asyncio
import contextvars
import gc
import os
import socket
import subprocess
import sys
import warnings

import pytest

import asyncio_c
from asyncio_c import _core

CORE_MOD = "asyncio_c._core"


_TYPES = {}


def core_types():
    """Every type object of _core alive in the process, exposed or not (callback helpers,
    iterators, watches are not module attributes; the module makes them all at import)."""
    if _TYPES:
        return _TYPES
    # The types were made at import, so tests/conftest.py may have frozen them out of
    # gc.get_objects(): thaw for the search, then freeze what lives again.
    frozen = gc.get_freeze_count()
    if frozen:
        gc.unfreeze()
    try:
        found = {t for t in gc.get_objects()
                 if isinstance(t, type) and t.__module__ == CORE_MOD}
    finally:
        if frozen:
            gc.collect()
            gc.freeze()
    found.update(t for t in vars(_core).values()
                 if isinstance(t, type) and t.__module__ == CORE_MOD)
    _TYPES.update((t.__name__, t) for t in found)
    return _TYPES


def census():
    """{type name: number of live instances} over _core's types (and subclasses)."""
    types = tuple(core_types().values())
    counts = {}
    for o in gc.get_objects():
        if isinstance(o, types):
            for t in type(o).__mro__:
                if t.__module__ == CORE_MOD:
                    counts[t.__name__] = counts.get(t.__name__, 0) + 1
    return counts


class Box:
    """Something to hang references on (and a __dict__ cycles can go through)."""


def _quiet_handler(loop, context):
    pass


def new_loop(impl):
    loop = asyncio_c.new_event_loop() if impl == "asyncio_c" else asyncio.SelectorEventLoop()
    loop.set_exception_handler(_quiet_handler)
    return loop


def step(loop, n=3):
    for _ in range(n):
        loop.call_soon(loop.stop)
        loop.run_forever()


def collects(scenario, impl="asyncio_c", expect=()):
    """Runs scenario(seen) in a fresh loop-less state; scenario builds cycles and calls
    seen(obj, name) on objects that must be collected; after it returns (dropping all its
    references), gc.collect() must free them: weakref where possible, else the census of
    _core instances is back to where it was."""
    gc.collect()
    before = census()
    refs = []
    made = set()

    def seen(obj, name=None):
        made.add(name or type(obj).__name__)
        try:
            import weakref
            refs.append((repr(type(obj)), weakref.ref(obj)))
        except TypeError:
            pass

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")         # unclosed loops/transports: collected here
        scenario(seen)
        for _ in range(3):
            gc.collect()
    alive = [name for name, r in refs if r() is not None]
    assert not alive, f"still alive after gc.collect(): {alive}"
    if impl == "asyncio_c":
        after = census()
        grown = {k: (before.get(k, 0), v) for k, v in after.items() if v > before.get(k, 0)}
        assert not grown, f"_core instances not collected (before, after): {grown}"
    for name in expect:
        assert name in made, f"the scenario made no {name}"
    return made


IMPLS = ["asyncio", "asyncio_c"]
COVERED = {}        # _core type name -> the test that makes it and collects it


def covers(*names):
    def deco(fn):
        for n in names:
            COVERED[n] = fn.__name__
        return fn
    return deco


# ---------------------------------------------------------------------------------------
# Future, FutureIter, Handle, TimerHandle, Loop

@covers("Future", "FutureIter")
@pytest.mark.parametrize("impl", IMPLS)
def test_future_cycles(impl):
    def scenario(seen):
        loop = new_loop(impl)
        ctx = contextvars.copy_context()
        # a future whose done callback refers to the future
        f = loop.create_future()
        cb = lambda fut, f=f: f     # noqa: E731
        f.add_done_callback(cb, context=ctx)
        refs = gc.get_referents(f)
        assert loop in refs and cb in refs and ctx in refs
        seen(f)
        # a future whose result is itself, and one whose exception's traceback holds it
        g = loop.create_future()
        g.set_result(g)
        assert g in gc.get_referents(g)
        seen(g)
        h = loop.create_future()
        try:
            raise ValueError(h)
        except ValueError as e:
            exc = e
        h.set_exception(exc)
        assert exc in gc.get_referents(h)
        h.exception()
        seen(h)
        del exc
        # an await iterator in the future's callbacks
        k = loop.create_future()
        it = k.__await__()
        assert k in gc.get_referents(it)
        k.add_done_callback(lambda _, it=it: it)
        seen(k)
        seen(it, "FutureIter")
        loop.close()
    collects(scenario, impl, expect=("Future",) if impl == "asyncio_c" else ())


@covers("Handle", "TimerHandle", "Loop")
@pytest.mark.parametrize("impl", IMPLS)
def test_handle_and_loop_cycles(impl):
    def scenario(seen):
        loop = new_loop(impl)
        ctx = contextvars.copy_context()
        box = Box()
        # a Handle whose args hold the handle; the loop's ready queue holds it and the
        # callback refers to the loop: loop -> handle -> args -> box -> handle/loop
        box.h = loop.call_soon(print, box, context=ctx)
        box.loop = loop
        refs = gc.get_referents(box.h)
        assert print in refs and ctx in refs and (box in refs or any(
            isinstance(r, tuple) and box in r for r in refs))
        if impl == "asyncio_c":
            assert box.h in gc.get_referents(loop)
        seen(box.h, "Handle")
        # a TimerHandle likewise, held by the loop's timer heap
        tbox = Box()
        tbox.t = loop.call_later(3600, print, tbox, loop)
        if impl == "asyncio_c":
            assert tbox.t in gc.get_referents(loop)
            assert loop in gc.get_referents(tbox.t)
        seen(tbox.t, "TimerHandle")
        # a reader callback that refers to its loop (the watch table is traversed)
        r, w = socket.socketpair()
        loop.add_reader(r, lambda: (loop, r, w))
        loop.__dict__["me"] = loop
        seen(loop, "Loop")
        # the loop is NOT closed: only the collector can free it
    collects(scenario, impl, expect=("Handle", "TimerHandle", "Loop")
             if impl == "asyncio_c" else ())


@covers("SelectorView", "SelectorMapping")
def test_selector_view_cycles():
    def scenario(seen):
        loop = new_loop("asyncio_c")
        view = loop._selector
        mapping = view.get_map()
        assert loop in gc.get_referents(view)
        assert loop in gc.get_referents(mapping) or view in gc.get_referents(mapping)
        loop.__dict__["keep"] = (view, mapping)
        seen(view, "SelectorView")
        seen(mapping, "SelectorMapping")
        seen(loop)
    collects(scenario, expect=("SelectorView", "SelectorMapping"))


# ---------------------------------------------------------------------------------------
# Task and its coroutine

@covers("Task")
@pytest.mark.parametrize("impl", IMPLS)
def test_task_cycles(impl):
    def scenario(seen):
        loop = new_loop(impl)
        waiter = loop.create_future()
        box = Box()

        async def body():
            me = box.task             # the coroutine's frame holds its task
            await waiter
            return me

        coro = body()
        ctx = contextvars.copy_context()
        box.task = loop.create_task(coro, context=ctx, name="cyclic")
        step(loop)
        refs = gc.get_referents(box.task)
        assert coro in refs and ctx in refs and loop in refs and waiter in refs
        # the waiter's callbacks hold the task's wakeup; the waiter's result the task
        waiter.add_done_callback(lambda _, t=box.task: t)
        seen(box.task, "Task")
        seen(waiter)
        # a finished task whose result is itself
        async def selfish():
            return asyncio.current_task()
        t2 = loop.create_task(selfish())
        step(loop)
        assert t2.result() is t2
        seen(t2, "Task")
        # an unclosed loop, a pending task: "destroyed but pending" goes to the handler
    collects(scenario, impl, expect=("Task",) if impl == "asyncio_c" else ())


# ---------------------------------------------------------------------------------------
# combinators: sleep, gather, shield, wait, wait_for

@covers("SleepCoroutine")
def test_sleep_cycles():
    def scenario(seen):
        loop = new_loop("asyncio_c")
        box = Box()
        sl = asyncio_c.sleep(3600, box)
        box.sl = sl
        box.loop = loop

        async def body():
            return await sl

        box.task = loop.create_task(body())
        step(loop)
        refs = gc.get_referents(sl)
        assert box in refs and 3600 in refs
        seen(sl, "SleepCoroutine")
        seen(box.task)
    collects(scenario, expect=("SleepCoroutine",))


@covers("_GatheringFuture", "_GatherCallback")
@pytest.mark.parametrize("gather", [asyncio.gather, asyncio_c.gather],
                         ids=["asyncio.gather", "asyncio_c.gather"])
def test_gather_cycles(gather):
    def scenario(seen):
        loop = new_loop("asyncio_c")
        a, b = loop.create_future(), loop.create_future()
        outer = gather(a, b)
        # children -> callbacks -> outer -> children
        cbs = [r for r in gc.get_referents(a) if type(r).__module__ == CORE_MOD
               and type(r).__name__ == "_GatherCallback"]
        if gather is asyncio_c.gather:
            assert cbs and outer in gc.get_referents(cbs[0])
            assert a in gc.get_referents(outer) or any(
                isinstance(r, (list, tuple)) and a in r for r in gc.get_referents(outer))
            seen(cbs[0], "_GatherCallback")
        a.set_result(outer)
        seen(outer, "_GatheringFuture" if gather is asyncio_c.gather else None)
        del cbs
    collects(scenario, expect=("_GatheringFuture", "_GatherCallback")
             if gather is asyncio_c.gather else ())


@covers("_ShieldCallback")
@pytest.mark.parametrize("shield", [asyncio.shield, asyncio_c.shield],
                         ids=["asyncio.shield", "asyncio_c.shield"])
def test_shield_cycles(shield):
    def scenario(seen):
        loop = new_loop("asyncio_c")
        inner = loop.create_future()
        outer = shield(inner)
        helpers = [r for r in gc.get_referents(inner)
                   if type(r).__name__ == "_ShieldCallback"]
        if shield is asyncio_c.shield:
            assert helpers and outer in gc.get_referents(helpers[0])
            seen(helpers[0], "_ShieldCallback")
        # the shielded future's result is the outer one: inner -> outer -> inner
        inner.set_result(outer)
        outer.add_done_callback(lambda _, i=inner: i)
        seen(outer)
        seen(inner)
        del helpers
    collects(scenario, expect=("_ShieldCallback",) if shield is asyncio_c.shield else ())


@covers("WaitCoroutine", "_WaitCallback")
@pytest.mark.parametrize("wait", [asyncio.wait, asyncio_c.wait],
                         ids=["asyncio.wait", "asyncio_c.wait"])
def test_wait_cycles(wait):
    def scenario(seen):
        loop = new_loop("asyncio_c")
        f = loop.create_future()
        box = Box()
        co = wait({f}, timeout=3600)

        async def body():
            me = box.task
            return await co, me

        box.task = loop.create_task(body())
        step(loop)
        helpers = [r for r in gc.get_referents(f) if type(r).__name__ == "_WaitCallback"]
        if wait is asyncio_c.wait:
            assert type(co).__name__ == "WaitCoroutine"
            assert helpers
            seen(co, "WaitCoroutine")
            seen(helpers[0], "_WaitCallback")
        f.set_result(box)         # the waited future's result holds the waiting task
        seen(box.task)
        del helpers
    collects(scenario, expect=("WaitCoroutine", "_WaitCallback")
             if wait is asyncio_c.wait else ())


@covers("WaitForCoroutine", "_ReleaseWaiter")
@pytest.mark.parametrize("wait_for", [asyncio.wait_for, asyncio_c.wait_for],
                         ids=["asyncio.wait_for", "asyncio_c.wait_for"])
def test_wait_for_cycles(wait_for):
    def scenario(seen):
        loop = new_loop("asyncio_c")
        f = loop.create_future()
        box = Box()
        co = wait_for(f, 3600)

        async def body():
            me = box.task
            return await co, me

        box.task = loop.create_task(body())
        step(loop)
        if wait_for is asyncio_c.wait_for:
            assert type(co).__name__ == "WaitForCoroutine"
            refs = gc.get_referents(co)
            assert f in refs
            rw = [r for r in refs if type(r).__name__ == "_ReleaseWaiter"]
            seen(co, "WaitForCoroutine")
            if rw:
                seen(rw[0], "_ReleaseWaiter")
            del rw, refs
        f.set_result(box)
        seen(box.task)
    made = collects(scenario)
    if wait_for is asyncio_c.wait_for:
        assert "WaitForCoroutine" in made


def test_release_waiter_cycle():
    # _ReleaseWaiter: partial(_release_waiter, waiter) as the callback of a future whose
    # result is the waiter's holder.
    def scenario(seen):
        loop = new_loop("asyncio_c")
        f = loop.create_future()
        box = Box()

        async def body():
            me = box.task
            return await asyncio_c.wait_for(f, None), me

        box.task = loop.create_task(body())
        step(loop)
        rws = [r for o in (f,) for r in gc.get_referents(o)
               if type(r).__name__ == "_ReleaseWaiter"]
        for rw in rws:
            seen(rw, "_ReleaseWaiter")
        f.set_result(box)
        del rws
    collects(scenario)


# ---------------------------------------------------------------------------------------
# sockets, servers, transports, child watches

class CycleProto(asyncio.Protocol):
    """A protocol that holds its transport (the usual protocol <-> transport cycle)."""

    def connection_made(self, transport):
        self.transport = transport

    def datagram_received(self, data, addr):
        pass

    def error_received(self, exc):
        pass


@covers("SocketTransport", "TransportBase", "ReadTransportBase")
@pytest.mark.parametrize("impl", IMPLS)
def test_socket_transport_cycles(impl):
    def scenario(seen):
        loop = new_loop(impl)
        a, b = socket.socketpair()
        proto = CycleProto()
        proto.loop = loop
        tr, _ = loop.run_until_complete(loop.create_connection(lambda: proto, sock=a))
        if impl == "asyncio_c":
            refs = gc.get_referents(tr)
            assert loop in refs and proto in refs and a in refs
            seen(tr, "SocketTransport")
        tr.write(b"x" * 10)
        loop.__dict__["peer"] = b
        # open transport, unclosed loop: only the collector frees them
    collects(scenario, impl, expect=("SocketTransport",) if impl == "asyncio_c" else ())


@covers("DatagramTransport")
@pytest.mark.parametrize("impl", IMPLS)
def test_datagram_transport_cycles(impl):
    def scenario(seen):
        loop = new_loop(impl)
        proto = CycleProto()
        proto.loop = loop
        tr, _ = loop.run_until_complete(loop.create_datagram_endpoint(
            lambda: proto, local_addr=("127.0.0.1", 0)))
        if impl == "asyncio_c":
            refs = gc.get_referents(tr)
            assert loop in refs and proto in refs
            seen(tr, "DatagramTransport")
    collects(scenario, impl, expect=("DatagramTransport",) if impl == "asyncio_c" else ())


@covers("ReadPipeTransport", "WritePipeTransport")
@pytest.mark.parametrize("impl", IMPLS)
def test_pipe_transport_cycles(impl):
    def scenario(seen):
        loop = new_loop(impl)
        r, w = os.pipe()
        rf, wf = os.fdopen(r, "rb", 0), os.fdopen(w, "wb", 0)
        rp, wp = CycleProto(), CycleProto()
        rp.loop = wp.loop = loop
        rt, _ = loop.run_until_complete(loop.connect_read_pipe(lambda: rp, rf))
        wt, _ = loop.run_until_complete(loop.connect_write_pipe(lambda: wp, wf))
        rp.other = wt
        if impl == "asyncio_c":
            assert rp in gc.get_referents(rt) and loop in gc.get_referents(wt)
            seen(rt, "ReadPipeTransport")
            seen(wt, "WritePipeTransport")
    collects(scenario, impl, expect=("ReadPipeTransport", "WritePipeTransport")
             if impl == "asyncio_c" else ())


@covers("_Listener")
@pytest.mark.parametrize("impl", IMPLS)
def test_server_listener_cycles(impl):
    def scenario(seen):
        loop = new_loop(impl)
        box = Box()
        box.loop = loop
        srv = loop.run_until_complete(loop.create_server(
            lambda: (box, CycleProto())[1], "127.0.0.1", 0))
        box.srv = srv
        step(loop)
        if impl == "asyncio_c":
            ls = [r for r in gc.get_referents(loop) if type(r).__name__ == "_Listener"]
            assert ls, "the loop's watch table does not show the listener"
            assert loop in gc.get_referents(ls[0])
            seen(ls[0], "_Listener")
            del ls
        seen(srv)
        # a server never closed, an unclosed loop
    collects(scenario, impl, expect=("_Listener",) if impl == "asyncio_c" else ())


@covers("_SockOp")
@pytest.mark.parametrize("impl", IMPLS)
def test_sock_op_cycles(impl):
    def scenario(seen):
        loop = new_loop(impl)
        a, b = socket.socketpair()
        a.setblocking(False)
        box = Box()

        async def body():
            me = box.task
            return await loop.sock_recv(a, 10), me

        box.task = loop.create_task(body())
        box.loop = loop
        step(loop)
        if impl == "asyncio_c":
            ops = [r for r in gc.get_referents(loop) if type(r).__name__ == "_SockOp"]
            assert ops, "the loop's watch table does not show the pending sock_recv"
            assert a in gc.get_referents(ops[0])
            seen(ops[0], "_SockOp")
            del ops
        seen(box.task)
        loop.__dict__["peer"] = b
    collects(scenario, impl, expect=("_SockOp",) if impl == "asyncio_c" else ())


@covers("ChildWatch")
def test_child_watch_cycles():
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        def scenario(seen):
            loop = new_loop("asyncio_c")
            box = Box()
            box.loop = loop
            if not getattr(loop, "_ac_use_pidfd", False) or \
                    not _core._watch_child(loop, proc.pid, lambda rc, box=box: box):
                loop.close()
                pytest.skip("pidfd child watches are not available here")
            cws = [r for r in gc.get_referents(loop) if type(r).__name__ == "ChildWatch"]
            assert cws, "the loop's watch table does not show the child watch"
            assert loop in gc.get_referents(cws[0])
            seen(cws[0], "ChildWatch")
            del cws
            # the loop is dropped while it still watches the (running) child
        collects(scenario, expect=("ChildWatch",))
    finally:
        proc.kill()
        proc.wait()


# ---------------------------------------------------------------------------------------

def test_every_gc_type_is_covered():
    types = core_types()
    not_gc = sorted(n for n, t in types.items() if not t.__flags__ & (1 << 14))
    assert not not_gc, f"_core types without Py_TPFLAGS_HAVE_GC: {not_gc}"
    # the hidden helper types only exist once a scenario made them: make sure they are
    # all loaded (every test above ran in this process or the scenarios are cheap)
    missing = sorted(set(types) - set(COVERED))
    assert not missing, f"GC types of _core no test in this file makes and collects: {missing}"


# ---------------------------------------------------------------------------------------
# Resurrection by the finalizer: an unclosed transport's ResourceWarning carries the
# transport as its source, so a warnings recorder resurrects it.  It must stay tracked by the
# GC (found by the refleak run: ac_transport_dealloc untracked it before calling the
# finalizer; the debug interpreter aborts on that, a release build keeps an untracked
# object whose cycles are never collected).

@pytest.mark.parametrize("kind", ["stream", "datagram"])
def test_transport_resurrected_by_its_finalizer_stays_tracked(kind):
    import weakref
    loop = new_loop("asyncio_c")
    peer = None
    try:
        if kind == "datagram":
            tr, proto = loop.run_until_complete(loop.create_datagram_endpoint(
                CycleProto, local_addr=("127.0.0.1", 0)))
        else:
            sock, peer = socket.socketpair()
            tr, proto = loop.run_until_complete(loop.create_connection(CycleProto, sock=sock))
            del sock
        tr.pause_reading()                  # the loop no longer holds it
        proto.transport = None
        with warnings.catch_warnings(record=True) as ws:
            warnings.simplefilter("always")
            del tr
            gc.collect()
        found = [w.source for w in ws if issubclass(w.category, ResourceWarning)
                 and type(w.source).__module__ == CORE_MOD]
        del ws
        assert found, "no ResourceWarning with the transport as its source"
        assert gc.is_tracked(found[0]), "the resurrected transport is no longer GC-tracked"
        ref = weakref.ref(found[0])
        found[0].cycle = found          # a cycle through the resurrected transport
        del found
        gc.collect()
        assert ref() is None
    finally:
        if peer is not None:
            peer.close()
        loop.close()
