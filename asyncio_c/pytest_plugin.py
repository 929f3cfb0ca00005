"""pytest plugin: pytest-asyncio's tests and async fixtures on asyncio_c's loop.

Off unless asked for, so that having asyncio_c installed changes nobody's
loops:

    pytest --asyncio-c                       # this run
    [pytest] asyncio_c = true                # or in the ini file (pyproject:
                                             # [tool.pytest.ini_options])

The plugin is loaded automatically once asyncio_c is installed (entry point
in the pytest11 group); from a checkout, or with plugin autoloading off, load
it by hand: `pytest -p asyncio_c.pytest_plugin --asyncio-c`.

What it does when on: it implements pytest-asyncio's
pytest_asyncio_loop_factories hook (pytest-asyncio 1.4 and later) with the
single factory asyncio_c.new_event_loop, so each loop pytest-asyncio makes,
whatever its loop_scope, is an asyncio_c loop, and test ids do not change.
The hook implementation is trylast: a conftest.py of the project that
implements the hook itself (e.g. to run every test on both loops, see the
README) wins.
"""
import pytest

_HOOK = "pytest_asyncio_loop_factories"


def pytest_addoption(parser):
    group = parser.getgroup("asyncio_c")
    group.addoption(
        "--asyncio-c", dest="asyncio_c", action="store_true", default=None,
        help="run pytest-asyncio tests on asyncio_c's event loop "
             "(default: the ini value asyncio_c, false)")
    parser.addini(
        "asyncio_c", type="bool", default=False,
        help="run pytest-asyncio tests on asyncio_c's event loop")


def enabled(config):
    """Whether this run asked for asyncio_c's loop (option, else ini)."""
    opt = config.getoption("asyncio_c", None)
    if opt is not None:
        return bool(opt)
    return bool(config.getini("asyncio_c"))


class LoopFactories:
    """The hook implementation, registered only when enabled()."""

    @pytest.hookimpl(trylast=True)
    def pytest_asyncio_loop_factories(self, config, item):
        import asyncio_c
        return {"asyncio_c": asyncio_c.new_event_loop}


def pytest_configure(config):
    if not enabled(config):
        return
    if not hasattr(config.pluginmanager.hook, _HOOK):
        raise pytest.UsageError(
            "--asyncio-c / asyncio_c = true needs pytest-asyncio 1.4 or later "
            "(its pytest_asyncio_loop_factories hook); with an older "
            "pytest-asyncio override its event_loop_policy fixture instead "
            "(asyncio_c's README, 'Test runners')")
    config.pluginmanager.register(LoopFactories(), "asyncio_c-loop-factories")
