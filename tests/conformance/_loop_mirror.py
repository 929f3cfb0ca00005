"""The loop layer: CPython's own test_asyncio test classes with asyncio_c's event loop as the loop.

The Task/Future layer (_mirror.py) swaps asyncio's C types inside CPython's test classes.  This
layer swaps the *event loop*: for every test class of a module in MODULES we generate a subclass
of CPython's class (named Ours_<class>; Ref_<class> for the reference run) whose tests get
asyncio_c's loop wherever CPython's test would get one:

  * from the event loop policy (asyncio.new_event_loop(), asyncio.run(), asyncio.Runner(),
    unittest.IsolatedAsyncioTestCase, asyncio.get_event_loop()): each test runs with a fresh
    asyncio_c.EventLoopPolicy() installed (the previous policy is put back afterwards, whatever
    the test or CPython's tearDown did to it);
  * from a method of the test class that builds the loop itself (LOOP_HOOKS below):
    create_event_loop() (test_events, test_sock_lowlevel, test_sendfile: their epoll classes
    build asyncio.SelectorEventLoop(selectors.EpollSelector())), new_loop() (test_runners;
    functional.FunctionalTestCaseMixin's in test_server and test_sslproto:
    asyncio.SelectorEventLoop()), setUp() (test_pep492's BaseTest: a BaseEventLoop on a mock
    selector; test_unix_events' and test_base_events' selector classes:
    asyncio.SelectorEventLoop()): the generated class overrides that method to build our loop
    instead (asyncio_c.new_event_loop(), no selector argument: our loop polls with its own
    epoll, so a selector passed to asyncio_c.Loop() would be accepted and ignored).

The networking modules (issue #5: test_sock_lowlevel, test_sendfile, test_server, test_streams,
test_unix_events, test_ssl, test_sslproto, test_base_events) are the yardstick for the C
transports: what passes on asyncio's loop and fails on ours is in exclusions.LOOP_EXCLUSIONS as
"GAP #5: ...".  test_selector_events and test_proactor_events are not in the layer (asyncio's
transports on mocks and TestLoop; see exclusions.LOOP_MODULE_EXCLUSIONS).

Subprocesses (issue #6): test_subprocess is in the layer, and test_events' SubprocessTestsMixin
runs through EPollEventLoopTests (create_event_loop hook; its setUp sets a SafeChildWatcher).
test_subprocess needs no hook: SubprocessWatcherMixin.setUp builds its loop with
policy.new_event_loop() (the policy the layer installs: ours) and sets the class's child watcher
(ThreadedChildWatcher, PidfdChildWatcher, SafeChildWatcher, FastChildWatcher) on that policy;
GenericWatcherTests runs asyncio.Runner(loop_factory=asyncio.new_event_loop) (and asyncio.run in
a thread), the policy's loop again.  SubprocessTransportTests (a TestLoop) and, 3.12+,
MultiLoopChildWatcherTests (no loop) are "not about asyncio_c"; 3.11's
SubprocessMultiLoopWatcherTests, which CPython skips itself, is not mirrored.  The module's
tearDownModule (asyncio.set_event_loop_policy(None)) is the module's own, as for every module
(setUpModule/tearDownModule are carried over); its "if support.check_sanitizer(address=True):
raise unittest.SkipTest" at import skips the whole file (pytest takes a SkipTest raised while
collecting a module as the module's skip).  What passes on asyncio's loop and fails on ours is
in exclusions.LOOP_EXCLUSIONS as "GAP #6: ...".

Every test gets a fresh policy, where CPython's module run shares one policy between the tests
of a module; a test that relies on what the tests before it did to that policy gets that state
recreated on its fresh policy (PRIOR_POLICY_STATE, with the reason).

No CPython test code is copied: the tests are the running interpreter's own.

Every generated test checks that it really ran on the loop it is meant to (LoopCheck): all
event loops constructed while the test runs are recorded (asyncio's BaseEventLoop.__init__,
which every asyncio loop and ours run, is instrumented for the duration of the test), and the
test fails if one of them is not the implementation's loop (asyncio's own loop, a TestLoop, a
mock-selector BaseEventLoop) or if no loop of the implementation was made at all (such a test
is not about the loop and belongs in exclusions.LOOP_EXCLUSIONS as "not about asyncio_c").

The reference run (ASYNCIO_C_CONFORMANCE_REF=1, as for the Task/Future layer) generates the
same classes with asyncio's own loop in place of ours (asyncio.SelectorEventLoop and asyncio's
default policy), under the same harness and the same check: the yardstick for "everything
that passes with asyncio's own loop passes with ours".

Exclusions: exclusions.LOOP_EXCLUSIONS (keys "<module>.<class>" leave a whole class unmirrored,
"<module>.<class>.<test>" with fnmatch wildcards skip tests).
"""
import asyncio
import fnmatch
import importlib
import os
import unittest
from asyncio import base_events

