"""asyncio_c's own child watching (issue #6): the loop's _make_subprocess_transport watches
each child with a pidfd on the loop's poller, or with a thread blocked in waitpid(pid) when
pidfd_open is unavailable (forced with ``loop._ac_use_pidfd = False``), and a background thread
reaps the children still alive when the loop is closed.

The interface under test:
  * ``loop._ac_use_pidfd`` (class default True; False on an instance: the thread fallback);
  * ``loop._ac_children``: pid -> "pidfd" | "thread" for the children watched now; the entry
    goes away when the child's exit is reported;
  * a child watcher set with asyncio.set_child_watcher() that is not one of asyncio's per-pid
    watchers is honoured (asyncio's own path with it).

Tests of the mechanism run on asyncio_c's loop only, in both modes (fixture ``cenv``), and
skip while the loop has no ``_ac_children``.  Where asyncio has the same case (a custom
watcher, a child reaped by someone else, warnings at loop close) it runs as the oracle.
"""
import asyncio
import logging
import os
import re
import signal
import sys
import threading
import warnings

import pytest

from _loop_helpers import ASYNCIO, ASYNCIO_C, LoopEnv, collect, lenv, limpl  # noqa: F401
from test_subprocess import (DEVNULL, PIPE, PYV, SPRec, check_events, fd_count,
                             proc_stat, py, reap_quietly, run, wait_exited_unreaped,
                             wait_reaped, zombie_children)

import asyncio_c

MODES = ["pidfd", "thread"]


def _has_watcher(loop):
    return hasattr(loop, "_ac_children")


def _pidfd_usable():
    """Whether pidfd_open works here: not under valgrind (which does not know the syscall),
    a kernel before 5.3 or a seccomp filter; asyncio_c then watches with threads."""
    try:
        os.close(os.pidfd_open(os.getpid()))
    except (AttributeError, OSError):
        return False
    return True


PIDFD = _pidfd_usable()
needs_pidfd = pytest.mark.skipif(not PIDFD, reason="pidfd_open does not work here")


@pytest.fixture(params=MODES)
def cenv(request):
    """A fresh asyncio_c loop whose children are watched in the mode of the parameter."""
    e = LoopEnv(ASYNCIO_C)
    e.mode = request.param
    try:
        if not _has_watcher(e.loop):
            pytest.skip("asyncio_c's child watcher (loop._ac_children) is not there yet")
        if e.mode == "thread":
            e.loop._ac_use_pidfd = False
        elif not PIDFD:
            pytest.skip("pidfd_open does not work here: asyncio_c watches with threads")
        yield e
    finally:
        e.close()
        asyncio.set_event_loop(None)
    assert e.errors == [], f"unexpected calls of the exception handler: {e.errors!r}"


@pytest.fixture
def hooks():
    """Exceptions nobody could catch: unraisable ones and those of (Python) threads."""
    seen = []
    old_unraisable, old_thread = sys.unraisablehook, threading.excepthook
    sys.unraisablehook = lambda u: seen.append(("unraisable", u.exc_type, str(u.exc_value)))
    threading.excepthook = lambda a: seen.append(("thread", a.exc_type, str(a.exc_value)))
    try:
        yield seen
    finally:
        sys.unraisablehook, threading.excepthook = old_unraisable, old_thread


def test_class_default():
    loop = ASYNCIO_C.new_loop()
    try:
        if not _has_watcher(loop):
            pytest.skip("asyncio_c's child watcher (loop._ac_children) is not there yet")
        assert asyncio_c.Loop._ac_use_pidfd is True
        assert loop._ac_use_pidfd is True
        assert loop._ac_children == {}
        loop._ac_use_pidfd = False
        assert asyncio_c.Loop._ac_use_pidfd is True     # per instance
    finally:
        loop.close()


# --------------------------------------------------------------------------------------
# the children table


