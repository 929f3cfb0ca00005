"""pytest plugin: reference-leak hunting on a debug interpreter (scripts/refleak.sh, make refleak).

Activated by ``-p _refleak`` (then ``--refleak=WARMUPS:RUNS``, default 3:3, picks the number of
runs; ``--refleak=0`` turns it off again); inert when not loaded.  It refuses to start on an
interpreter without ``sys.gettotalrefcount`` (a --with-pydebug build, e.g. Debian's
python3.11-dbg).

Each test item runs its whole protocol (setup, call, teardown) WARMUPS+RUNS times in a row:
function-scoped fixtures are made and torn down each run (the protocol runs with a stand-in
"next test of the same parent" as nextitem, so module/class/session fixtures stay up between
runs, as they would for the next test of the same module; one last, unmeasured run with the real
next item tears down what that one does not share and is the run whose reports are logged).  Before the first run and after each run the plugin restores or
clears the caches that legitimately grow (the ones CPython's regrtest -R clears: warning
registries and filters, copyreg, the ABC caches, re/linecache/struct/typing caches, the type
cache; plus asyncio's coroutine-type cache, pytest's own per-item output sections, repeated
warning records (the terminal's and the record list of pytest's catch_warnings), repeated
record_property() entries and the teardown entries a function fixture leaves on a
wider-scoped fixture it uses), collects garbage, and reads ``sys.gettotalrefcount()``,
``sys.getallocatedblocks()`` and the number of
open fds.  The rule is regrtest's: over the RUNS measured runs (warm-ups ignored) a leak is a
refcount or block delta >= 1 in EVERY run (one-off growth is a cache filling, not a leak), or
a net growth of the fd count over the measured runs (regrtest flags any change; here an fd
closed lazily one run later, [1, -1, 0] or a child's pidfd settling, is not flagged; a leak of
one fd per run is).  A leaking test is measured once more from scratch (regrtest's
rerun rule, for tests whose threads or sockets finish late); it fails only if it leaks again,
with the deltas of both attempts in the failure.  One that leaked only once is listed in the
terminal summary (not hidden).  A test's own timeout mark (pytest-timeout), meant for one run,
never lowers the session's --timeout here: the limit covers all of the item's runs.

A test that fails, errors or skips stops repeating; its reports are the ones logged.  Tests that
cannot be measured (they legitimately grow process-wide state each run) are run once, not
repeated: mark them ``@pytest.mark.refleak_skip(reason="...")`` or list them in REFLEAK_SKIP
below with the reason; both are listed in the terminal summary.
"""
import fnmatch
import functools
import gc
import os
import sys
import threading
import time
import warnings

import pytest
from _pytest.runner import runtestprotocol

# nodeid glob -> why the test is run only once under the refleak plugin.  Keep each reason
# precise: this list must never hide a leak of ours.
REFLEAK_SKIP = {
    "tests/test_refleak_plugin.py::*":
        "runs pytest sessions (the plugin's own) in subprocesses: nothing to measure here",
}

_ENABLED_KEY = "_refleak_runs"


def pytest_addoption(parser):
    group = parser.getgroup("refleak", "reference leak hunting (debug interpreter)")
    group.addoption(
        "--refleak", metavar="WARMUPS:RUNS", default="3:3",
        help="run each test WARMUPS+RUNS times and fail it if the refcount, the allocated "
             "blocks or the open fds grow in each of the RUNS measured runs (default 3:3; "
             "0 disables; needs a debug interpreter)")
    group.addoption(
        "--refleak-retries", type=int, default=1, metavar="N",
        help="measure a leaking test up to N more times before failing it (default 1)")


def _parse(spec):
    if spec.strip() in ("0", "off", "no"):
        return None
    try:
        warm, runs = (int(x) for x in spec.split(":"))
    except ValueError:
        raise pytest.UsageError(f"--refleak={spec!r}: expected WARMUPS:RUNS, e.g. 3:3") from None
    if warm < 0 or runs < 1:
        raise pytest.UsageError(f"--refleak={spec!r}: need WARMUPS >= 0 and RUNS >= 1")
    return warm, runs


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "refleak_skip(reason): run this test once under the refleak plugin "
                   "(it legitimately grows process-wide state); the reason is listed")
    spec = _parse(config.getoption("refleak"))
    if spec is None:
        return
    if not hasattr(sys, "gettotalrefcount"):
        raise pytest.UsageError(
            "the refleak plugin (-p _refleak) needs a debug build of CPython "
            f"(sys.gettotalrefcount); {sys.executable} is not one. "
            "Use scripts/refleak.sh (make refleak), or pass --refleak=0.")
    config.stash[_Leaks.key] = _Leaks(config, *spec)
    config.pluginmanager.register(config.stash[_Leaks.key], "refleak-runner")


