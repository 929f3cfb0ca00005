"""Checks of the loop layer's harness (_loop_mirror.py): what runs as "ours" runs on our loop.

A generated class whose tests silently got asyncio's own loop would pass and prove nothing;
these tests fail if the per-test loop check could miss that, if a loop-building method of
CPython's classes were not overridden, if a CPython class were neither mirrored nor excluded,
if CPython's own classes would be collected, or if an exclusion has gone stale.
"""
import asyncio
import importlib
import unittest
from asyncio import base_events

import pytest

from . import _loop_mirror as lm
from .exclusions import LOOP_EXCLUSIONS, Exclude

REASON_KINDS = ("not about asyncio_c", "not mirrored:", "asyncio_c bug:", "gap:",
                "fails on asyncio's own implementation too", "waits for:", "slow",
                "not about the loop:", "GAP #5:", "GAP #6:")


def _load(short):
    cpython = lm.load(short)
    ours = importlib.import_module(f"{__package__}.test_cpython_loop_{short[len('test_'):]}")
    return cpython, ours


def _generated(short, impl="ours"):
    return [cls for key, origin, cls in lm.GENERATED
            if key == impl and origin.startswith(short + ".")]


@pytest.mark.parametrize("short", lm.MODULES)
def test_only_generated_classes_are_collected(short):
    cpython, ours = _load(short)
    cases = {name: obj for name, obj in vars(ours).items()
             if isinstance(obj, type) and issubclass(obj, unittest.TestCase)}
    assert cases, "nothing was mirrored"
    for name, cls in cases.items():
        assert name.startswith(("Ours_", "Ref_")), f"{name} would be collected"
        assert cls.__module__ == ours.__name__
        assert issubclass(cls, lm.LoopLayer) and cls.__mro__[1] is lm.LoopLayer
        assert getattr(cpython, name, None) is not cls


@pytest.mark.parametrize("short", lm.MODULES)
def test_every_class_is_mirrored_or_excluded(short):
    cpython, _ = _load(short)
    classes = {c.__name__ for c in lm.test_classes(cpython)}
    assert classes, "CPython's test classes not found"
    mirrored = {cls.conformance_origin.split(".")[1] for cls in _generated(short)}
    excluded = {k.split(".")[1] for k in LOOP_EXCLUSIONS
                if k.count(".") == 1 and k.startswith(short + ".")}
    assert classes - excluded <= mirrored, f"not mirrored: {sorted(classes - excluded - mirrored)}"
    assert not (mirrored & excluded), f"excluded yet mirrored: {sorted(mirrored & excluded)}"
    assert mirrored, "nothing of the module runs on our loop"


def _hooked(short):
    return [cls for cls in _generated(short) if lm.LOOP_HOOKS[short] in vars(cls)]


def test_loop_hooks_are_overridden():
    # Where CPython's classes build their loop themselves, every generated class overrides the
    # method (a renamed method would leave CPython's own loop in place).
    expect = {"test_events": {"EPollEventLoopTests"},
              "test_runners": {"RunTests", "RunnerTests"},
              "test_pep492": {"LockTests", "StreamReaderTests", "CoroutineTests"},
              "test_sock_lowlevel": {"EPollEventLoopTests"},
              "test_sendfile": {"EPollEventLoopTests"},
              "test_server": {"SelectorStartServerTests"},
              "test_sslproto": {"SelectorStartTLSTests"},
              "test_unix_events": {"SelectorEventLoopSignalTests",
                                   "SelectorEventLoopUnixSocketTests"},
              "test_base_events": {"BaseEventLoopWithSelectorTests"}}
    assert set(expect) == set(lm.LOOP_HOOKS)
    for short, names in expect.items():
        _load(short)
        hooked = {cls.conformance_origin.split(".")[1] for cls in _hooked(short)}
        assert names <= hooked, (short, sorted(names - hooked))
        # and no other class: a setUp that does more than build the loop is not replaced
        assert hooked <= names, (short, sorted(hooked - names))


def _accepted(loop):
    try:
        return lm.OURS.accepts(loop)
    finally:
        loop.close()


@pytest.mark.parametrize("short", ["test_events", "test_sock_lowlevel", "test_sendfile"])
def test_create_event_loop_is_ours(short):
    _load(short)
    assert _hooked(short)
    for cls in _hooked(short):
        case = cls(unittest.defaultTestLoader.getTestCaseNames(cls)[0])
        assert _accepted(case.create_event_loop()), cls


