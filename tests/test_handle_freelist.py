"""The memory of dead Handles and TimerHandles is reused (src/handle.c's freelists): nothing
about a handle may show it.  Weak references, Python subclasses, handles the user keeps,
handles in cycles, a loop closed with handles pending, and the type's reference count."""
import asyncio
import gc
import sys
import weakref

import pytest

import asyncio_c
from asyncio_c import _core

CHURN = 3000    # more than the freelist holds


def noop(*args):
    pass


@pytest.fixture
def loop():
    loop = asyncio_c.new_event_loop()
    yield loop
    loop.close()


def spin(loop):
    loop.run_until_complete(asyncio.sleep(0))


def churn(loop, n=CHURN):
    """Make and drop n handles and n timers (each fired), filling the freelists."""
    for _ in range(n):
        loop.call_soon(noop)
        loop.call_later(-1, noop)
    spin(loop)
    spin(loop)


def test_weakref_dies_with_its_handle_and_stays_dead(loop):
    fired = []
    h = loop.call_soon(noop)
    t = loop.call_later(-1, noop)
    rh = weakref.ref(h, fired.append)
    rt = weakref.ref(t, fired.append)
    del h, t
    spin(loop)
    assert rh() is None and rt() is None
    assert len(fired) == 2
    churn(loop)                    # the memory is handed out again
    assert rh() is None and rt() is None
    assert len(fired) == 2
    # a reused handle gets weak references of its own
    h = loop.call_soon(noop)
    r = weakref.ref(h)
    assert r() is h
    assert weakref.getweakrefcount(h) == 1


def test_reused_handles_are_fresh(loop):
    churn(loop)
    h = loop.call_soon(noop, 1, 2)
    assert type(h) is _core.Handle
    assert h._args == (1, 2) and h._callback is noop and not h.cancelled()
    assert h._repr is None and h._source_traceback is None
    assert "noop" in repr(h)
    h1 = loop.call_soon(noop)
    assert h1._args == () and h1._callback is noop
    t = loop.call_later(3600, noop, "x")
    assert type(t) is _core.TimerHandle
    assert t._scheduled and not t.cancelled() and t._args == ("x",)
    assert t.when() > loop.time() + 3000
    t.cancel()
    assert not t._scheduled and t._callback is None


def test_kept_handles_survive_the_churn(loop):
    kept = [loop.call_soon(noop, i) for i in range(100)]
    timers = [loop.call_later(-1, noop, i) for i in range(100)]
    later = loop.call_later(3600, noop)
    spin(loop)
    churn(loop)
    for i, h in enumerate(kept):
        assert type(h) is _core.Handle and h._args == (i,) and h._callback is noop
        h.cancel()                 # cancel after run
        assert h.cancelled() and h._callback is None
        assert "cancelled" in repr(h)
    for i, t in enumerate(timers):
        assert not t._scheduled and t._args == (i,)
        t.cancel()
        assert t.cancelled()
    assert later._scheduled
    later.cancel()


def test_subclasses_are_not_pooled(loop):
    dels = []

    class MyHandle(_core.Handle):
        def __del__(self):
            dels.append(type(self).__name__)

    class MyTimer(_core.TimerHandle):
        def __del__(self):
            dels.append(type(self).__name__)

    before = sys.getrefcount(MyHandle), sys.getrefcount(MyTimer)
    for _ in range(CHURN):
        h = MyHandle(noop, (), loop)
        h.extra = [h]              # a cycle through the instance dict
        t = MyTimer(1.0, noop, (), loop)
        t.extra = 1
        del h, t
    gc.collect()
    assert dels.count("MyHandle") == CHURN and dels.count("MyTimer") == CHURN
    assert (sys.getrefcount(MyHandle), sys.getrefcount(MyTimer)) == before
    churn(loop)
    assert type(loop.call_soon(noop)) is _core.Handle
    assert type(loop.call_later(1, noop)) is _core.TimerHandle
    # plain Handles made directly (not through the loop) are pooled like the others
    for _ in range(CHURN):
        _core.Handle(noop, (), loop)
        _core.TimerHandle(1.0, noop, (1,), loop)
    h = _core.Handle(noop, [1], loop)
    assert h._args == [1] and h._callback is noop


