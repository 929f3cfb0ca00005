"""Shared helpers for the event loop tests: every case runs on asyncio's loop and on asyncio_c's.

Import explicitly from the test modules (``from _loop_helpers import ...``); the fixtures
defined here become visible to a module by being imported into it.

asyncio is the oracle: each case runs once on asyncio's own selector loop and once on
asyncio_c's loop with the same expectations, so a wrong expectation fails on asyncio too.
Where asyncio_c deliberately differs, the test says so in a comment and asserts each
behaviour explicitly (``limpl.is_c``).
"""
import asyncio
import contextlib
import ctypes
import gc
import os
import re
import subprocess
import sys
import textwrap
import time

import pytest

import asyncio_c

PY = sys.version_info[:2]
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class LoopImpl:
    """One event loop implementation, and the Task/Future types its loop creates."""

    def __init__(self, name, new_loop, task, future, loop_type):
        self.name = name
        self.new_loop = new_loop
        self.Task = task
        self.Future = future
        self.loop_type = loop_type
        self.is_c = name == "asyncio_c"

    def __repr__(self):
        return f"<LoopImpl {self.name}>"


# asyncio.SelectorEventLoop, not asyncio.new_event_loop(): the latter follows the policy,
# which a test of install() may change.
ASYNCIO = LoopImpl("asyncio", asyncio.SelectorEventLoop, asyncio.Task, asyncio.Future,
                   asyncio.SelectorEventLoop)
ASYNCIO_C = LoopImpl("asyncio_c", asyncio_c.new_event_loop, asyncio_c.Task, asyncio_c.Future,
                     asyncio_c.Loop)
LOOP_IMPLS = [ASYNCIO, ASYNCIO_C]


@pytest.fixture(params=LOOP_IMPLS, ids=lambda i: i.name)
def limpl(request):
    return request.param


class LoopEnv:
    """A fresh loop of one implementation, with an exception handler that records.

    Any call of the loop's exception handler that the test did not collect with
    take_errors() fails the test at teardown (as in uvloop's test base).
    """

    def __init__(self, impl):
        self.impl = impl
        self.loop = impl.new_loop()
        self.errors = []
        self.loop.set_exception_handler(self._handler)

    def _handler(self, loop, context):
        assert loop is self.loop
        self.errors.append(context)

    def take_errors(self):
        errors, self.errors = self.errors, []
        return errors

    def run(self, aw):
        return self.loop.run_until_complete(aw)

    def spin(self, n=1):
        """Run exactly n iterations of the loop (what was ready when each began)."""
        spin_loop(self.loop, n)

    def run_until(self, predicate, timeout=5.0):
        run_until(self.loop, predicate, timeout)

    def close(self):
        loop = self.loop
        if loop.is_closed():
            return
        if loop.is_running():  # a test failed half-way; nothing sane left to do
            return
        pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
        for t in pending:
            t.cancel()
        if pending:
            with contextlib.suppress(BaseException):
                loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        coro = loop.shutdown_asyncgens()
        try:
            loop.run_until_complete(coro)
        except BaseException:
            coro.close()
        loop.close()


@pytest.fixture
def lenv(limpl):
    e = LoopEnv(limpl)
    try:
        yield e
    finally:
        e.close()
        asyncio.set_event_loop(None)
    assert asyncio._get_running_loop() is None
    assert e.errors == [], f"unexpected calls of the exception handler: {e.errors!r}"


def spin_loop(loop, n=1):
    for _ in range(n):
        loop.call_soon(loop.stop)
        loop.run_forever()


def run_until(loop, predicate, timeout=5.0):
    """Run the loop until predicate() is true; TimeoutError after timeout seconds."""
    deadline = time.monotonic() + timeout

    async def waiter():
        while not predicate():
            if time.monotonic() > deadline:
                raise TimeoutError(f"condition not met within {timeout} s")
            await asyncio.sleep(0.002)

    loop.run_until_complete(waiter())


def collect():
    """Run the cyclic GC until nothing more is found (finalizers may free more)."""
    for _ in range(4):
        if not gc.collect():
            break


_ADDR = re.compile(r" at 0x[0-9a-fA-F]+")


def norm(text):
    """Normalise a repr for comparison: object addresses."""
    return _ADDR.sub(" at 0x?", text)


_libc = ctypes.CDLL(None)


def rss_bytes():
    """Resident set size of this process, after giving free malloc memory back to the OS.

    malloc_trim(0) only releases memory that is already free, so what remains is what
    somebody still holds: the measure a leak shows in.
    """
    collect()
    _libc.malloc_trim(0)
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


@contextlib.contextmanager
def gc_paused():
    """Keep the cyclic GC out of a bulk allocation (its full passes make it quadratic)."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


# Where the asyncio_c under test was imported from: the checkout, or (scripts/debug.sh) an
# out-of-tree ASan/valgrind build.  Children get it first on PYTHONPATH; run them with -P (no cwd
# first on sys.path) when they must import that very build and not the checkout's in-place one.
PKG_DIR = os.path.dirname(os.path.dirname(os.path.abspath(asyncio_c.__file__)))


def child_env(**extra):
    env = dict(os.environ)
    for k in ("PYTHONASYNCIODEBUG", "PYTHONDEVMODE", "PYTHONWARNINGS"):
        env.pop(k, None)
    path = [PKG_DIR, REPO] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(path))
    env.update(extra)
    return env


def pid_gone(pid):
    """True once pid has exited: no such process, or a zombie its (exited) parent left."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


def run_python(code, *, args=(), env=None, timeout=60, cwd=REPO):
    """Run code in a fresh interpreter (this one); returns the CompletedProcess."""
    return subprocess.run(
        [sys.executable, *args, "-c", textwrap.dedent(code)],
        capture_output=True, text=True, timeout=timeout, cwd=cwd,
        env=child_env(**(env or {})))


def callback_source(cb, args, debug):
    """asyncio's own text for a callback (the oracle for reprs and messages)."""
    from asyncio import format_helpers
    try:
        return format_helpers._format_callback_source(cb, args, debug=debug)
    except TypeError:  # before the debug= keyword (3.13)
        return format_helpers._format_callback_source(cb, args)


# RSS means nothing under AddressSanitizer's or valgrind's allocator (scripts/debug.sh sets this).
skip_under_memcheck = pytest.mark.skipif(
    bool(os.environ.get("ASYNCIO_C_MEMCHECK")),
    reason="measures RSS: meaningless under a memory checker's allocator")
