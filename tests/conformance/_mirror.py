"""Mirror CPython's C-implementation test classes with asyncio_c's types substituted.

CPython runs each implementation-neutral base class (BaseFutureTests, BaseTaskTests, ...) once
per implementation, e.g.

    class CTask_CFuture_Tests(BaseTaskTests, SetMethodsTest, test_utils.TestCase):
        Task = tasks._CTask
        Future = futures._CFuture

For every class of a CPython test module that involves asyncio's C types (_CTask, _CFuture,
the tasks._c_* functions) we create a subclass of *that class* (so its C-specific extra tests
come along) in which every reference to a C type is replaced by ours:

  * class attributes that are _CTask/_CFuture (``Task``, ``Future``, ``cls``) are replaced by
    asyncio_c.Task/asyncio_c.Future; subclasses of them defined by the test (CSubFuture, the
    Task/Future of add_subclass_tests) are rebuilt on top of ours;
  * staticmethod(tasks._c_xxx) attributes are replaced by asyncio_c's function of that name
    if it has one;
  * methods whose code names a C type (``return futures._CFuture(loop=self.loop)``,
    ``getattr(tasks, '_CTask')``) are re-created with the same code over globals in which
    ``futures``/``tasks`` are views of asyncio's modules whose C names are ours.

Which classes qualify, and what to substitute, is found by inspecting the module of the
running interpreter, so 3.11, 3.12 and 3.13 each mirror exactly the classes they have.  The
only name-based rule is LOOP_VARIANTS below.

The same generation with asyncio's own C types gives the reference classes (prefix Ref_,
only when ASYNCIO_C_CONFORMANCE_REF is set): CPython's own classes under our harness, the
yardstick for "every test that passes with asyncio's C types passes with ours".
"""
import asyncio
import fnmatch
import importlib
import os
import re
import sys
import types
import unittest
from asyncio import futures, tasks

from .exclusions import EXCLUSIONS, Exclude

PY = "%d.%d" % sys.version_info[:2]
REF_ENV = "ASYNCIO_C_CONFORMANCE_REF"
SELFCHECK_ENV = "ASYNCIO_C_CONFORMANCE_SELFCHECK"

C_TASK = tasks._CTask
C_FUTURE = futures._CFuture
C_TYPES = (C_TASK, C_FUTURE)
# The C functions CPython parameterises test classes with: tasks._c_current_task, ...
C_FUNCTIONS = {n: getattr(tasks, n) for n in dir(tasks) if n.startswith("_c_")}
C_NAMES = frozenset({"_CTask", "_CFuture", *C_FUNCTIONS})

# CPython test classes whose C implementation comes from the default event loop
# (asyncio.new_event_loop() creating _CTask) rather than from a class attribute; the mirror
# gets the implementation's new_event_loop instead.  Absent names are ignored.
LOOP_VARIANTS = {
    "test_tasks": ("CTask_Future_Tests",),
}


class Impl:
    """One Task/Future implementation to instantiate CPython's tests with."""

    def __init__(self, key, prefix, label, task, future, functions, new_event_loop):
        self.key = key                  # "ours" or "ref" (see exclusions.Exclude.impls)
        self.prefix = prefix            # prefix of the generated class names
        self.label = label
        self.Task = task
        self.Future = future
        self.functions = functions      # tasks._c_* name -> this implementation's function
        self.new_event_loop = new_event_loop
        self._swapped = {}              # CPython class -> its rebuilt counterpart
        self._globals = {}              # (module name, loop variant) -> rebound globals

    def __repr__(self):
        return f"<Impl {self.key}: Task={self.Task!r} Future={self.Future!r}>"


def _our_functions(asyncio_c):
    """asyncio_c's counterparts of tasks._c_* (e.g. _core._register_task), where they exist."""
    owners = [o for o in (getattr(asyncio_c, "_core", None), asyncio_c) if o is not None]
    found = {}
    for cname in C_FUNCTIONS:
        stem = cname[len("_c"):]                    # "_register_task"
        for owner in owners:
            f = next((getattr(owner, n) for n in (stem, stem.lstrip("_"))
                      if callable(getattr(owner, n, None))), None)
            if f is not None:
                found[cname] = f
                break
    return found


# asyncio.SelectorEventLoop rather than asyncio.new_event_loop: immune to whatever event loop
# policy the process has installed (on Linux it is what the default policy makes).
REF = Impl("ref", "Ref", "asyncio's own C implementation", C_TASK, C_FUTURE,
           dict(C_FUNCTIONS), asyncio.SelectorEventLoop)