from . import _mirror
from .exclusions import Exclude, LOOP_EXCLUSIONS

PY = _mirror.PY

# The CPython test modules of the loop layer (each one: test_cpython_loop_<name>.py).
MODULES = ("test_events", "test_locks", "test_queues", "test_pep492", "test_context",
           "test_taskgroups", "test_timeouts", "test_runners", "test_threads", "test_waitfor",
           # networking (issue #5): sockets, transports, servers, streams, SSL, unix sockets
           "test_sock_lowlevel", "test_sendfile", "test_server", "test_streams",
           "test_unix_events", "test_ssl", "test_sslproto", "test_base_events",
           # subprocesses (issue #6)
           "test_subprocess")

# Methods through which CPython's test classes build their loop themselves, by module; the
# generated class overrides them (see _hook_overrides).
LOOP_HOOKS = {
    "test_events": "create_event_loop",     # EventLoopTestsMixin.setUp: self.create_event_loop()
    "test_runners": "new_loop",             # BaseTest: TestPolicy(self.new_loop)
    "test_pep492": "setUp",                 # BaseTest.setUp: BaseEventLoop on a mock selector
    # BaseSockTestsMixin.setUp / SendfileBase.setUp: self.create_event_loop(), which
    # EPollEventLoopTests defines as asyncio.SelectorEventLoop(selectors.EpollSelector())
    "test_sock_lowlevel": "create_event_loop",
    "test_sendfile": "create_event_loop",
    # functional.FunctionalTestCaseMixin.setUp: self.new_loop(), which SelectorStartServerTests
    # and SelectorStartTLSTests define as asyncio.SelectorEventLoop()
    "test_server": "new_loop",
    "test_sslproto": "new_loop",
    # SelectorEventLoopSignalTests / SelectorEventLoopUnixSocketTests.setUp and
    # BaseEventLoopWithSelectorTests.setUp: self.loop = asyncio.SelectorEventLoop()
    "test_unix_events": "setUp",
    "test_base_events": "setUp",
}
# (test_streams, test_ssl, test_sslproto's SslProtoHandshakeTests, test_server's TestServer2 /
# UnixServerCleanupTests, test_unix_events' TestFunctional / TestFork /
# SelectorEventLoopUnixSockSendfileTests and test_base_events' RunningLoopTests get their
# loop from the policy: asyncio.new_event_loop(), IsolatedAsyncioTestCase, asyncio.run().)

# Tests that rely on the state the module-wide policy is left in by the tests CPython runs
# before them.  The layer gives every test a fresh policy, so for these it recreates that state
# on the fresh policy before the test: test id -> (versions, (policy method, args), why).
PRIOR_POLICY_STATE = {
    "test_subprocess.GenericWatcherTests.test_create_subprocess_with_pidfd": (
        ("3.12",), ("set_event_loop", (None,)),
        "3.12's test asserts that policy.get_event_loop() raises RuntimeError in a loop made by "
        "asyncio.Runner(loop_factory=...), which it does only once set_event_loop() has been "
        "called on the policy (before that it warns and makes a loop): in CPython's run, by "
        "the tearDown of the test before it (test_utils.TestCase: set_event_loop(None)); run "
        "alone it fails on asyncio's loop too.  3.13's test accepts either."),
}


