"""loop._selector, the fd argument of the loop's private _add_reader & co., and the debug-mode
slow-callback warning: what asyncio's own code and tests read of a selector loop.

Every case runs on asyncio's selector loop and on asyncio_c's loop (fixture ``limpl``) with the
same expectations.  asyncio_c's loop._selector is a read-only view of the C watch table
(src/selector_view.c); where it differs from a selectors selector the test says so.
"""
import asyncio
import collections.abc
import logging
import os
import selectors
import socket
from asyncio import selector_events
from unittest import mock

import pytest

from _loop_helpers import lenv, limpl  # noqa: F401


class FileLike:
    def __init__(self, fd):
        self.fd = fd

    def fileno(self):
        return self.fd


class IntLike:
    """What int() accepts: a fileno() returning it is converted (int(obj.fileno()))."""

    def __init__(self, n):
        self.n = n

    def __int__(self):
        return self.n


@pytest.fixture
def pair():
    a, b = socket.socketpair()
    a.setblocking(False)
    b.setblocking(False)
    yield a, b
    a.close()
    b.close()


def _error(fn, *args):
    with pytest.raises(Exception) as info:
        fn(*args)
    return type(info.value), str(info.value)


# --------------------------------------------------------------------------------------
# fd conversion: selectors._fileobj_to_fd


@pytest.mark.parametrize("bad", ["abc", 1.5, None, object(), FileLike("x"), FileLike(None)])
def test_private_add_reader_refuses_invalid_file_object(lenv, bad):
    loop = lenv.loop
    for meth in (loop._add_reader, loop._add_writer):
        assert _error(meth, bad, print) == (ValueError, f"Invalid file object: {bad!r}")
    for meth in (loop._remove_reader, loop._remove_writer):
        assert _error(meth, bad) == (ValueError, f"Invalid file object: {bad!r}")


@pytest.mark.parametrize("bad", [-1, FileLike(-3), FileLike(IntLike(-2))])
def test_private_add_reader_refuses_negative_fd(lenv, bad):
    loop = lenv.loop
    fd = bad if isinstance(bad, int) else int(bad.fileno())
    assert _error(loop._add_reader, bad, print) == (ValueError,
                                                    f"Invalid file descriptor: {fd}")
    assert _error(loop._remove_writer, bad) == (ValueError, f"Invalid file descriptor: {fd}")


def test_fileno_raising_something_else_propagates(lenv):
    class Broken:
        def fileno(self):
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        lenv.loop._add_reader(Broken(), print)
    with pytest.raises(RuntimeError, match="boom"):
        lenv.loop._remove_reader(Broken())


def test_fileno_returning_int_like_is_converted(lenv, pair):
    a, b = pair
    loop = lenv.loop
    got = []
    loop._add_reader(FileLike(IntLike(a.fileno())), got.append, "r")
    b.send(b"x")
    lenv.run_until(lambda: got)
    assert loop._remove_reader(a.fileno()) is True
    assert loop._remove_reader(FileLike(IntLike(a.fileno()))) is False


def test_remove_on_closed_loop_converts_nothing(limpl):
    loop = limpl.new_loop()
    loop.close()
    assert loop._remove_reader(object()) is False
    assert loop._remove_writer("abc") is False


# --------------------------------------------------------------------------------------
# loop._selector


def test_selector_get_key_follows_readers_and_writers(lenv, pair):
    a, b = pair
    loop = lenv.loop
    sel = loop._selector
    fd = a.fileno()
    with pytest.raises(KeyError, match="is not registered"):
        sel.get_key(a)
    rh = loop._add_reader(fd, print)
    key = sel.get_key(a)
    assert isinstance(key, selectors.SelectorKey)
    assert (key.fd, key.events) == (fd, selectors.EVENT_READ)
    assert key.data[1] is None
    if rh is not None:
        assert key.data[0] is rh
    loop._add_writer(fd, print)
    key = sel.get_key(fd)
    assert key.events == selectors.EVENT_READ | selectors.EVENT_WRITE
    assert key.data[0] is not None and key.data[1] is not None
    assert loop._remove_reader(fd) is True
    key = sel.get_key(fd)
    assert key.events == selectors.EVENT_WRITE and key.data[0] is None
    assert loop._remove_writer(fd) is True
    with pytest.raises(KeyError):
        sel.get_key(fd)


def test_selector_key_handle_is_the_callback(lenv, pair):
    a, b = pair
    loop = lenv.loop
    got = []
    loop.add_reader(a, got.append, 1)
    reader, writer = loop._selector.get_key(a).data
    assert writer is None
    reader._run()
    assert got == [1]
    loop.remove_reader(a)