def _fd_count():
    # listdir's own fd is open during the listing, every time: it cancels out of deltas.
    return len(os.listdir("/proc/self/fd"))


def _drop_stale_finalizers(item):
    """pytest makes a fixture that another fixture uses remember, in its finalizers, to tear
    the user down with it (functools.partial(user_def.finish, request)).  For a module or
    session fixture used by a function fixture, that is one more entry per run: growth that
    is pytest's, not the test's.  Entries for function fixtures that are already torn down
    (cached_result None) are no-ops when they run; drop them."""
    info = getattr(item, "_fixtureinfo", None)
    for defs in getattr(info, "name2fixturedefs", {}).values():
        for fd in defs:
            fins = getattr(fd, "_finalizers", None)
            if not fins:
                continue
            keep = []
            for fin in fins:
                owner = getattr(getattr(fin, "func", None), "__self__", None)
                if (isinstance(fin, functools.partial) and owner is not None
                        and getattr(owner, "scope", None) == "function"
                        and getattr(owner, "cached_result", True) is None):
                    continue
                keep.append(fin)
            if len(keep) != len(fins):
                fins[:] = keep


class _Caches:
    """Snapshot of the process-wide state regrtest restores between runs, and the clearing."""

    def __init__(self):
        import copyreg
        self.filters = warnings.filters[:]
        self.dispatch = copyreg.dispatch_table.copy()
        self.importer_cache = sys.path_importer_cache.copy()
        self.abcs = self._abc_registries()

    @staticmethod
    def _abc_classes():
        import collections.abc
        from inspect import isabstract
        for name in collections.abc.__all__:
            abc = getattr(collections.abc, name)
            if isabstract(abc):
                yield from abc.__subclasses__()
                yield abc

    def _abc_registries(self):
        from _abc import _get_dump
        return {abc: _get_dump(abc)[0] for abc in self._abc_classes()}

    def restore(self):
        import copyreg
        warnings.filters[:] = self.filters
        warnings._filters_mutated()
        copyreg.dispatch_table.clear()
        copyreg.dispatch_table.update(self.dispatch)
        sys.path_importer_cache.clear()
        sys.path_importer_cache.update(self.importer_cache)
        for abc in self._abc_classes():
            for ref in self.abcs.get(abc, ()):
                cls = ref()
                if cls is not None:
                    abc.register(cls)
            abc._abc_caches_clear()
        for mod in list(sys.modules.values()):
            if getattr(mod, "__warningregistry__", None):
                try:
                    del mod.__warningregistry__
                except (AttributeError, TypeError):
                    pass
        for stream in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__):
            if stream is not None:
                try:
                    stream.flush()
                except (OSError, ValueError):
                    pass
        mods = sys.modules
        if "re" in mods:
            mods["re"].purge()
        if "linecache" in mods:
            mods["linecache"].clearcache()
        if "struct" in mods:
            mods["struct"]._clearcache()
        if "_strptime" in mods:
            mods["_strptime"]._regex_cache.clear()
        if "urllib.parse" in mods:
            mods["urllib.parse"].clear_cache()
        if "mimetypes" in mods:
            mods["mimetypes"]._default_mime_types()
        if "ctypes" in mods:
            mods["ctypes"]._reset_cache()
        if "typing" in mods:
            for f in mods["typing"]._cleanups:
                f()
        # asyncio remembers up to 100 types that are (not) coroutines; tests define classes.
        coroutines = mods.get("asyncio.coroutines")
        cache = getattr(coroutines, "_iscoroutine_typecache", None)
        if cache is not None:
            cache.clear()
        sys._clear_type_cache()


def _warm_caches():
    # The small-object caches regrtest fills before measuring.
    s = bytes(range(256))
    for i in range(256):
        s[i:i + 1]
    [chr(i) for i in range(256)]
    list(range(-5, 257))


class _Sibling:
    """Stands for "the next test of the same parent" as the nextitem of a repeated run:
    pytest then tears the item's own fixtures down (function scope) and keeps its
    parents' (class, module, package, session).  Passing the item itself would keep the
    item set up, so its fixtures would not be made again."""

    def __init__(self, item):
        self._item = item

    def listchain(self):
        return self._item.listchain()[:-1]

    def __getattr__(self, name):
        return getattr(self._item, name)


def _teardown_to(item, nextitem):
    """After a run with nextitem=_Sibling(item): tears down what nextitem does not share (what
    pytest's own teardown of item would have done); a report if that fails."""
    from _pytest.runner import CallInfo
    call = CallInfo.from_call(lambda: item.session._setupstate.teardown_exact(nextitem),
                              when="teardown")
    if call.excinfo is None:
        return []
    return [item.ihook.pytest_runtest_makereport(item=item, call=call)]