def _prior_policy_state(test_id):
    entry = PRIOR_POLICY_STATE.get(test_id)
    if entry is None or PY not in entry[0]:
        return None
    return entry[1]


# What a setUp replaced by the "setUp" hook may do (its code's names): test_utils.TestCase's
# setUp, `self.loop = <loop class>()` (+ test_pep492's mock selector), self.set_event_loop().
# A setUp naming anything else does more than build the loop and is not replaced.
_SETUP_LOOP_CLASSES = {"BaseEventLoop", "SelectorEventLoop"}
_SETUP_NAMES = {"super", "setUp", "asyncio", "loop", "set_event_loop", "mock", "Mock",
                "_process_events", "_selector", "select", "return_value"} | _SETUP_LOOP_CLASSES


class LoopImpl:
    """One event loop implementation to run CPython's tests on."""

    def __init__(self, key, prefix, label, new_event_loop, new_policy, loop_class, exact):
        self.key = key                      # "ours" | "ref" (exclusions.Exclude.impls)
        self.prefix = prefix
        self.label = label
        self.new_event_loop = new_event_loop
        self.new_policy = new_policy
        self.loop_class = loop_class
        self.exact = exact                  # loops must be exactly loop_class (not a subclass)

    def accepts(self, loop):
        if self.exact:
            return type(loop) is self.loop_class
        return isinstance(loop, self.loop_class)

    def __repr__(self):
        return f"<LoopImpl {self.key}: {self.loop_class!r}>"


def _asyncio_loop():
    # asyncio.SelectorEventLoop rather than asyncio.new_event_loop(): the policy in force is
    # whatever the test under way installed.  On Linux its selector is epoll.
    return asyncio.SelectorEventLoop()


REF = LoopImpl("ref", "Ref", "asyncio's own loop", _asyncio_loop, asyncio.DefaultEventLoopPolicy,
               asyncio.SelectorEventLoop, exact=True)

if os.environ.get(_mirror.SELFCHECK_ENV, "") not in ("", "0"):
    # report.py --selfcheck: "ours" is asyncio's own loop; ours and the reference must agree.
    OURS = LoopImpl("ours", "Ours", "asyncio's own loop (self-check)", _asyncio_loop,
                    asyncio.DefaultEventLoopPolicy, asyncio.SelectorEventLoop, exact=True)
    OURS_IS_ASYNCIO = True
else:
    import asyncio_c
    OURS = LoopImpl("ours", "Ours", "asyncio_c's loop", asyncio_c.new_event_loop,
                    asyncio_c.EventLoopPolicy, asyncio_c.Loop, exact=False)
    OURS_IS_ASYNCIO = False


def implementations():
    impls = [OURS]
    if os.environ.get(_mirror.REF_ENV, "") not in ("", "0"):
        impls.append(REF)
    return impls


# ---------------------------------------------------------------------------------------------
# which loops a test made

class LoopRecorder:
    """Records every asyncio event loop constructed while active (in any thread).

    Every asyncio loop runs BaseEventLoop.__init__ (asyncio_c.Loop too: it is asyncio's unix
    selector loop on a C core); while a recorder is active that method is wrapped.  Loops
    handed out by the generated classes' own factories are recorded as well, so a loop of ours
    whose construction skipped asyncio's __init__ would still count.
    """

    _active = None
    _original_init = base_events.BaseEventLoop.__init__

    def __init__(self, impl):
        self.impl = impl
        self.loops = []             # (type, accepted)
        self._ids = set()

    def record(self, loop):
        if id(loop) not in self._ids:
            self._ids.add(id(loop))
            self.loops.append((type(loop), self.impl.accepts(loop)))

    def __enter__(self):
        if LoopRecorder._active is not None:
            raise RuntimeError("LoopRecorder: already recording")
        LoopRecorder._active = self
        original = LoopRecorder._original_init

        def __init__(loop, *args, **kwargs):
            recorder = LoopRecorder._active
            if recorder is not None:
                recorder.record(loop)
            return original(loop, *args, **kwargs)

        __init__.__wrapped__ = original
        base_events.BaseEventLoop.__init__ = __init__
        return self

    def __exit__(self, *exc):
        base_events.BaseEventLoop.__init__ = LoopRecorder._original_init
        LoopRecorder._active = None

    def problem(self):
        """Why the test did not run on the implementation's loop, or None."""
        foreign = sorted({f"{t.__module__}.{t.__qualname__}" for t, ok in self.loops if not ok})
        if foreign:
            return (f"the test made event loop(s) other than {self.impl.label}: "
                    f"{', '.join(foreign)}; it did not (only) run on {self.impl.label}")
        if not self.loops:
            return (f"the test made no event loop, so it does not exercise {self.impl.label}: "
                    f"list it in exclusions.LOOP_EXCLUSIONS ('not about asyncio_c: ...')")
        return None


