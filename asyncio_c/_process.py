"""Child exit watching for asyncio_c.Loop's subprocess transports.

The loop watches each child it starts with a pidfd on its own epoll (C:
src/process.c, _core._watch_child).  Where pidfds cannot be used (a kernel
before 5.3, a seccomp filter), one thread per child blocks in
os.waitpid(pid) and hands the status to the loop with
call_soon_threadsafe, as asyncio's ThreadedChildWatcher does.  Neither ever
waits for "any child" (waitpid(-1)), so other children's exit statuses are
never taken.  Children still alive when the loop is closed are reaped all
the same (the pidfd goes to a C reaper thread; a waitpid thread keeps
waiting), so no zombie is left behind.
"""
import os
import threading
import warnings
from asyncio import events, unix_events
from asyncio.log import logger

from . import _core

# asyncio's own watchers that wait for one pid at a time and work with any
# loop: a policy holding one of these is served by our watching instead.
_PER_PID_WATCHERS = tuple(
    w for w in (getattr(unix_events, "ThreadedChildWatcher", None),
                getattr(unix_events, "PidfdChildWatcher", None))
    if w is not None)


def user_child_watcher():
    """The child watcher set on the event loop policy, if it is one asyncio's
    _make_subprocess_transport must use (a custom or SIGCHLD-based watcher
    the user chose), else None."""
    watcher = getattr(events.get_event_loop_policy(), "_watcher", None)
    if watcher is None or type(watcher) in _PER_PID_WATCHERS:
        return None
    return watcher


def _unknown_child(pid):
    logger.warning("Unknown child process pid %d, will report returncode 255",
                   pid)


class ThreadWatch:
    """The fallback: a daemon thread waiting for one child (callback None:
    only reap it)."""

    def __init__(self, loop, pid, callback):
        self._loop = loop
        self._pid = pid
        self._callback = callback
        self._thread = threading.Thread(
            target=self._wait, name=f"asyncio_c-waitpid-{pid}", daemon=True)
        loop._ac_thread_children[pid] = self
        self._thread.start()

    def _wait(self):
        loop, pid = self._loop, self._pid
        try:
            _, status = os.waitpid(pid, 0)
        except ChildProcessError:
            returncode = 255
            _unknown_child(pid)
        else:
            returncode = os.waitstatus_to_exitcode(status)
        loop._ac_thread_children.pop(pid, None)
        if self._callback is None or loop.is_closed():
            return          # reaped all the same: nobody to tell
        try:
            loop.call_soon_threadsafe(self._callback, returncode)
        except RuntimeError:
            pass            # closed meanwhile


def watch_child(loop, pid, callback):
    """Report the exit of child pid with callback(returncode), scheduled on
    loop (a closed loop: RuntimeError)."""
    if loop.is_closed():
        raise RuntimeError("Event loop is closed")
    if loop._ac_use_pidfd:
        try:
            if _core._watch_child(loop, pid, callback):
                return
        except ProcessLookupError:
            # no such process: someone else reaped it already
            _unknown_child(pid)
            loop.call_soon(callback, 255)
            return
    ThreadWatch(loop, pid, callback)


def children(loop):
    """{pid: "pidfd" | "thread"} of the children loop watches now."""
    found = dict.fromkeys(list(loop._ac_thread_children), "thread")
    if not loop.is_closed():
        found.update(_core._children(loop))
    return found