@pytest.mark.parametrize("short", ["test_server", "test_sslproto"])
def test_functional_new_loop_is_ours(short):
    # functional.FunctionalTestCaseMixin.setUp: self.loop = self.new_loop()
    _load(short)
    assert _hooked(short)
    for cls in _hooked(short):
        case = cls(unittest.defaultTestLoader.getTestCaseNames(cls)[0])
        loop = case.new_loop()
        assert not hasattr(loop, "shutdown_ag_run")     # (test_runners' hook only)
        assert _accepted(loop), cls


def test_new_loop_is_ours_and_shuts_asyncgens_down():
    _load("test_runners")
    for cls in _hooked("test_runners"):
        case = cls(unittest.defaultTestLoader.getTestCaseNames(cls)[0])
        loop = case.new_loop()
        assert lm.OURS.accepts(loop), cls
        # test_runners' tearDown asserts this flag: it must come from a real shutdown.
        assert loop.shutdown_ag_run is False
        loop.run_until_complete(loop.shutdown_asyncgens())
        assert loop.shutdown_ag_run is True
        assert _accepted(loop)


@pytest.mark.parametrize("short", ["test_pep492", "test_unix_events", "test_base_events"])
def test_setup_makes_our_loop(short):
    _load(short)
    assert _hooked(short)
    for cls in _hooked(short):
        case = cls(unittest.defaultTestLoader.getTestCaseNames(cls)[0])
        case.setUp()
        try:
            assert lm.OURS.accepts(case.loop), (cls, case.loop)
        finally:
            case.tearDown()
        assert case.loop.is_closed()


# ---- the per-test loop check, on tests made for it --------------------------------------------

class _Probe(unittest.TestCase):
    """Stands in for a CPython test class."""

    __test__ = False        # run by the tests below only

    def test_asyncio_loop(self):
        asyncio.SelectorEventLoop().close()

    def test_base_loop(self):
        base_events.BaseEventLoop().close()

    def test_no_loop(self):
        pass

    def test_policy_loop(self):
        loop = asyncio.new_event_loop()
        try:
            self.__class__.seen = type(loop)
            loop.run_until_complete(asyncio.sleep(0))
        finally:
            loop.close()

    def test_run(self):
        async def main():
            return type(asyncio.get_running_loop())
        self.__class__.seen = asyncio.run(main())

    def test_ours_and_asyncio(self):
        asyncio.run(asyncio.sleep(0))
        asyncio.SelectorEventLoop().close()

    def test_thread_loop(self):
        import threading
        asyncio.run(asyncio.sleep(0))
        t = threading.Thread(target=lambda: asyncio.SelectorEventLoop().close())
        t.start()
        t.join()


class _AsyncProbe(unittest.IsolatedAsyncioTestCase):

    __test__ = False

    async def test_running_loop(self):
        self.__class__.seen = type(asyncio.get_running_loop())


def _run_probe(orig, name, impl=lm.OURS):
    cls = lm.make_class("test_probe", orig, impl, __name__)
    policy = asyncio.events._event_loop_policy
    init = base_events.BaseEventLoop.__init__
    result = unittest.TestResult()
    cls(name).run(result)
    # the test's policy and the instrumentation are gone afterwards
    assert asyncio.events._event_loop_policy is policy
    assert base_events.BaseEventLoop.__init__ is init
    problems = [msg for _, msg in result.failures + result.errors]
    return cls, problems


@pytest.mark.parametrize("name, expect", [
    ("test_asyncio_loop", "made event loop(s) other than"),
    ("test_base_loop", "made event loop(s) other than"),
    ("test_ours_and_asyncio", "made event loop(s) other than"),
    ("test_thread_loop", "made event loop(s) other than"),
    ("test_no_loop", "made no event loop"),
])
def test_check_fails_tests_not_on_our_loop(name, expect):
    if lm.OURS_IS_ASYNCIO and name in ("test_asyncio_loop", "test_ours_and_asyncio",
                                       "test_thread_loop"):
        pytest.skip("self-check: asyncio's loop is ours")
    _, problems = _run_probe(_Probe, name)
    assert len(problems) == 1 and "conformance loop check" in problems[0], problems
    assert expect in problems[0], problems[0]


@pytest.mark.parametrize("orig, name", [
    (_Probe, "test_policy_loop"), (_Probe, "test_run"), (_AsyncProbe, "test_running_loop")])
def test_check_passes_tests_on_our_loop(orig, name):
    cls, problems = _run_probe(orig, name)
    assert problems == []
    assert issubclass(cls.seen, lm.OURS.loop_class)
    assert cls.seen is lm.OURS.loop_class or not lm.OURS.exact


