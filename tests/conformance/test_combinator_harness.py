"""Checks of the combinator layer's harness (_combinator_mirror.py): "ours" really runs with the
native functions patched in, and only for the duration of each test.

A generated class whose tests silently kept asyncio's functions would pass and prove nothing.
Whether or not this build has native functions, the wiring is checked with stand-ins put on
asyncio_c._core (asyncio's own function wrapped to count its calls): a generated Ours_ test
must call them, a Ref_ test must not, and asyncio must be unpatched afterwards.
"""
import asyncio
import asyncio.tasks
import fnmatch
import importlib
import unittest

import pytest

from . import _combinator_mirror as cm
from .exclusions import COMBINATOR_EXCLUSIONS, Exclude

REASON_KINDS = ("not about asyncio_c", "asyncio_c bug:", "gap:",
                "fails on asyncio's own implementation too", "slow")
NAMES = ("gather", "wait", "wait_for", "shield", "sleep")
ORIGINAL = {n: getattr(asyncio.tasks, n) for n in NAMES}


def _ours_module():
    return importlib.import_module(f"{__package__}.test_cpython_combinators")


def _generated(impl="ours"):
    return {origin: cls for key, origin, cls in cm.GENERATED if key == impl}


def test_only_generated_classes_are_collected():
    ours = _ours_module()
    cases = {name: obj for name, obj in vars(ours).items()
             if isinstance(obj, type) and issubclass(obj, unittest.TestCase)}
    assert cases, "nothing was mirrored"
    for name, cls in cases.items():
        assert name.startswith(("Ours_", "Ref_")), f"{name} would be collected"
        assert cls.__module__ == ours.__name__
        assert cls.__mro__[1] is cm.CombinatorLayer


def test_selection():
    tasks = cm.selection("test_tasks")
    # the eight Task/Future variants of BaseTaskTests, by test name
    base = cm.load("test_tasks").BaseTaskTests
    variants = [c for c in cm.test_classes(cm.load("test_tasks")) if issubclass(c, base)]
    assert len(variants) == 8
    for cls in variants:
        sel = tasks[cls.__name__]
        assert {"test_wait", "test_sleep", "test_shield_result", "test_cancel_gather_1",
                "test_as_completed", "test_task_repr_wait_for"} <= set(sel)
        assert all(cm.TEST_WORDS.search(t[4:]) for t in sel)
        assert "test_task_awaits_on_itself" not in sel and "test_cancel" not in sel
    # whole classes
    mod = cm.load("test_tasks")
    for name in ("FutureGatherTests", "CoroutineGatherTests", "SleepTests"):
        assert tasks[name] == unittest.defaultTestLoader.getTestCaseNames(getattr(mod, name))
    assert not set(tasks) - {c.__name__ for c in variants} - {
        "FutureGatherTests", "CoroutineGatherTests", "SleepTests"}
    waitfor = cm.selection("test_waitfor")
    wmod = cm.load("test_waitfor")
    assert set(waitfor) == {c.__name__ for c in cm.test_classes(wmod)}
    for name, tests in waitfor.items():
        assert tests == unittest.defaultTestLoader.getTestCaseNames(getattr(wmod, name))


def test_generated_classes_run_exactly_the_selection():
    gen = _generated()
    for short in cm.MODULES:
        for cname, tests in cm.selection(short).items():
            cls = gen[f"{short}.{cname}"]
            assert unittest.defaultTestLoader.getTestCaseNames(cls) == tests


class Counting:
    def __init__(self, name):
        self.name, self.calls, self.wrapped = name, 0, ORIGINAL[name]

    def __call__(self, *args, **kwargs):
        self.calls += 1
        return self.wrapped(*args, **kwargs)


@pytest.fixture
def standins(monkeypatch):
    if cm.OURS_IS_ASYNCIO:
        pytest.skip("self-check: ours does not patch")
    from asyncio_c import _core
    fakes = {n: Counting(n) for n in NAMES}
    for n, f in fakes.items():
        monkeypatch.setattr(_core, n, f, raising=False)
    return fakes


