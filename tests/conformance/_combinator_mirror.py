"""The combinator layer: CPython's tests of gather/wait/wait_for/shield/sleep/as_completed with
asyncio's functions replaced by asyncio_c's native ones.

The other layers swap asyncio's Task/Future types (_mirror.py) or its event loop
(_loop_mirror.py).  This one swaps the *functions*: every generated test runs with
asyncio_c._patch.patch() in force, i.e. asyncio.gather, asyncio.tasks.gather (and wait,
wait_for, shield, sleep, and asyncio.streams.sleep) are asyncio_c's native functions for the
whole test (setUp to tearDown and cleanups), and asyncio's own again afterwards
(_patch.unpatch()).  Everything else is as CPython's tests define it: asyncio's own loops (the
test_utils.TestLoop of test_tasks, the default policy's loop of IsolatedAsyncioTestCase) and
asyncio's own Task/Future classes, C and pure-Python (BaseTaskTests runs through all of
CPython's Task/Future combinations).  So this layer checks the native functions where users
of asyncio meet them: on asyncio's loop, with asyncio's tasks and futures.

Which CPython tests (SELECTION; decided on the running interpreter's own test modules, so
each version runs what it has):

  * test_tasks: every test of a class whose name or whose base's name (in the module) names
    a combinator (GatherTestsBase -> FutureGatherTests, CoroutineGatherTests; SleepTests),
    and in the other classes (BaseTaskTests' eight Task/Future variants) the tests whose
    name has one of the words gather, wait, shield, sleep, sleeping, as_completed;
  * test_waitfor: all of it.

as_completed is not replaced by the patch, but asyncio's as_completed is built on the
futures and callbacks the combinators use, and its tests mix it with sleep/wait; they run
with the patch in force like the rest.

While this build of asyncio_c has none of the native functions, patch() replaces nothing and
Ours_* must count exactly what Ref_* counts.

The reference run (Ref_*, only with ASYNCIO_C_CONFORMANCE_REF=1, as for the other layers):
the same tests, same harness, without the patch: asyncio's own functions.  Under
ASYNCIO_C_CONFORMANCE_SELFCHECK=1 "ours" does not patch either (asyncio_c not imported).

Exclusions: exclusions.COMBINATOR_EXCLUSIONS ("<module>.<class>.<test>", fnmatch wildcards).
"""
import asyncio
import fnmatch
import importlib
import os
import re
import unittest

from . import _mirror
from .exclusions import COMBINATOR_EXCLUSIONS, Exclude

PY = _mirror.PY

MODULES = ("test_tasks", "test_waitfor")
# A test (method) name naming a combinator: one of these words between underscores.
TEST_WORDS = re.compile(r"(?:^|_)(?:gather|wait|shield|sleep|sleeping|as_completed)(?:_|$)")
# A class (or a base class of the same module) naming one: all of its tests are selected.
CLASS_WORDS = re.compile(r"Gather|Wait|Shield|Sleep|AsCompleted")

SELFCHECK = os.environ.get(_mirror.SELFCHECK_ENV, "") not in ("", "0")


class CombImpl:
    """Which functions the generated tests run with."""

    def __init__(self, key, prefix, label, patch, unpatch):
        self.key = key              # "ours" | "ref" (exclusions.Exclude.impls)
        self.prefix = prefix
        self.label = label
        self.patch = patch          # called before each test; returns the names replaced
        self.unpatch = unpatch

    def __repr__(self):
        return f"<CombImpl {self.key}>"


def _nothing():
    return ()


REF = CombImpl("ref", "Ref", "asyncio's own functions", _nothing, _nothing)

if SELFCHECK:
    OURS = CombImpl("ours", "Ours", "asyncio's own functions (self-check)", _nothing, _nothing)
    OURS_IS_ASYNCIO = True
else:
    from asyncio_c import _patch
    OURS = CombImpl("ours", "Ours", "asyncio_c's native functions", _patch.patch,
                    _patch.unpatch)
    OURS_IS_ASYNCIO = False


def implementations():
    impls = [OURS]
    if os.environ.get(_mirror.REF_ENV, "") not in ("", "0"):
        impls.append(REF)
    return impls


def native_names():
    """The functions this build replaces (empty in the self-check or without natives)."""
    if SELFCHECK:
        return ()
    return tuple(_patch.natives())


class CombinatorLayer:
    """First base of every generated class: the functions in force while the test runs."""

    conformance_comb = None         # the CombImpl

    def run(self, result=None):
        impl = self.conformance_comb
        old_policy = asyncio.events._event_loop_policy
        # asyncio's own loops wherever the test asks the policy (IsolatedAsyncioTestCase,
        # asyncio.new_event_loop()), whatever policy the process had
        asyncio.set_event_loop_policy(asyncio.DefaultEventLoopPolicy())
        self.conformance_patched = impl.patch()
        try:
            return super().run(result)
        finally:
            impl.unpatch()
            asyncio.set_event_loop_policy(old_policy)