if os.environ.get(SELFCHECK_ENV, "") not in ("", "0"):
    # Self-check of the harness: "ours" is asyncio's own C implementation, without importing
    # asyncio_c at all, so ours and the reference must give exactly the same results.
    OURS = Impl("ours", "Ours", "asyncio (self-check)", C_TASK, C_FUTURE, {},
                asyncio.SelectorEventLoop)
    OURS_DESCRIPTION = "self-check: asyncio's own C Future/Task as ours"
else:
    import asyncio_c
    OURS = Impl("ours", "Ours", "asyncio_c", asyncio_c.Task, asyncio_c.Future,
                _our_functions(asyncio_c), asyncio_c.new_event_loop)
    OURS_DESCRIPTION = getattr(getattr(asyncio_c, "_core", None), "__file__", None) or (
        f"asyncio_c with Task={asyncio_c.Task!r}, Future={asyncio_c.Future!r}")

# In the self-check (or with a stand-in for the extension) ours *are* asyncio's own C types.
OURS_IS_ASYNCIO = OURS.Task is C_TASK and OURS.Future is C_FUTURE


def implementations():
    impls = [OURS]
    if os.environ.get(REF_ENV, "") not in ("", "0"):
        impls.append(REF)
    return impls


# ---------------------------------------------------------------------------------------------
# analysis of one CPython class

def _code_names(code):
    """The C names a code object (and the code nested in it) refers to, as names or strings."""
    found = set()
    for n in code.co_names:
        if n in C_NAMES:
            found.add(n)
    for c in code.co_consts:
        if isinstance(c, str) and c in C_NAMES:
            found.add(c)
        elif isinstance(c, types.CodeType):
            found |= _code_names(c)
    return found


def _innermost(f):
    while hasattr(f, "__wrapped__"):
        f = f.__wrapped__
    return f


class _Plan:
    """What must change in one CPython class for it to run on another implementation."""

    def __init__(self, mod, orig):
        self.mod = mod
        self.short = mod.__name__.rpartition(".")[2]
        self.orig = orig
        self.loop_variant = orig.__name__ in LOOP_VARIANTS.get(self.short, ())
        self.entries = {}           # attribute -> (kind, raw value)
        self.cfuncs = set()         # tasks._c_* names used
        self.uses_types = False     # some entry involves _CTask/_CFuture
        self.own = self.loop_variant  # the class itself (not a base) involves C
        self.undecoratable = []     # decorated tests naming C types: cannot be rebound
        for klass in reversed(orig.__mro__):
            if klass.__module__ != mod.__name__:
                continue
            for name, raw in vars(klass).items():
                entry = self._classify(raw)
                if entry is None:
                    self.entries.pop(name, None)
                    continue
                self.entries[name] = entry
                if klass is orig:
                    self.own = True
        for kind, raw in self.entries.values():
            if kind == "cfunc":
                self.cfuncs.add(raw)
            elif kind == "type":
                self.uses_types = True
            else:
                names = _code_names(raw.__code__)
                self.cfuncs |= names & set(C_FUNCTIONS)
                if self.loop_variant or names & {"_CTask", "_CFuture"}:
                    self.uses_types = True

    def _classify(self, raw):
        if isinstance(raw, type) and issubclass(raw, C_TYPES):
            return ("type", raw)
        if isinstance(raw, staticmethod):
            for cname, cfunc in C_FUNCTIONS.items():
                if raw.__func__ is cfunc:
                    return ("cfunc", cname)
            return None
        if isinstance(raw, types.FunctionType):
            inner = _innermost(raw)
            if inner.__globals__ is not self.mod.__dict__:
                return None
            mentions = bool(_code_names(inner.__code__))
            if self.loop_variant and "new_event_loop" in inner.__code__.co_names:
                mentions = True
            if not mentions:
                return None
            if inner is not raw:
                self.undecoratable.append(raw.__name__)
                return None
            return ("func", raw)
        return None

    @property
    def missing(self):
        """C functions the class uses that asyncio_c has no counterpart of."""
        return sorted(c for c in self.cfuncs if c not in OURS.functions)

    @property
    def supported(self):
        # Decided on OURS for both sets, so that ours and the reference run the same tests.
        # A class that only exercises asyncio's C functions (no Task/Future of ours) would,
        # with asyncio's functions kept, test asyncio rather than us.
        return not self.missing or self.uses_types

    def signature(self):
        # (without dunders and TestCase's per-class bookkeeping such as _class_cleanups)
        own = frozenset((k, id(v)) for k, v in vars(self.orig).items()
                        if not (k.startswith("__") and k.endswith("__"))
                        and k not in vars(unittest.TestCase))
        return (self.orig.__bases__, own)