def test_children_entry_while_running(cenv):
    loop = cenv.loop
    seen_at_exit = []

    class Rec(SPRec):
        def process_exited(self):
            seen_at_exit.append(dict(loop._ac_children))
            super().process_exited()

    proto = Rec(loop)
    tr, _ = run(cenv, loop.subprocess_exec(
        lambda: proto, *py("import sys; sys.stdin.read(); raise SystemExit(4)")))
    pid = tr.get_pid()
    assert loop._ac_children == {pid: cenv.mode}
    cenv.spin(5)
    assert loop._ac_children == {pid: cenv.mode}
    assert tr.get_returncode() is None
    tr.get_pipe_transport(0).close()
    run(cenv, proto.lost)
    # the exit was reported (process_exited is called after the report): the entry is gone
    assert seen_at_exit == [{}]
    assert loop._ac_children == {}
    assert tr.get_returncode() == 4
    check_events(proto.events, (0, 1, 2))
    tr.close()
    assert zombie_children([pid]) == []


def test_children_entry_with_create_subprocess(cenv):
    loop = cenv.loop

    async def main():
        procs = [await asyncio.create_subprocess_exec("sleep", "60", stdin=DEVNULL)
                 for _ in range(3)]
        assert loop._ac_children == {p.pid: cenv.mode for p in procs}
        procs[1].kill()
        assert await procs[1].wait() == -signal.SIGKILL
        assert loop._ac_children == {p.pid: cenv.mode for p in (procs[0], procs[2])}
        for p in (procs[0], procs[2]):
            p.terminate()
        return [await p.wait() for p in procs]

    assert run(cenv, main()) == [-signal.SIGTERM, -signal.SIGKILL, -signal.SIGTERM]
    assert loop._ac_children == {}


# --------------------------------------------------------------------------------------
# the scenarios, in both modes


def test_early_exit(cenv):
    loop = cenv.loop
    procs = [run(cenv, asyncio.create_subprocess_exec(*argv, stdin=DEVNULL, stdout=DEVNULL))
             for argv in (["true"], ["sh", "-c", "exit 3"])]
    for p in procs:
        wait_exited_unreaped(p.pid)
    assert [run(cenv, p.wait()) for p in procs] == [0, 3]
    assert loop._ac_children == {}
    assert zombie_children([p.pid for p in procs]) == []


def test_exit_codes_and_signals(cenv):
    async def main():
        res = []
        for code in (0, 1, 3, 255):
            p = await asyncio.create_subprocess_exec("sh", "-c", f"exit {code}")
            res.append(await p.wait())
        for how in ("kill", "terminate"):
            p = await asyncio.create_subprocess_exec("sleep", "60")
            getattr(p, how)()
            res.append(await p.wait())
        p = await asyncio.create_subprocess_exec("sleep", "60")
        p.send_signal(signal.SIGINT)
        res.append(await p.wait())
        p = await asyncio.create_subprocess_exec(*py("""
            import os, signal
            signal.signal(signal.SIGUSR1, lambda *a: os._exit(5))
            os.write(1, b"ready\\n")
            while True:
                signal.pause()
        """), stdout=PIPE)
        assert await p.stdout.readline() == b"ready\n"
        p.send_signal(signal.SIGUSR1)
        res.append(await p.wait())
        return res

    assert run(cenv, main()) == [0, 1, 3, 255, -signal.SIGKILL, -signal.SIGTERM,
                                 -signal.SIGINT, 5]
    assert cenv.loop._ac_children == {}


def test_50_concurrent_children(cenv):
    loop = cenv.loop
    n = 50
    before = fd_count()

    async def main():
        procs = await asyncio.gather(*(
            asyncio.create_subprocess_exec("sh", "-c", f"read x; echo $x; exit {i % 5}",
                                           stdin=PIPE, stdout=PIPE)
            for i in range(n)))
        # all blocked on their stdin: all watched
        assert loop._ac_children == {p.pid: cenv.mode for p in procs}
        res = await asyncio.gather(*(p.communicate(b"%d\n" % i) for i, p in enumerate(procs)))
        return [p.pid for p in procs], [(p.returncode, out) for p, (out, _) in zip(procs, res)]

    pids, res = run(cenv, main(), timeout=120)
    assert res == [(i % 5, b"%d\n" % i) for i in range(n)]
    assert loop._ac_children == {}
    cenv.spin(3)
    collect()
    assert fd_count() == before
    assert zombie_children(pids) == []