def test_handles_in_cycles_are_collected(loop):
    class Box:
        pass

    refs = []
    for _ in range(200):
        box = Box()
        box.h = loop.call_soon(noop, box)
        box.t = loop.call_later(3600, noop, box)
        box.t.cancel()
        refs.append(weakref.ref(box))
        del box
    spin(loop)
    gc.collect()
    assert all(r() is None for r in refs)
    churn(loop)
    assert all(r() is None for r in refs)


def test_type_refcount_is_not_held_by_pooled_memory(loop):
    churn(loop)
    gc.collect()
    before = sys.getrefcount(_core.Handle), sys.getrefcount(_core.TimerHandle)
    hs = [loop.call_soon(noop) for _ in range(CHURN)]
    ts = [loop.call_later(3600, noop) for _ in range(CHURN)]
    assert sys.getrefcount(_core.Handle) >= before[0] + CHURN
    assert sys.getrefcount(_core.TimerHandle) >= before[1] + CHURN
    for t in ts:
        t.cancel()
    del hs, ts, t
    spin(loop)
    assert (sys.getrefcount(_core.Handle), sys.getrefcount(_core.TimerHandle)) == before


def test_loop_closed_with_handles_pending():
    for _ in range(3):
        loop = asyncio_c.new_event_loop()
        for i in range(CHURN):
            loop.call_soon(noop, i)
            loop.call_later(3600 + i, noop)
        r = weakref.ref(loop.call_soon(noop))
        loop.close()
        del loop
        gc.collect()
        assert r() is None
    loop = asyncio_c.new_event_loop()
    try:
        out = []
        loop.call_soon(out.append, 1)
        loop.call_later(-1, out.append, 2)
        spin(loop)
        assert out == [1, 2]
    finally:
        loop.close()


def test_error_in_callback_reports_a_reused_handle(loop):
    churn(loop)
    seen = []
    loop.set_exception_handler(lambda lp, ctx: seen.append(ctx))

    def boom():
        raise ValueError("x")

    h = loop.call_soon(boom)
    spin(loop)
    assert len(seen) == 1 and seen[0]["handle"] is h
    assert isinstance(seen[0]["exception"], ValueError)


def test_timerhandle_made_directly(loop):
    # as asyncio.TimerHandle(when, callback, args, loop): not scheduled until the loop does
    t = _core.TimerHandle(5.0, noop, (1,), loop)
    assert not t._scheduled and t.when() == 5.0 and t._args == (1,)
    t.cancel()
    assert t.cancelled()
    t2 = _core.TimerHandle(5.0, noop, None, loop)
    assert t2._args is None    # as asyncio.TimerHandle keeps it


def test_handles_made_directly_take_their_memory_from_the_lists(loop):
    # Handle(...) and TimerHandle(...) put their memory on the lists when they die, so they
    # must take it from there too: made and dropped in turn, they reuse one block each
    # (without that, every one allocated fresh and the list grew by one per object)
    held = [loop.call_soon(noop) for _ in range(CHURN)]     # the lists emptied
    held += [loop.call_later(3600, noop) for _ in range(CHURN)]
    gc.collect()
    before = sys.getallocatedblocks()
    for i in range(300):
        h = _core.Handle(noop, (i,), loop)
        t = _core.TimerHandle(5.0, noop, (i,), loop)
        assert type(h) is _core.Handle and h._args == (i,) and not t._scheduled
        del h, t
    grown = sys.getallocatedblocks() - before
    assert grown < 50, grown
    for h in held:
        h.cancel()
    spin(loop)
