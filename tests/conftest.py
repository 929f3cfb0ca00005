"""Suite-wide pytest set-up: where asyncio_c is imported from, and the GC freeze between test
modules (below).  Fixtures live elsewhere."""
import gc
import importlib.util
import os
import sys

import pytest

# The venvs of scripts/venvs.sh already put the checkout on sys.path; other interpreters
# running a bare `pytest` may not.
if importlib.util.find_spec("asyncio_c") is None:
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# The runners (scripts/test.sh, scripts/debug.sh) name the directory of the build they mean
# to test; if another copy of the package wins on sys.path, the whole run would be void.
_expect = os.environ.get("ASYNCIO_C_EXPECT_BUILD")
if _expect:
    import asyncio_c._core

    _got = os.path.realpath(getattr(asyncio_c._core, "__file__", "<stand-in>"))
    if not _got.startswith(os.path.realpath(_expect) + os.sep):
        raise RuntimeError(
            f"asyncio_c._core came from {_got}, not from the build under test in {_expect}")


# The garbage collector's full collections walk every tracked object, and a pytest process
# holds a lot of them from the start: ~150k after collecting this suite (the mirrored CPython
# test modules, the items), ~85 ms per gc.collect().  CPython's own tests call gc.collect()
# hundreds of times in some cases (test_task_del_collect: one per object finalized): 20 s per
# case, and every automatic collection pays the same.  So what exists when a test module starts
# (after a collection: garbage is freed first) goes to the permanent generation, which
# collections skip.  Frozen objects are still freed by refcounting; a cycle among them that
# becomes garbage later is only kept until the process ends.  gc.get_objects() does not list
# them (tests/test_gc_cycles.py knows).  ASYNCIO_C_GC_FREEZE=0 turns this off.
_FREEZE = os.environ.get("ASYNCIO_C_GC_FREEZE", "1") != "0"
_frozen_for = [None]


def pytest_collection_finish(session):
    if _FREEZE:
        gc.collect()
        gc.freeze()


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    # Before the module's fixtures are set up; the previous module's are torn down by now.
    module = item.nodeid.split("::", 1)[0]
    if _FREEZE and module != _frozen_for[0]:
        _frozen_for[0] = module
        gc.collect()
        gc.freeze()
