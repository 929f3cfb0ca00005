"""Suite-wide pytest set-up: only where asyncio_c is imported from.  Fixtures live elsewhere."""
import importlib.util
import os
import sys

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