# ---------------------------------------------------------------------------------------------
# selection

def load(short):
    try:
        return importlib.import_module("test.test_asyncio." + short)
    except ModuleNotFoundError as e:
        if e.name != "test.test_asyncio." + short:
            raise
        raise unittest.SkipTest(f"Python {PY} has no test.test_asyncio.{short}")


def test_classes(mod):
    """The concrete TestCase classes a CPython test module defines (those with tests)."""
    return [obj for name, obj in vars(mod).items()
            if isinstance(obj, type) and issubclass(obj, unittest.TestCase)
            and obj.__module__ == mod.__name__ and name == obj.__name__
            and unittest.defaultTestLoader.getTestCaseNames(obj)]


def whole_class(mod, cls):
    """True if the class (or a base of the same module) names a combinator."""
    return any(CLASS_WORDS.search(k.__name__) for k in cls.__mro__
               if k.__module__ == mod.__name__)


def selected_tests(short, mod, cls):
    """The names of cls's tests this layer runs (in CPython's order)."""
    names = unittest.defaultTestLoader.getTestCaseNames(cls)
    if short == "test_waitfor" or whole_class(mod, cls):
        return list(names)
    return [n for n in names if TEST_WORDS.search(n[len("test"):])]


def selection(short):
    """{CPython class name: [test names]} for one module (classes with no test left out)."""
    mod = load(short)
    out = {}
    for cls in test_classes(mod):
        tests = selected_tests(short, mod, cls)
        if tests:
            out[cls.__name__] = tests
    return out


# ---------------------------------------------------------------------------------------------
# exclusions

USED_EXCLUSIONS = set()
GENERATED = []          # (impl key, "module.Class", generated class)


def _as_exclude(value):
    return value if isinstance(value, Exclude) else Exclude(value)


def test_exclusion(test_id, impl):
    for key, value in COMBINATOR_EXCLUSIONS.items():
        if not fnmatch.fnmatchcase(test_id, key):
            continue
        ex = _as_exclude(value)
        if ex.versions and PY not in ex.versions:
            continue
        if impl.key not in ex.impls:
            continue
        # an entry for ours only describes asyncio_c; nothing to describe in the self-check
        if impl.key == "ours" and "ref" not in ex.impls and OURS_IS_ASYNCIO:
            continue
        USED_EXCLUSIONS.add(key)
        return ex.reason
    return None


# ---------------------------------------------------------------------------------------------
# generation

def make_class(short, mod, orig, impl, module_name):
    name = f"{impl.prefix}_{orig.__name__}"
    ns = {
        "__module__": module_name,
        "__qualname__": name,
        "__doc__": (f"CPython's test.test_asyncio.{short}.{orig.__name__} (its combinator "
                    f"tests) with {impl.label}."),
        "conformance_impl": impl.key,
        "conformance_origin": f"{short}.{orig.__name__}",
        "conformance_comb": impl,
    }
    keep = set(selected_tests(short, mod, orig))
    for test in unittest.defaultTestLoader.getTestCaseNames(orig):
        if test not in keep:
            ns[test] = None             # not a test of this layer: not collected
    cls = type(orig)(name, (CombinatorLayer, _mirror._Watchdog, orig), ns)
    for test in unittest.defaultTestLoader.getTestCaseNames(cls):
        reason = test_exclusion(f"{short}.{orig.__name__}.{test}", impl)
        if reason is not None:
            setattr(cls, test, unittest.skip(reason)(getattr(cls, test)))
    return cls


def mirror_combinator_modules(namespace):
    """Fill a test module's namespace with the combinator-layer classes of MODULES."""
    teardowns = []
    for short in MODULES:
        try:
            mod = load(short)
        except unittest.SkipTest:
            continue
        if hasattr(mod, "tearDownModule"):
            teardowns.append(mod.tearDownModule)
        for orig in test_classes(mod):
            if not selected_tests(short, mod, orig):
                continue
            for impl in implementations():
                cls = make_class(short, mod, orig, impl, namespace["__name__"])
                if cls.__name__ in namespace:
                    raise RuntimeError(f"two CPython classes named {orig.__name__}")
                GENERATED.append((impl.key, cls.conformance_origin, cls))
                namespace[cls.__name__] = cls
    if teardowns:
        def tearDownModule():
            for td in teardowns:
                td()
        namespace["tearDownModule"] = tearDownModule