def test_selector_invalid_file_object(lenv):
    with pytest.raises(ValueError, match="Invalid file object"):
        lenv.loop._selector.get_key(object())


def test_selector_map(lenv, pair):
    a, b = pair
    loop = lenv.loop
    sel = loop._selector
    m = sel.get_map()
    assert isinstance(m, collections.abc.Mapping)
    before = set(m)
    n = len(m)
    loop.add_reader(a, print)
    loop.add_writer(b.fileno(), print)
    m = sel.get_map()
    assert set(m) == before | {a.fileno(), b.fileno()}
    assert len(m) == n + 2
    assert a.fileno() in m and a in m
    assert m[a.fileno()].events == selectors.EVENT_READ
    assert m[b].events == selectors.EVENT_WRITE
    assert m.get(12345) is None
    assert {k for k in m.keys()} == set(m)
    assert all(isinstance(v, selectors.SelectorKey) for v in m.values())
    assert dict(m.items())[b.fileno()].fd == b.fileno()
    with pytest.raises(KeyError):
        m[12345]
    loop.remove_reader(a)
    loop.remove_writer(b.fileno())
    assert set(sel.get_map()) == before


def test_selector_sees_transport_reading(lenv, pair):
    """asyncio's reprs use selector_events._test_selector_event(loop._selector, fd, event):
    the fd of a reading socket transport is polled for reading."""
    a, b = pair
    loop = lenv.loop

    async def main():
        tr, _ = await loop.connect_accepted_socket(asyncio.Protocol, a)
        await asyncio.sleep(0)
        return tr

    tr = lenv.run(main())
    try:
        assert selector_events._test_selector_event(loop._selector, a.fileno(),
                                                    selectors.EVENT_READ)
        key = loop._selector.get_key(a.fileno())
        if lenv.impl.is_c:
            # a C transport reads through a C watcher: no Handle to show
            assert key.data == (None, None)
        else:
            assert key.data[0] is not None
        tr.pause_reading()
        assert not selector_events._test_selector_event(loop._selector, a.fileno(),
                                                        selectors.EVENT_READ)
    finally:
        tr.close()
        lenv.spin(2)


def test_selector_close_and_loop_close(limpl):
    loop = limpl.new_loop()
    sel = loop._selector
    assert sel.get_map() is not None
    loop.close()
    assert loop._selector is None
    if limpl.is_c:
        # the view is left over from a closed loop: like a closed selector
        assert sel.get_map() is None
        with pytest.raises(RuntimeError, match="Selector is closed"):
            sel.get_key(0)


def test_selector_view_is_read_only():
    import asyncio_c

    loop = asyncio_c.new_event_loop()
    try:
        sel = loop._selector
        for call in (lambda: sel.select(0), lambda: sel.register(0, 1),
                     lambda: sel.unregister(0), lambda: sel.modify(0, 1)):
            with pytest.raises(RuntimeError):
                call()
        assert sel.close() is None
        assert sel.get_map() is not None     # close() of the view does nothing
        with sel as s:
            assert s is sel
    finally:
        loop.close()


def _open_fds():
    return len(os.listdir("/proc/self/fd"))


def test_loop_opens_one_poller(limpl):
    """A loop opens its poller and its self-pipe (a socketpair): three fds, and no selector
    it would not use."""
    before = _open_fds()
    loop = limpl.new_loop()
    try:
        assert _open_fds() - before == 3
    finally:
        loop.close()
    assert _open_fds() == before


# --------------------------------------------------------------------------------------
# slow callbacks


def test_slow_callback_warning_goes_through_base_events_logger(lenv):
    loop = lenv.loop
    loop.set_debug(True)
    loop.slow_callback_duration = 0.0
    with mock.patch("asyncio.base_events.logger") as log:
        lenv.spin(1)
        loop.call_soon(lambda: None)
        lenv.spin(1)
    calls = [c for c in log.warning.call_args_list
             if c.args and c.args[0] == "Executing %s took %.3f seconds"]
    assert calls


def test_slow_callback_warning_reaches_asyncio_logger(lenv, caplog):
    loop = lenv.loop
    loop.set_debug(True)
    loop.slow_callback_duration = 0.0
    with caplog.at_level(logging.WARNING, logger="asyncio"):
        loop.call_soon(lambda: None)
        lenv.spin(1)
    assert any(r.getMessage().startswith("Executing <Handle") for r in caplog.records)