# ---------------------------------------------------------------------------------------------
# realisation for one implementation

def _swap_type(t, impl):
    if t is C_TASK:
        return impl.Task
    if t is C_FUTURE:
        return impl.Future
    if not (isinstance(t, type) and issubclass(t, C_TYPES)):
        return t
    if t not in impl._swapped:
        # A subclass the test defined on a C type: the same class over ours.
        ns = {k: v for k, v in vars(t).items() if k not in ("__dict__", "__weakref__")}
        if "__slots__" in ns:
            raise TypeError(f"cannot rebuild {t!r} (it has __slots__)")
        for v in ns.values():
            f = getattr(v, "__func__", v)
            if isinstance(f, types.FunctionType) and "__class__" in f.__code__.co_freevars:
                raise TypeError(f"cannot rebuild {t!r}: {f.__qualname__} uses super()")
        bases = tuple(_swap_type(b, impl) for b in t.__bases__)
        new = type(t)(t.__name__, bases, ns)
        new.__qualname__ = t.__qualname__
        impl._swapped[t] = new
    return impl._swapped[t]


def _function(cname, impl):
    # Ours may lack a counterpart (see _Plan.supported): then asyncio's own function is used,
    # and what the class checks is that asyncio's function works with our Task/Future.
    return impl.functions.get(cname, C_FUNCTIONS[cname])


class _ModuleView(types.ModuleType):
    """A module whose attributes are another module's, except for some overrides."""

    def __init__(self, real, overrides):
        super().__init__(real.__name__, real.__doc__)
        self.__dict__.update(overrides)
        self.__dict__["_ModuleView__real"] = real

    def __getattr__(self, name):
        return getattr(self.__real, name)


def _rebound_globals(plan, impl):
    key = (plan.mod.__name__, plan.loop_variant)
    if key not in impl._globals:
        swaps = {"_CTask": impl.Task, "_CFuture": impl.Future}
        swaps.update((c, _function(c, impl)) for c in C_FUNCTIONS)
        views = {id(futures): _ModuleView(futures, swaps), id(tasks): _ModuleView(tasks, swaps)}
        if plan.loop_variant:
            views[id(asyncio)] = _ModuleView(asyncio, {"new_event_loop": impl.new_event_loop})
        g = dict(plan.mod.__dict__)
        for k, v in g.items():
            if isinstance(v, types.ModuleType) and id(v) in views:
                g[k] = views[id(v)]
        impl._globals[key] = g
    return impl._globals[key]


def _rebind(f, plan, impl):
    g = types.FunctionType(f.__code__, _rebound_globals(plan, impl), f.__name__,
                           f.__defaults__, f.__closure__)
    g.__kwdefaults__ = f.__kwdefaults__
    g.__qualname__ = f.__qualname__
    g.__doc__ = f.__doc__
    g.__dict__.update(f.__dict__)
    return g


def _exclusion(test_id, impl):
    for pattern, value in EXCLUSIONS.items():
        if not fnmatch.fnmatchcase(test_id, pattern):
            continue
        ex = value if isinstance(value, Exclude) else Exclude(value)
        if ex.versions and PY not in ex.versions:
            continue
        if impl.key not in ex.impls:
            continue
        if impl.key == "ours" and "ref" not in ex.impls and OURS_IS_ASYNCIO:
            continue
        USED_EXCLUSIONS.add(pattern)
        return ex.reason
    return None


class TestHung(KeyboardInterrupt):
    """Raised into a test that outlived the watchdog.

    A KeyboardInterrupt so that neither the event loop (Handle._run) nor Task.__step
    swallows it; _Watchdog.run turns it into an error of that one test.
    """