def test_loop_closed_with_live_children_reaped(cenv, hooks):
    loop = cenv.loop
    r, w = os.pipe()
    procs = []
    try:
        procs += [
            # blocked on the read end of our pipe
            run(cenv, asyncio.create_subprocess_exec("sh", "-c", "read x", stdin=r)),
            run(cenv, asyncio.create_subprocess_exec(
                *py("import sys; sys.stdin.buffer.read()"), stdin=r, stdout=DEVNULL)),
            run(cenv, asyncio.create_subprocess_exec("sleep", "60", stdin=DEVNULL)),
        ]
        os.close(r)
        r = -1
        pids = [p.pid for p in procs]
        assert loop._ac_children == {pid: cenv.mode for pid in pids}
        cenv.close()                # no exception: all three still running
        assert loop.is_closed()
        assert all(proc_stat(pid)[0] != "Z" for pid in pids)
        os.close(w)                 # EOF: the first two exit now
        w = -1
        os.kill(pids[2], signal.SIGKILL)    # and the third is killed by someone else
        # proc (and its transport) are kept alive: their finalizers would reap the children
        assert wait_reaped(pids, timeout=10.0) == {}
    finally:
        for fd in (r, w):
            if fd >= 0:
                os.close(fd)
        for p in procs:
            reap_quietly(p.pid)
    for p in procs:
        p._transport.close()
    assert hooks == []


# --------------------------------------------------------------------------------------
# a child reaped by someone else first


def spawn_blocked(env):
    """A child that exits with 3 as soon as the loop has returned from spawning it (it
    reads a pipe whose write end is closed then): so it cannot exit while the loop runs."""
    r, w = os.pipe()
    try:
        proc = run(env, asyncio.create_subprocess_exec("sh", "-c", "read x; exit 3", stdin=r))
    finally:
        os.close(r)
        os.close(w)
    return proc


def test_reaped_by_someone_else_pidfd(limpl, caplog):
    """The child's status was read (Popen.wait()) before the loop saw the exit: waitpid()
    fails with ECHILD and the exit is reported with returncode 255 and a warning, as
    asyncio's PidfdChildWatcher does (its default from 3.12)."""
    env = LoopEnv(limpl)
    try:
        if limpl.is_c:
            if _has_watcher(env.loop):
                assert env.loop._ac_use_pidfd is True
            elif PYV < (3, 12):
                pytest.skip("asyncio_c's child watcher (loop._ac_children) is not there yet")
        elif PYV < (3, 12):
            pytest.skip("3.11's default watcher is a waitpid() thread: it races the caller")
        if not PIDFD:
            pytest.skip("pidfd_open does not work here: both loops watch with threads")
        with caplog.at_level(logging.WARNING, logger="asyncio"):
            proc = spawn_blocked(env)
            popen = proc._transport.get_extra_info("subprocess")
            # the loop is not running: it cannot see the exit before this reads it
            assert popen.wait(timeout=30) == 3
            assert run(env, proc.wait()) == 255
        assert proc.returncode == 255
        assert popen.returncode == 3
        recs = [r for r in caplog.records
                if r.name == "asyncio" and str(proc.pid) in r.getMessage()]
        assert len(recs) == 1
        assert recs[0].levelno == logging.WARNING
        assert "returncode 255" in recs[0].getMessage()
        if _has_watcher(env.loop):
            assert env.loop._ac_children == {}
    finally:
        env.close()
    assert env.errors == []


def test_reaped_by_someone_else_thread(caplog):
    """In the thread mode a thread is already blocked in waitpid(pid): whichever of it and
    Popen.wait() reads the status first wins (asyncio's ThreadedChildWatcher races the same
    way).  Either the loop reports the real status, or 255 with a warning."""
    env = LoopEnv(ASYNCIO_C)
    try:
        if not _has_watcher(env.loop):
            pytest.skip("asyncio_c's child watcher (loop._ac_children) is not there yet")
        env.loop._ac_use_pidfd = False
        with caplog.at_level(logging.WARNING, logger="asyncio"):
            proc = spawn_blocked(env)
            popen = proc._transport.get_extra_info("subprocess")
            # Popen.wait() gets ECHILD if the thread was first, and then says 0
            assert popen.wait(timeout=30) in (3, 0)
            rc = run(env, proc.wait())
        recs = [r for r in caplog.records
                if r.name == "asyncio" and str(proc.pid) in r.getMessage()]
        if popen.returncode == 3:
            # the caller was first: the thread got ECHILD
            assert rc == 255
            assert len(recs) == 1 and recs[0].levelno == logging.WARNING
            assert "returncode 255" in recs[0].getMessage()
        else:
            assert rc == 3
            assert recs == []
        assert env.loop._ac_children == {}
    finally:
        env.close()
    assert env.errors == []