def _record_loop(loop):
    recorder = LoopRecorder._active
    if recorder is not None:
        recorder.record(loop)
    return loop


class LoopLayer:
    """First base of every generated class: the test's policy, loop recording and check."""

    conformance_loop = None         # the LoopImpl

    def run(self, result=None):
        impl = self.conformance_loop
        old_policy = asyncio.events._event_loop_policy
        recorder = LoopRecorder(impl)
        self.conformance_recorder = recorder
        # Registered first, so it runs after every cleanup of the test (LIFO), as part of the
        # test: a failure here is a failure of the test.
        self.addCleanup(self._conformance_check_loops, recorder)
        policy = impl.new_policy()
        asyncio.set_event_loop_policy(policy)
        prior = _prior_policy_state(f"{self.conformance_origin}.{self._testMethodName}")
        if prior is not None:
            method, args = prior
            getattr(policy, method)(*args)
        try:
            with recorder:
                return super().run(result)
        finally:
            asyncio.set_event_loop_policy(old_policy)

    def _conformance_check_loops(self, recorder):
        problem = recorder.problem()
        if problem is not None:
            self.fail("conformance loop check: " + problem)


# ---------------------------------------------------------------------------------------------
# overrides of CPython's own loop-building methods

def _hook_overrides(short, orig, impl):
    """{name: function} replacing the method through which `orig` builds its loop itself."""
    hook = LOOP_HOOKS.get(short)
    if hook is None or not callable(getattr(orig, hook, None)):
        return {}
    factory = impl.new_event_loop

    if hook == "create_event_loop":
        def create_event_loop(self):
            return _record_loop(factory())
        return {hook: create_event_loop}

    if hook == "new_loop" and short != "test_runners":
        # functional.FunctionalTestCaseMixin's factory (test_server, test_sslproto)
        def new_loop(self):
            return _record_loop(factory())
        return {hook: new_loop}

    if hook == "new_loop":
        # test_runners.BaseTest.tearDown checks that asyncio.run()/Runner shut the loop's
        # async generators down (loop.shutdown_ag_run, set by the loop's shutdown_asyncgens).
        def new_loop(self):
            loop = _record_loop(factory())
            loop.shutdown_ag_run = False
            real = loop.shutdown_asyncgens

            async def shutdown_asyncgens():
                loop.shutdown_ag_run = True
                await real()

            loop.shutdown_asyncgens = shutdown_asyncgens
            return loop
        return {hook: new_loop}

    if hook == "setUp":
        # The class of the module whose setUp builds the loop itself (test_pep492.BaseTest: a
        # BaseEventLoop on a mock selector; test_unix_events' and test_base_events' selector
        # classes: asyncio.SelectorEventLoop()); ours runs the setUp above it
        # (test_utils.TestCase's) and sets our loop up instead.
        definer = next((k for k in orig.__mro__ if "setUp" in vars(k)), None)
        if definer is None or definer.__module__ != orig.__module__:
            return {}
        names = set(vars(definer)["setUp"].__code__.co_names)
        if not (names & _SETUP_LOOP_CLASSES) or not names <= _SETUP_NAMES:
            return {}

        def setUp(self):
            super(definer, self).setUp()
            self.loop = _record_loop(factory())
            self.set_event_loop(self.loop)
        return {hook: setUp}

    raise AssertionError(f"unknown loop hook {hook!r}")