class _Leaks:
    key = pytest.StashKey()

    def __init__(self, config, warmups, runs):
        self.config = config
        self.warmups = warmups
        self.runs = runs
        self.retries = max(0, config.getoption("refleak_retries"))
        self.caches = None
        self.skipped = []      # (nodeid, reason)
        self.flaky = []        # (nodeid, first attempt's message)
        self.leaked = []       # nodeid
        self.thread_timeouts = 0   # settles that gave up waiting for a run's threads
        # Deltas are stored in preallocated lists of pooled ints, so that the bookkeeping
        # does not allocate between two measurements (regrtest's trick).
        self._int_pool = {i: i for i in range(-1000, 1000)}

    def _pooled(self, value):
        return self._int_pool.setdefault(value, value)

    def _skip_reason(self, item):
        mark = item.get_closest_marker("refleak_skip")
        if mark is not None:
            return mark.kwargs.get("reason") or (mark.args[0] if mark.args else "marked")
        for pattern, reason in REFLEAK_SKIP.items():
            if fnmatch.fnmatchcase(item.nodeid, pattern):
                return reason
        return None

    def _settle(self, threads_before):
        # Threads that a run started (executors, reapers) may finish a little after the test;
        # give them a moment, as regrtest's threading_cleanup does, then clean and collect.
        deadline = time.monotonic() + 1.0
        while threading.active_count() > threads_before:
            if time.monotonic() >= deadline:
                self.thread_timeouts += 1
                break
            time.sleep(0.01)
        self.caches.restore()
        gc.collect()
        gc.collect()
        gc.collect()

    def _measure(self, item, nextitem):
        """Runs the protocol warmups+runs times; returns (reports of the last run, deltas)."""
        n = self.warmups + self.runs
        rc = [0] * n
        blocks = [0] * n
        fds = [0] * n
        getrc = sys.gettotalrefcount
        getblocks = sys.getallocatedblocks
        quickened = getattr(sys, "_getquickenedcount", lambda: 0)
        reporter = self.config.pluginmanager.get_plugin("terminalreporter")
        stats = reporter.stats if reporter is not None else {}
        nwarn = len(stats.get("warnings", ()))
        # pytest's warnings plugin wraps the whole protocol (so all our runs) in one
        # catch_warnings(record=True): each run's warnings are appended to its record list,
        # the WarningMessages holding the warning and its source (for a ResourceWarning the
        # unclosed socket/transport itself), and reported after the last run.  Like the
        # terminal's stats: keep the first run's records, drop the repeats (growth that is
        # pytest's, not the test's).
        wlog = getattr(warnings._showwarnmsg_impl, "__self__", None)
        if not isinstance(wlog, list):
            wlog = None
        nlog = len(wlog) if wlog is not None else 0
        threads_before = threading.active_count()
        # Everything alive now (modules, module/session fixtures, earlier tests' leftovers)
        # goes to the permanent generation: the collections between runs then scan only what
        # the runs made (a debug interpreter takes ~0.1 s per full collection of a pytest
        # process otherwise).  Frozen objects are still freed by refcounting; the deltas
        # are unaffected.
        gc.collect()
        gc.freeze()
        reports = None
        sibling = _Sibling(item)
        self._settle(threads_before)
        rc_before, blocks_before, fd_before = getrc(), getblocks() - quickened(), _fd_count()
        for i in range(n):
            # pytest's capture appends each run's output to the item: one run's worth only.
            item._report_sections = []
            reports = None   # the previous run's reports must not outlive its measurement
            reports = runtestprotocol(item, nextitem=sibling, log=False)
            # Warnings are logged per run into the terminal reporter's stats: keep the first
            # run's, drop the repeats (they would count as growth).
            if "warnings" in stats and i > 0:
                del stats["warnings"][nwarn:]
            elif "warnings" in stats:
                nwarn = len(stats["warnings"])
            if wlog is not None and i > 0:
                del wlog[nlog:]
            elif wlog is not None:
                nlog = len(wlog)
            # record_property() appends to the item's user_properties each run: keep the
            # first run's (what the junit report would show), drop the repeats.
            if i > 0:
                del item.user_properties[nprops:]
            else:
                nprops = len(item.user_properties)
            if any(not r.passed for r in reports):
                return reports, None
            _drop_stale_finalizers(item)
            self._settle(threads_before)
            rc_after, blocks_after, fd_after = getrc(), getblocks() - quickened(), _fd_count()
            rc[i] = self._pooled(rc_after - rc_before)
            blocks[i] = self._pooled(blocks_after - blocks_before)
            fds[i] = self._pooled(fd_after - fd_before)
            rc_before, blocks_before, fd_before = rc_after, blocks_after, fd_after
        w = self.warmups
        return reports, (rc[w:], blocks[w:], fds[w:])

    @staticmethod
    def _verdict(deltas):
        rc, blocks, fds = deltas
        found = []
        if all(d >= 1 for d in rc):
            found.append(f"references {rc}, sum={sum(rc)}")
        if all(d >= 1 for d in blocks):
            found.append(f"memory blocks {blocks}, sum={sum(blocks)}")
        if sum(fds) >= 1:
            found.append(f"file descriptors {fds}, sum={sum(fds)}")
        return found

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_protocol(self, item, nextitem):
        if self.caches is None:
            _warm_caches()
            self.caches = _Caches()
        reason = self._skip_reason(item)
        if reason is not None:
            self.skipped.append((item.nodeid, reason))
            return None   # pytest's own protocol: one run
        ihook = item.ihook
        ihook.pytest_runtest_logstart(nodeid=item.nodeid, location=item.location)
        attempts = []
        reports = None
        for _attempt in range(1 + self.retries):
            reports, deltas = self._measure(item, nextitem)
            if deltas is None:
                attempts = []          # a failure/skip: report it as it is
                break
            found = self._verdict(deltas)
            if not found:
                if attempts:
                    self.flaky.append((item.nodeid, "; ".join(attempts[0])))
                attempts = []
                break
            attempts.append(found)
        if reports is None or all(r.passed for r in reports):
            # One more run, not measured, with the real next item: it tears down what the
            # next item does not share (module fixtures at a module's end), as pytest's own
            # protocol would; its reports are the ones logged.
            item._report_sections = []
            reports = runtestprotocol(item, nextitem=nextitem, log=False)
        else:
            # The failing run tore down to this item only: finish like pytest would.
            reports += _teardown_to(item, nextitem)
        if attempts:
            self.leaked.append(item.nodeid)
            text = [f"REFERENCE LEAK ({self.warmups} warm-up + {self.runs} measured runs, "
                    f"{len(attempts)} attempts; a leak = growth in every measured run):"]
            for k, found in enumerate(attempts, 1):
                text += [f"  attempt {k}: {f}" for f in found]
            for rep in reports:
                if rep.when == "call" and rep.passed:
                    rep.outcome = "failed"
                    rep.longrepr = "\n".join(text)
        for rep in reports:
            ihook.pytest_runtest_logreport(report=rep)
        ihook.pytest_runtest_logfinish(nodeid=item.nodeid, location=item.location)
        return True

    def pytest_collection_modifyitems(self, items):
        # pytest-timeout's limit covers the whole protocol, so all our runs (up to
        # (WARMUPS+RUNS) * (1+retries) + 1 of them), while a test's own timeout mark was
        # chosen for one run (the 10k-connection stress tests: ~12 s a run on a debug
        # interpreter, marked 120 s).  Under the plugin a mark never lowers the session's
        # --timeout (scripts/refleak.sh: ASYNCIO_C_TEST_CASE_TIMEOUT, default 300 s).
        try:
            session_timeout = float(self.config.getoption("timeout") or 0)
        except (ValueError, TypeError):
            return
        for item in items:
            mark = item.get_closest_marker("timeout")
            if mark is None:
                continue
            own = mark.kwargs.get("timeout", mark.args[0] if mark.args else None)
            try:
                if own is None or float(own) <= 0 or float(own) >= session_timeout:
                    continue
            except (ValueError, TypeError):
                continue
            kwargs = dict(mark.kwargs, timeout=session_timeout)
            kwargs.setdefault("method", mark.args[1] if len(mark.args) > 1 else None)
            if kwargs["method"] is None:
                del kwargs["method"]
            item.add_marker(pytest.mark.timeout(**kwargs), append=False)

    def pytest_sessionfinish(self):
        gc.unfreeze()

    def pytest_terminal_summary(self, terminalreporter):
        tr = terminalreporter
        tr.section("refleak")
        tr.write_line(f"each test: {self.warmups} warm-up + {self.runs} measured runs "
                      f"(retries: {self.retries})")
        if self.thread_timeouts:
            tr.write_line(f"{self.thread_timeouts} times a run's threads were still alive 1 s "
                          "after it (measured anyway)")
        for nodeid, reason in self.skipped:
            tr.write_line(f"run once, not measured: {nodeid}: {reason}")
        for nodeid, msg in self.flaky:
            tr.write_line(f"LEAKED ONCE, CLEAN ON RETRY: {nodeid}: {msg}")
        for nodeid in self.leaked:
            tr.write_line(f"LEAK: {nodeid}")
        if not self.leaked:
            tr.write_line("no leaks found")