# (CPython class, test, function it must call)
PROBES = [
    ("test_tasks", "FutureGatherTests", "test_success", "gather"),
    ("test_tasks", "CTask_CFuture_Tests", "test_wait", "wait"),
    ("test_tasks", "CTask_PyFuture_Tests", "test_shield_result", "shield"),
    ("test_tasks", "PyTask_CFuture_Tests", "test_sleep", "sleep"),
    ("test_tasks", "SleepTests", "test_sleep_zero", "sleep"),
    ("test_waitfor", "AsyncioWaitForTest", "test_asyncio_wait_for_timeout", "wait_for"),
]


def _run(cls, test):
    result = unittest.TestResult()
    cls(test).run(result)
    return result


@pytest.mark.parametrize("short,cname,test,fn", PROBES, ids=[p[2] for p in PROBES])
def test_ours_calls_the_natives(standins, short, cname, test, fn):
    mod = cm.load(short)
    cls = cm.make_class(short, mod, getattr(mod, cname), cm.OURS, __name__)
    result = _run(cls, test)
    assert result.wasSuccessful(), result.errors + result.failures
    assert standins[fn].calls >= 1
    # unpatched afterwards
    for n in NAMES:
        assert getattr(asyncio, n) is ORIGINAL[n] and getattr(asyncio.tasks, n) is ORIGINAL[n]


@pytest.mark.parametrize("short,cname,test,fn", PROBES, ids=[p[2] for p in PROBES])
def test_reference_does_not(standins, short, cname, test, fn):
    mod = cm.load(short)
    cls = cm.make_class(short, mod, getattr(mod, cname), cm.REF, __name__)
    result = _run(cls, test)
    assert result.wasSuccessful(), result.errors + result.failures
    assert all(f.calls == 0 for f in standins.values())


def test_patched_during_the_test(standins):
    seen = {}

    class Probe(unittest.TestCase):
        def setUp(self):
            seen["setUp"] = asyncio.gather

        def test_it(self):
            seen["test"] = (asyncio.gather, asyncio.tasks.sleep, asyncio.get_event_loop_policy())

        def tearDown(self):
            seen["tearDown"] = asyncio.wait_for

    Probe.__module__ = __name__
    cls = type("Ours_Probe", (cm.CombinatorLayer, Probe), {"conformance_comb": cm.OURS})
    assert _run(cls, "test_it").wasSuccessful()
    assert seen["setUp"] is standins["gather"] and seen["test"][0] is standins["gather"]
    assert seen["test"][1] is standins["sleep"] and seen["tearDown"] is standins["wait_for"]
    assert type(seen["test"][2]) is asyncio.DefaultEventLoopPolicy
    assert asyncio.gather is ORIGINAL["gather"]


def test_this_build_patches_its_natives():
    # what Ours_ tests run with: exactly the natives of the build (none while there are none)
    if cm.OURS_IS_ASYNCIO:
        assert cm.native_names() == ()
        return
    from asyncio_c import _patch
    try:
        assert cm.OURS.patch() == tuple(_patch.natives())
    finally:
        cm.OURS.unpatch()
    for n in NAMES:
        assert getattr(asyncio, n) is ORIGINAL[n]


def test_combinator_exclusions_are_live_and_explained():
    ids = set()
    for short in cm.MODULES:
        for cname, tests in cm.selection(short).items():
            ids.update(f"{short}.{cname}.{t}" for t in tests)
    stale = []
    for key, value in COMBINATOR_EXCLUSIONS.items():
        ex = value if isinstance(value, Exclude) else Exclude(value)
        assert ex.reason.startswith(REASON_KINDS), (key, ex.reason)
        assert set(ex.impls) <= {"ours", "ref"} and ex.impls, key
        if ex.reason.startswith("asyncio_c bug:"):
            assert tuple(ex.impls) == ("ours",), key
        if ex.versions and cm.PY not in ex.versions:
            continue
        if not fnmatch.filter(ids, key):
            stale.append(key)
    assert not stale, f"COMBINATOR_EXCLUSIONS entries matching nothing on {cm.PY}: {stale}"