# ---------------------------------------------------------------------------------------------
# exclusions

USED_EXCLUSIONS = set()
GENERATED = []          # (impl key, "module.Class", generated class)
NOT_MIRRORED = {}       # "module.Class" -> reason (class-level exclusions that applied)


def _as_exclude(value):
    return value if isinstance(value, Exclude) else Exclude(value)


def _applies(key, impl):
    ex = _as_exclude(LOOP_EXCLUSIONS[key])
    if ex.versions and PY not in ex.versions:
        return None
    if impl.key not in ex.impls:
        return None
    # An entry for ours only describes asyncio_c; it means nothing when ours is asyncio's loop.
    if impl.key == "ours" and "ref" not in ex.impls and OURS_IS_ASYNCIO:
        return None
    return ex.reason


def class_exclusion(class_id, impl):
    """The reason a whole CPython class is not mirrored (key "<module>.<class>"), or None."""
    if class_id in LOOP_EXCLUSIONS:
        reason = _applies(class_id, impl)
        if reason is not None:
            USED_EXCLUSIONS.add(class_id)
        return reason
    return None


def test_exclusion(test_id, impl):
    for key in LOOP_EXCLUSIONS:
        if key.count(".") < 2 or not fnmatch.fnmatchcase(test_id, key):
            continue
        reason = _applies(key, impl)
        if reason is not None:
            USED_EXCLUSIONS.add(key)
            return reason
    return None


# ---------------------------------------------------------------------------------------------
# generation

def test_classes(mod):
    """The concrete TestCase classes a CPython test module defines (those with tests)."""
    found = []
    for name, obj in vars(mod).items():
        if (isinstance(obj, type) and issubclass(obj, unittest.TestCase)
                and obj.__module__ == mod.__name__ and name == obj.__name__
                and unittest.defaultTestLoader.getTestCaseNames(obj)):
            found.append(obj)
    return found


def make_class(short, orig, impl, module_name):
    """The subclass of CPython's class `orig` (of test.test_asyncio.<short>) on impl's loop."""
    name = f"{impl.prefix}_{orig.__name__}"
    ns = {
        "__module__": module_name,
        "__qualname__": name,
        "__doc__": (f"CPython's test.test_asyncio.{short}.{orig.__name__} with "
                    f"{impl.label} as the loop every test gets."),
        "conformance_impl": impl.key,
        "conformance_origin": f"{short}.{orig.__name__}",
        "conformance_loop": impl,
    }
    ns.update(_hook_overrides(short, orig, impl))
    cls = type(orig)(name, (LoopLayer, _mirror._Watchdog, orig), ns)
    for test in unittest.defaultTestLoader.getTestCaseNames(cls):
        reason = test_exclusion(f"{short}.{orig.__name__}.{test}", impl)
        if reason is not None:
            setattr(cls, test, unittest.skip(reason)(getattr(cls, test)))
    return cls


def load(short):
    try:
        return importlib.import_module("test.test_asyncio." + short)
    except ModuleNotFoundError as e:
        if e.name != "test.test_asyncio." + short:
            raise
        raise unittest.SkipTest(f"Python {PY} has no test.test_asyncio.{short}")


def mirror_loop_module(short, namespace):
    """Fill a test module's namespace with the loop-layer classes of test.test_asyncio.<short>."""
    mod = load(short)
    for fixture in ("setUpModule", "tearDownModule"):
        if hasattr(mod, fixture):
            namespace[fixture] = getattr(mod, fixture)
    for orig in test_classes(mod):
        for impl in implementations():
            class_id = f"{short}.{orig.__name__}"
            reason = class_exclusion(class_id, impl)
            if reason is not None:
                NOT_MIRRORED[class_id] = reason
                continue
            cls = make_class(short, orig, impl, namespace["__name__"])
            GENERATED.append((impl.key, cls.conformance_origin, cls))
            namespace[cls.__name__] = cls
    return mod