class _Watchdog:
    """Fails a test that runs longer than ASYNCIO_C_CONFORMANCE_TEST_TIMEOUT seconds.

    A hung event loop (a future that is never completed) would otherwise stop the whole
    run.  SIGALRM interrupts the loop's select(); should the process not get back to Python
    at all (a hang inside C), faulthandler dumps the stacks and exits a while later.
    """

    def run(self, result=None):
        import faulthandler
        import signal
        import threading
        if threading.current_thread() is not threading.main_thread():
            return super().run(result)
        limit = float(os.environ.get("ASYNCIO_C_CONFORMANCE_TEST_TIMEOUT", "15"))

        def alarm(signum, frame):
            raise TestHung(f"conformance watchdog: test still running after {limit:g}s "
                           f"(hung: a future that is never completed?)")

        old = signal.signal(signal.SIGALRM, alarm)
        # Repeats every second until it gets through, in case something catches it.
        signal.setitimer(signal.ITIMER_REAL, limit, 1.0)
        # sys.__stderr__: under --capture=sys, sys.stderr has no fileno()
        faulthandler.dump_traceback_later(limit * 3, exit=True, file=sys.__stderr__)
        try:
            return super().run(result)
        except TestHung:
            signal.setitimer(signal.ITIMER_REAL, 0)
            if result is not None:
                result.addError(self, sys.exc_info())
            return result
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            faulthandler.cancel_dump_traceback_later()
            signal.signal(signal.SIGALRM, old)


USED_EXCLUSIONS = set()
GENERATED = []      # (impl key, CPython id "module.Class", generated class)


def _make_class(plan, impl, module_name):
    orig = plan.orig
    name = f"{impl.prefix}_{orig.__name__}"
    ns = {
        "__module__": module_name,
        "__qualname__": name,
        "__doc__": (f"CPython's {plan.mod.__name__}.{orig.__name__} with {impl.label}'s "
                    f"Task/Future in place of asyncio's _CTask/_CFuture."),
        "conformance_impl": impl.key,
        "conformance_origin": f"{plan.short}.{orig.__name__}",
    }
    for attr, (kind, raw) in plan.entries.items():
        if kind == "type":
            ns[attr] = _swap_type(raw, impl)
        elif kind == "cfunc":
            ns[attr] = staticmethod(_function(raw, impl))
        else:
            ns[attr] = _rebind(raw, plan, impl)
    if not plan.supported:
        ns["__unittest_skip__"] = True
        ns["__unittest_skip_why__"] = (
            "not mirrored: this class tests only " + ", ".join(plan.missing) +
            ", and asyncio_c exports no counterparts (our Task uses asyncio's, which "
            "CPython's own class covers); counterparts in asyncio_c/_core under the same "
            "name without '_c' would be picked up")
    cls = type(orig)(name, (_Watchdog, orig), ns)
    for test in unittest.defaultTestLoader.getTestCaseNames(cls):
        test_id = f"{plan.short}.{orig.__name__}.{test}"
        reason = _exclusion(test_id, impl)
        if reason is None and test in plan.undecoratable:
            reason = "gap: decorated test names asyncio's C types; the harness cannot rebind it"
        if reason is not None:
            setattr(cls, test, unittest.skip(reason)(getattr(cls, test)))
    GENERATED.append((impl.key, ns["conformance_origin"], cls))
    return cls


def c_variant_plans(mod):
    """Plans for the classes of a CPython test module that run asyncio's C implementation."""
    plans = {}
    for obj in list(vars(mod).values()):
        if not (isinstance(obj, type) and issubclass(obj, unittest.TestCase)
                and obj.__module__ == mod.__name__):
            continue
        plan = _Plan(mod, obj)
        if not plan.own:
            continue
        # asyncio.Task *is* _CTask: NonEagerTests and NonEagerCTaskTests are then the same
        # class twice.  Keep one, preferring the one named after the C type.
        sig = plan.signature()
        if sig in plans and not re.search(r"C(Task|Future)", obj.__name__):
            continue
        plans[sig] = plan
    return list(plans.values())


def mirror_module(short_name, namespace):
    """Fill a test module's namespace with the mirrors of test.test_asyncio.<short_name>."""
    try:
        mod = importlib.import_module("test.test_asyncio." + short_name)
    except ModuleNotFoundError as e:
        if e.name != "test.test_asyncio." + short_name:
            raise
        raise unittest.SkipTest(f"Python {PY} has no test.test_asyncio.{short_name}")
    if hasattr(mod, "tearDownModule"):
        namespace["tearDownModule"] = mod.tearDownModule
    for plan in c_variant_plans(mod):
        for impl in implementations():
            cls = _make_class(plan, impl, namespace["__name__"])
            namespace[cls.__name__] = cls
    return mod