def test_reference_check_refuses_our_loop():
    if lm.OURS_IS_ASYNCIO:
        pytest.skip("self-check: ours is asyncio's loop")
    cls, problems = _run_probe(_Probe, "test_run", impl=lm.REF)
    assert problems == [] and cls.seen is asyncio.SelectorEventLoop
    loop = lm.OURS.new_event_loop()
    try:
        assert not lm.REF.accepts(loop) and lm.OURS.accepts(loop)
    finally:
        loop.close()


# ---- exclusions ---------------------------------------------------------------------------------

def _cpython_ids():
    classes, tests = set(), set()
    for short in lm.MODULES:
        try:
            mod = lm.load(short)
        except unittest.SkipTest:
            continue
        for orig in lm.test_classes(mod):
            classes.add(f"{short}.{orig.__name__}")
            tests.update(f"{short}.{orig.__name__}.{t}"
                         for t in unittest.defaultTestLoader.getTestCaseNames(orig))
    return classes, tests


def test_loop_exclusions_are_live_and_explained():
    import fnmatch
    classes, tests = _cpython_ids()
    stale = []
    for key, value in LOOP_EXCLUSIONS.items():
        ex = value if isinstance(value, Exclude) else Exclude(value)
        assert ex.reason.startswith(REASON_KINDS), (key, ex.reason)
        assert set(ex.impls) <= {"ours", "ref"} and ex.impls, key
        if ex.versions and lm.PY not in ex.versions:
            continue
        if key.count(".") == 1:
            if key not in classes:
                stale.append(key)
        elif not fnmatch.filter(tests, key):
            stale.append(key)
    assert not stale, f"LOOP_EXCLUSIONS entries matching nothing on Python {lm.PY}: {stale}"


def test_module_exclusions_are_live_and_explained():
    # CPython networking modules deliberately left out of the loop layer (no class of theirs
    # runs a loop implementation through its public API): they exist and are not in MODULES.
    from .exclusions import LOOP_MODULE_EXCLUSIONS
    for short, reason in LOOP_MODULE_EXCLUSIONS.items():
        assert short not in lm.MODULES, short
        assert reason.startswith("not about the loop:"), short
        mod = lm.load(short)
        assert lm.test_classes(mod), short


def test_bug_exclusions_are_ours_only():
    # A bug of ours must not hide the reference's result (the report compares the two).
    for key, value in LOOP_EXCLUSIONS.items():
        ex = value if isinstance(value, Exclude) else Exclude(value)
        if ex.reason.startswith(("asyncio_c bug:", "GAP #5:", "GAP #6:")):
            assert tuple(ex.impls) == ("ours",), key


def test_prior_policy_state_entries_are_live():
    # Each entry names a test of a mirrored class, on the versions it is given for.
    _, tests = _cpython_ids()
    for test_id, (versions, (method, args), why) in lm.PRIOR_POLICY_STATE.items():
        assert versions and why, test_id
        assert callable(getattr(asyncio.DefaultEventLoopPolicy, method, None)), test_id
        if lm.PY in versions:
            assert test_id in tests, f"{test_id}: no such test on Python {lm.PY}"
            assert lm._prior_policy_state(test_id) == (method, args)
        else:
            assert lm._prior_policy_state(test_id) is None


class _PolicyProbe(unittest.TestCase):
    __test__ = False

    def test_policy(self):
        policy = asyncio.get_event_loop_policy()
        self.__class__.set_called = policy._local._set_called
        asyncio.run(asyncio.sleep(0))


def test_prior_policy_state_is_applied(monkeypatch):
    monkeypatch.setitem(lm.PRIOR_POLICY_STATE, "test_probe._PolicyProbe.test_policy",
                        ((lm.PY,), ("set_event_loop", (None,)), "probe"))
    cls, problems = _run_probe(_PolicyProbe, "test_policy")
    assert problems == [] and cls.set_called is True
    monkeypatch.delitem(lm.PRIOR_POLICY_STATE, "test_probe._PolicyProbe.test_policy")
    cls, problems = _run_probe(_PolicyProbe, "test_policy")
    assert problems == [] and cls.set_called is False


def test_subprocess_classes_run_on_our_loop():
    # SubprocessWatcherMixin.setUp: policy.new_event_loop() of the policy the layer installs;
    # the reference's policy gives asyncio's loop.  (The per-test check covers the rest.)
    mod = lm.load("test_subprocess")
    watcher_classes = [c for c in lm.test_classes(mod)
                       if issubclass(c, mod.SubprocessWatcherMixin)]
    assert watcher_classes
    for impl in (lm.OURS, lm.REF):
        loop = impl.new_policy().new_event_loop()
        try:
            assert impl.accepts(loop), (impl, loop)
        finally:
            loop.close()