# --------------------------------------------------------------------------------------
# a child watcher set on the policy


with warnings.catch_warnings():
    # 3.12 deprecates subclassing AbstractChildWatcher (and the watchers themselves)
    warnings.simplefilter("ignore", DeprecationWarning)

    class RecordingWatcher(asyncio.AbstractChildWatcher):
        """A custom watcher (delegating to a ThreadedChildWatcher) that records its calls."""

        def __init__(self, active=True):
            self.inner = asyncio.ThreadedChildWatcher()
            self.active = active
            self.added = []
            self.entered = 0

        def add_child_handler(self, pid, callback, *args):
            self.added.append(pid)
            self.inner.add_child_handler(pid, callback, *args)

        def remove_child_handler(self, pid):
            return self.inner.remove_child_handler(pid)

        def attach_loop(self, loop):
            self.inner.attach_loop(loop)

        def close(self):
            pass

        def is_active(self):
            return self.active

        def __enter__(self):
            self.entered += 1
            return self

        def __exit__(self, *exc):
            pass


@pytest.fixture
def custom_watcher():
    """Installs a RecordingWatcher on the policy; the previous watcher back at teardown."""
    policy = asyncio.get_event_loop_policy()
    if not hasattr(policy, "set_child_watcher"):
        pytest.skip("no child watchers in this version")
    old = policy._watcher
    made = []

    def install(active=True):
        w = RecordingWatcher(active)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            policy._watcher = None      # set_child_watcher() would close the old one
            asyncio.set_child_watcher(w)
        made.append(w)
        return w

    try:
        yield install
    finally:
        policy._watcher = old


def test_custom_child_watcher_is_used(lenv, limpl, custom_watcher):
    loop = lenv.loop
    watcher = custom_watcher()

    async def main():
        proc = await asyncio.create_subprocess_exec(
            "sh", "-c", "read x; echo $x; exit 6", stdin=PIPE, stdout=PIPE)
        assert watcher.added == [proc.pid]
        if _has_watcher(loop):
            assert loop._ac_children == {}      # asyncio's path, with the custom watcher
        out, _ = await proc.communicate(b"hi\n")
        proto = SPRec(loop)
        tr, _ = await loop.subprocess_shell(lambda: proto, "exit 2")
        await proto.lost
        tr.close()
        return proc.returncode, out, [proc.pid, tr.get_pid()]

    rc, out, pids = run(lenv, main())
    assert (rc, out) == (6, b"hi\n")
    assert watcher.added == pids
    assert watcher.entered == 2
    assert zombie_children(pids) == []


def test_custom_child_watcher_not_active(lenv, custom_watcher):
    custom_watcher(active=False)
    before = fd_count()
    with pytest.raises(RuntimeError) as info:
        run(lenv, asyncio.create_subprocess_exec("true"))
    assert str(info.value) == ("asyncio.get_child_watcher() is not activated, "
                               "subprocess support is not installed.")
    collect()
    assert fd_count() == before


# --------------------------------------------------------------------------------------
# closing the loop with live children: what is reported


_NUM = re.compile(r"\d+")


def _norm(text):
    """A warning's or an error's text without what differs between runs and implementations:
    numbers (pids, fds) and reprs (transport classes)."""
    return _NUM.sub("N", re.sub(r"<.*", "<...>", text, flags=re.S))


