"""Checks of the conformance harness itself: that what runs as "ours" really is ours.

A mirror that silently kept asyncio's own _CTask/_CFuture would pass every test and prove
nothing; these tests fail if a substitution did not happen, if a C-implementation class of
CPython's test modules was not mirrored, or if CPython's own classes would be collected.
"""
import asyncio
import importlib
import re
import unittest

import pytest

from . import _mirror

MODULES = ("test_futures", "test_futures2", "test_tasks", "test_eager_task_factory")
# CPython's names for its C-implementation classes: CFutureTests, CSubFutureTests,
# CTask_CFuture_Tests, PyTask_CFutureSubclass_Tests, NonEagerCTaskTests, CIntrospectionTests...
C_CLASS_NAME = re.compile(r"^C[A-Z]|C(Task|Future)")


def _ours_is_asyncio():
    return _mirror.OURS_IS_ASYNCIO


def _load(short):
    """(CPython's module, our mirror module) or skip if this Python lacks the module."""
    try:
        cpython = importlib.import_module("test.test_asyncio." + short)
    except ModuleNotFoundError:
        pytest.skip(f"no test.test_asyncio.{short} on this Python")
    ours = importlib.import_module(f"{__package__}.test_cpython_{short.removeprefix('test_')}")
    return cpython, ours


def _generated(short, impl="ours"):
    return [cls for key, origin, cls in _mirror.GENERATED
            if key == impl and origin.startswith(short + ".")]


@pytest.mark.parametrize("short", MODULES)
def test_only_generated_classes_are_collected(short):
    cpython, ours = _load(short)
    cases = {name: obj for name, obj in vars(ours).items()
             if isinstance(obj, type) and issubclass(obj, unittest.TestCase)}
    assert cases, "nothing was mirrored"
    for name, cls in cases.items():
        assert name.startswith(("Ours_", "Ref_")), f"{name} would be collected"
        assert cls.__module__ == ours.__name__
        assert getattr(cpython, name, None) is not cls


@pytest.mark.parametrize("short", MODULES)
def test_every_c_class_is_mirrored(short):
    cpython, _ = _load(short)
    c_classes = {name for name, obj in vars(cpython).items()
                 if isinstance(obj, type) and issubclass(obj, unittest.TestCase)
                 and obj.__module__ == cpython.__name__ and C_CLASS_NAME.search(name)}
    mirrored = {cls.conformance_origin.split(".")[1] for cls in _generated(short)}
    assert c_classes, "CPython's C-implementation classes not found: naming changed?"
    assert c_classes <= mirrored, f"not mirrored: {sorted(c_classes - mirrored)}"


def _is_ours(t, base):
    """t is ours (or a subclass the test defined on ours), and not asyncio's C type."""
    if not (isinstance(t, type) and issubclass(t, base)):
        return False
    if _ours_is_asyncio():
        return True
    return not issubclass(t, _mirror.C_TYPES)


@pytest.mark.parametrize("short", MODULES)
def test_substituted_attributes_are_ours(short):
    _load(short)
    checked = 0
    for cls in _generated(short):
        for name in ("Task", "Future", "cls"):
            value = vars(cls).get(name)
            if isinstance(value, type) and name in ("Task", "Future"):
                assert _is_ours(value, getattr(_mirror.OURS, name)), (cls, name, value)
                checked += 1
            elif isinstance(value, type):      # test_futures: a Future; test_futures2: a Task
                assert _is_ours(value, (_mirror.OURS.Future, _mirror.OURS.Task)), (cls, value)
                checked += 1
            # Python-implementation halves (PyTask_..., ..._PyFuture) stay asyncio's
        for name, value in vars(cls).items():
            g = getattr(value, "__globals__", None)
            if g is None:
                continue
            if "tasks" in g:
                assert g["tasks"]._CTask is _mirror.OURS.Task, (cls, name)
                checked += 1
            if "futures" in g:
                assert g["futures"]._CFuture is _mirror.OURS.Future, (cls, name)
                checked += 1
    assert checked


class _Probe:
    """Stands in for a test case instance where only self.loop is used."""

    def __init__(self, loop):
        self.loop = loop


def test_rebound_methods_create_ours():
    loop = asyncio.new_event_loop()
    try:
        seen = 0
        for cls in _generated("test_futures"):
            if "_new_future" in vars(cls):
                fut = cls._new_future(_Probe(loop))
                assert _is_ours(type(fut), _mirror.OURS.Future), (cls, type(fut))
                seen += 1
            if "_get_future_cls" in vars(cls):
                assert cls._get_future_cls(_Probe(loop)) is _mirror.OURS.Future
                seen += 1
        for cls in _generated("test_tasks"):
            if "new_task" in vars(cls) and cls.__name__.endswith("CurrentLoopTests"):
                async def coro():
                    return 42
                task = cls.new_task(_Probe(loop), coro())
                assert _is_ours(type(task), _mirror.OURS.Task), (cls, type(task))
                assert loop.run_until_complete(task) == 42
                seen += 1
        assert seen >= 4
    finally:
        loop.close()


def test_loop_variant_uses_our_loop():
    cls = next((c for c in _generated("test_tasks")
                if c.conformance_origin == "test_tasks.CTask_Future_Tests"), None)
    if cls is None:
        pytest.skip("no CTask_Future_Tests on this Python")
    test = cls.__dict__["test_foobar"]
    view = test.__globals__["asyncio"]
    assert view.new_event_loop is _mirror.OURS.new_event_loop
    loop = view.new_event_loop()
    try:
        async def coro():
            return 1
        task = loop.create_task(coro())
        assert _is_ours(type(task), _mirror.OURS.Task), type(task)
        loop.run_until_complete(task)
    finally:
        loop.close()