def _close_with_live_children(impl, mode):
    """Spawn children with and without pipes, close the loop while they run, let them exit,
    drop everything; what was warned and what was raised where nobody could catch it."""
    env = LoopEnv(impl)
    if mode == "thread":
        env.loop._ac_use_pidfd = False
    seen = []
    old_unraisable, old_thread = sys.unraisablehook, threading.excepthook
    sys.unraisablehook = lambda u: seen.append(
        ("unraisable", u.exc_type.__name__, _norm(str(u.exc_value))))
    threading.excepthook = lambda a: seen.append(
        ("thread", a.exc_type.__name__, _norm(str(a.exc_value))))
    try:
        with warnings.catch_warnings(record=True) as ws:
            warnings.simplefilter("always")
            r, w = os.pipe()
            try:
                # blocked on the read end of our pipe until the loop is closed
                procs = [
                    run(env, asyncio.create_subprocess_exec("sh", "-c", "read x", stdin=r,
                                                            stdout=DEVNULL)),
                    run(env, asyncio.create_subprocess_exec("sh", "-c", "read x", stdin=r,
                                                            stdout=PIPE, stderr=PIPE)),
                ]
            finally:
                os.close(r)
            pids = [p.pid for p in procs]
            env.close()
            os.close(w)
            for pid in pids:
                wait_exited_unreaped(pid)
            if impl.is_c:
                assert wait_reaped(pids, timeout=10.0) == {}
            elif PYV < (3, 12) or not PIDFD:
                # asyncio's thread watcher (3.11's default, or where pidfds do not work)
                # holds the transports until its threads have reaped and returned; the
                # pidfd watcher of 3.12+ never reaps after the loop is closed
                wait_reaped(pids, timeout=5.0)
                for t in threading.enumerate():
                    if t.name.startswith("waitpid-"):
                        t.join(10.0)
            del procs
            collect()
            for pid in pids:
                reap_quietly(pid)
            errors = env.take_errors()
    finally:
        sys.unraisablehook, threading.excepthook = old_unraisable, old_thread
    warned = [(w.category.__name__, _norm(str(w.message))) for w in ws
              if not issubclass(w.category, DeprecationWarning)]
    return warned, seen, errors


def test_loop_closed_with_live_children_reports_no_more_than_asyncio(cenv):
    mode = cenv.mode
    cenv.close()
    a_warned, a_seen, a_errors = _close_with_live_children(ASYNCIO, None)
    c_warned, c_seen, c_errors = _close_with_live_children(ASYNCIO_C, mode)
    assert c_errors == a_errors == []
    # ours: nothing that asyncio's loop does not give in the same case
    assert set(c_warned) <= set(a_warned), (c_warned, a_warned)
    assert set(c_seen) <= set(a_seen), (c_seen, a_seen)


# --------------------------------------------------------------------------------------
# _core._watch_child given bad input (internal, but never a crash)


def test_watch_child_bad_input():
    from asyncio_c import _core
    loop = asyncio_c.new_event_loop()
    try:
        foreign = asyncio.SelectorEventLoop()
        try:
            with pytest.raises(TypeError):
                _core._watch_child(foreign, os.getpid(), print)
        finally:
            foreign.close()
        with pytest.raises(TypeError):
            _core._watch_child(loop, 1)
        with pytest.raises(TypeError):
            _core._watch_child(loop, "1", print)
        with pytest.raises(ValueError):
            _core._watch_child(loop, 0, print)
        with pytest.raises(ValueError):
            _core._watch_child(loop, -5, print)
        with pytest.raises((ValueError, OverflowError)):
            _core._watch_child(loop, 2 ** 40, print)
        with pytest.raises(TypeError):
            _core._watch_child(loop, os.getpid(), None)
        with pytest.raises(TypeError):
            _core._children(object())
        if not PIDFD:
            # pidfd_open does not work here: None, the caller watches with a thread
            assert _core._watch_child(loop, os.getpid(), print) is None
            return
        # a pid that cannot be there (pids stay below pid_max)
        with open("/proc/sys/kernel/pid_max") as f:
            pid_max = int(f.read())
        with pytest.raises(ProcessLookupError):
            _core._watch_child(loop, pid_max + 1, print)
        # a process that is not our child: watched, nothing reaped, dropped at close
        assert _core._watch_child(loop, 1, print) is True
        assert _core._children(loop) == {1: "pidfd"}
    finally:
        loop.close()
    with pytest.raises(RuntimeError):
        _core._watch_child(loop, os.getpid(), print)
