"""Test runners on asyncio_c's loop: real pytest + pytest-asyncio, real `python -m unittest`.

Each case writes a small test project into tmp_path and runs the real tool on it in a
subprocess (same interpreter, this checkout's asyncio_c on PYTHONPATH), the way a user would:

* pytest-asyncio with asyncio_c's plugin (asyncio_c/pytest_plugin.py): `--asyncio-c`, the ini
  value `asyncio_c = true`, the plugin loaded through its pytest11 entry point (as declared in
  pyproject.toml) or by `-p`; off when not asked for (the loop is then asyncio's: the oracle);
  the README's conftest recipes (pytest_asyncio_loop_factories hook with both loops, and the
  older event_loop_policy fixture).
* unittest.IsolatedAsyncioTestCase: the policy installed in setUpModule, the loop_factory class
  attribute (3.13+), `python -m asyncio_c -m unittest`; plain `python -m unittest` as the oracle.

The inner tests record, per test, the type of the running loop and of the current task and
which loop object it was; the outer tests check them.  All the subprocesses of this module
start together (one fixture) so that the module costs about as long as its slowest run.
"""
import json
import os
import subprocess
import sys
import textwrap

import pytest

from _loop_helpers import child_env

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TIMEOUT = 180
PY313 = sys.version_info >= (3, 13)

OURS = ("asyncio_c._loop.Loop", "asyncio_c._core.Task")


def _qualname(tp):
    return f"{tp.__module__}.{tp.__qualname__}"


def _asyncio_types():
    import asyncio
    loop = asyncio.new_event_loop()
    try:
        return (_qualname(type(loop)), _qualname(asyncio.Task))
    finally:
        loop.close()


THEIRS = _asyncio_types()

# --------------------------------------------------------------------------------------------
# The inner pytest-asyncio project

RECORD = """\
    import asyncio, json, os

    _loops = []     # every loop seen stays alive: its index names it

    def record(what=None):
        loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        if not any(l is loop for l in _loops):
            _loops.append(loop)
        idx = next(i for i, l in enumerate(_loops) if l is loop)
        q = lambda tp: tp.__module__ + "." + tp.__qualname__
        with open(os.environ["AC_LOG"], "a") as f:
            f.write(json.dumps(dict(
                what=what or os.environ["PYTEST_CURRENT_TEST"].split(" ")[0],
                loop=q(type(loop)), task=q(type(task)), loop_idx=idx)) + "\\n")
        return loop
"""

PYTEST_TESTS = """\
    import asyncio
    import pytest
    import pytest_asyncio
    from _record import record

    @pytest_asyncio.fixture(scope="module", loop_scope="module")
    async def module_fixture():
        loop = record("module_fixture")
        yield loop
        record("module_fixture_teardown")

    @pytest_asyncio.fixture
    async def function_fixture():
        loop = record("function_fixture")
        yield loop

    async def child():
        await asyncio.sleep(0)
        return type(asyncio.current_task())

    @pytest.mark.asyncio
    async def test_function_a(function_fixture):
        assert record() is function_fixture
        task = asyncio.create_task(child())
        assert await task is type(task)
        assert await asyncio.gather(child(), child()) == [type(task)] * 2

    @pytest.mark.asyncio
    async def test_function_b():
        record()

    @pytest.mark.asyncio(loop_scope="module")
    async def test_module_a(module_fixture):
        assert record() is module_fixture

    @pytest.mark.asyncio(loop_scope="module")
    async def test_module_b(module_fixture):
        assert record() is module_fixture
"""

FUNCTION_TESTS = ("test_function_a", "test_function_b")
MODULE_TESTS = ("test_module_a", "test_module_b")

CONFTEST_BOTH = """\
    import asyncio
    import asyncio_c

    def pytest_asyncio_loop_factories(config, item):
        return {"asyncio": asyncio.new_event_loop, "asyncio_c": asyncio_c.new_event_loop}
"""

CONFTEST_POLICY = """\
    import pytest
    import asyncio_c

    @pytest.fixture(scope="session")
    def event_loop_policy():
        return asyncio_c.EventLoopPolicy()
"""

INI = "[pytest]\nasyncio_default_fixture_loop_scope = function\n"


def _entry_point_site(root):
    """A directory for sys.path holding a dist-info with pyproject.toml's pytest11 entry
    points, as an installed asyncio_c has them (pytest autoloads plugins from there)."""
    import tomllib
    with open(os.path.join(REPO, "pyproject.toml"), "rb") as f:
        eps = tomllib.load(f)["project"]["entry-points"]["pytest11"]
    info = root / "site" / "asyncio_c_entrypoints-0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: asyncio-c-entrypoints\nVersion: 0\n")
    (info / "entry_points.txt").write_text(
        "[pytest11]\n" + "".join(f"{k} = {v}\n" for k, v in eps.items()))
    return str(root / "site")


def _env(root, extra_path=()):
    env = child_env(AC_LOG=str(root / "log.jsonl"))     # the asyncio_c under test first
    env["PYTHONPATH"] = os.pathsep.join([*extra_path, env["PYTHONPATH"]])
    for var in ("PYTEST_ADDOPTS", "PYTEST_PLUGINS", "PYTEST_DISABLE_PLUGIN_AUTOLOAD"):
        env.pop(var, None)
    return env


def _write(path, code):
    path.write_text(textwrap.dedent(code))


# name -> (pytest args, ini lines, conftest, uses the entry point)
# Without the entry point, plugin autoloading is off (pytest-asyncio named by -p): the venv's
# other plugins (hypothesis's takes 0.7 s to import) are not part of the matter.
PYTEST_CASES = {
    "option": (["-p", "asyncio_c.pytest_plugin", "--asyncio-c"], "", None, False),
    "ini_entry_point": ([], "asyncio_c = true\n", None, True),
    # autoloaded AND named by -p (as README says for a checkout): one plugin; off unless asked
    "off": (["-p", "asyncio_c.pytest_plugin"], "", None, True),
    "conftest_both_loops": ([], "", CONFTEST_BOTH, False),
    "conftest_policy_fixture": (["-W", "ignore::DeprecationWarning"], "", CONFTEST_POLICY,
                                False),
    "without_pytest_asyncio": (["-p", "asyncio_c.pytest_plugin", "-p", "no:asyncio",
                                "--asyncio-c"], "", None, False),
}


def _start_pytest(root, args, ini, conftest, entry_point):
    root.mkdir()
    (root / "pytest.ini").write_text(INI + ini)
    _write(root / "_record.py", RECORD)
    _write(root / "test_inner.py", PYTEST_TESTS)
    if conftest:
        _write(root / "conftest.py", conftest)
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"]
    if entry_point:
        env = _env(root, [_entry_point_site(root)])
        cmd += ["-p", "no:hypothesispytest"]
    else:
        env = _env(root)
        env["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
        if "no:asyncio" not in args:
            cmd += ["-p", "asyncio"]
    cmd += args
    return subprocess.Popen(cmd, cwd=root, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


# --------------------------------------------------------------------------------------------
# The inner unittest projects

UNITTEST_BODY = """\
    class T(unittest.IsolatedAsyncioTestCase):
        LOOP_FACTORY

        async def asyncSetUp(self):
            self.loop = asyncio.get_running_loop()
            self.assertEqual(type(self.loop).__module__ + "." + type(self.loop).__qualname__,
                             EXPECT[0])
            self.addAsyncCleanup(self.cleanup)
            self.cleaned = []

        async def cleanup(self):
            self.assertIs(asyncio.get_running_loop(), self.loop)

        async def test_task_types(self):
            self.assertIs(asyncio.get_running_loop(), self.loop)
            t = type(asyncio.current_task())
            self.assertEqual(t.__module__ + "." + t.__qualname__, EXPECT[1])
            child = asyncio.create_task(asyncio.sleep(0, result=7))
            self.assertEqual(await child, 7)
            self.assertIs(type(child), t)

        async def test_left_running_task_is_cancelled(self):
            # the runner cancels it at the end of the test, on the same loop
            type(self).forever = asyncio.create_task(asyncio.sleep(3600))
            await asyncio.sleep(0)

        def test_sync(self):
            self.assertTrue(True)

        @classmethod
        def tearDownClass(cls):
            assert cls.forever.cancelled(), cls.forever

    if __name__ == "__main__":
        unittest.main()
"""

UNITTEST_HEAD = """\
    import asyncio, json, os, sys, unittest
    EXPECT = json.loads(os.environ["AC_EXPECT"])
"""

UNITTEST_POLICY = UNITTEST_HEAD + """\
    import asyncio_c

    def setUpModule():
        asyncio_c.install()

    def tearDownModule():
        asyncio.set_event_loop_policy(None)

""" + UNITTEST_BODY.replace("LOOP_FACTORY", "pass")

UNITTEST_LOOP_FACTORY = UNITTEST_HEAD + """\
    import asyncio_c

""" + UNITTEST_BODY.replace(
    # a class, as asyncio.EventLoop in CPython's docs: a function (asyncio_c.new_event_loop)
    # would be bound as a method and called with the test case as argument
    "LOOP_FACTORY", "loop_factory = asyncio_c.Loop")

UNITTEST_PLAIN = UNITTEST_HEAD + "\n" + UNITTEST_BODY.replace("LOOP_FACTORY", "pass")

# name -> (file text, launcher args, expected types)
UNITTEST_CASES = {
    "setUpModule_policy": (UNITTEST_POLICY, [], OURS),
    "loop_factory_attribute": (UNITTEST_LOOP_FACTORY, [], OURS),
    "python_m_asyncio_c": (UNITTEST_PLAIN, ["-m", "asyncio_c"], OURS),
    "plain_oracle": (UNITTEST_PLAIN, [], THEIRS),
}


def _start_unittest(root, text, launcher, expect):
    root.mkdir()
    _write(root / "test_inner.py", text)
    env = _env(root)
    env["AC_EXPECT"] = json.dumps(expect)
    cmd = [sys.executable, *launcher, "-m", "unittest", "-v", "test_inner"]
    return subprocess.Popen(cmd, cwd=root, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


# --------------------------------------------------------------------------------------------

class Run:
    def __init__(self, root, proc):
        self.root, self.proc = root, proc
        self.out = None

    def wait(self):
        if self.out is None:
            try:
                self.out, _ = self.proc.communicate(timeout=TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.out = self.proc.communicate()[0] + "\n(TIMED OUT)"
        return self

    def records(self):
        log = self.root / "log.jsonl"
        if not log.exists():
            return []
        return [json.loads(line) for line in log.read_text().splitlines()]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    base = tmp_path_factory.mktemp("runners")
    started = {}
    try:
        for name, (args, ini, conftest, ep) in PYTEST_CASES.items():
            root = base / f"pytest_{name}"
            started["pytest_" + name] = Run(root, _start_pytest(root, args, ini, conftest, ep))
        for name, (text, launcher, expect) in UNITTEST_CASES.items():
            if name == "loop_factory_attribute" and not PY313:
                continue
            root = base / f"unittest_{name}"
            started["unittest_" + name] = Run(root, _start_unittest(root, text, launcher,
                                                                    expect))
        yield started
    finally:
        for run in started.values():
            run.wait()


def _by_name(records):
    out = {}
    for r in records:
        out.setdefault(r["what"].split("::")[-1], []).append(r)
    return out


def _check_single_loop(run, expect):
    out = run.wait().out
    assert run.proc.returncode == 0, out
    assert "4 passed" in out, out
    recs = _by_name(run.records())
    for name, rs in recs.items():
        for r in rs:
            assert (r["loop"], r["task"]) == expect, (name, r)
    # function scope: a loop per test, its fixture on the same one
    f_loops = [recs[n][0]["loop_idx"] for n in FUNCTION_TESTS]
    assert len(set(f_loops)) == 2
    assert recs["function_fixture"][0]["loop_idx"] == f_loops[0]
    # module scope: one loop for both tests and the module fixture (set-up and teardown)
    m_loops = {recs[n][0]["loop_idx"] for n in
               (*MODULE_TESTS, "module_fixture", "module_fixture_teardown")}
    assert len(m_loops) == 1 and not m_loops & set(f_loops)


@pytest.mark.parametrize("case", ["option", "ini_entry_point"])
def test_pytest_asyncio_on_asyncio_c(runs, case):
    _check_single_loop(runs["pytest_" + case], OURS)


def test_pytest_asyncio_plugin_off_is_asyncio(runs):
    _check_single_loop(runs["pytest_off"], THEIRS)


def test_pytest_asyncio_conftest_policy_fixture(runs):
    # the recipe for pytest-asyncio before 1.4 (deprecated, still working, in 1.4+)
    _check_single_loop(runs["pytest_conftest_policy_fixture"], OURS)


def test_pytest_asyncio_conftest_both_loops(runs):
    run = runs["pytest_conftest_both_loops"].wait()
    assert run.proc.returncode == 0, run.out
    assert "8 passed" in run.out, run.out
    recs = _by_name(run.records())
    for name in (*FUNCTION_TESTS, *MODULE_TESTS):
        got = {}
        for r in recs[name + "[asyncio]"] + recs[name + "[asyncio_c]"]:
            got[r["what"].rsplit("[", 1)[1]] = (r["loop"], r["task"])
        assert got == {"asyncio]": THEIRS, "asyncio_c]": OURS}, (name, got)


def test_pytest_asyncio_c_without_pytest_asyncio_is_a_usage_error(runs):
    run = runs["pytest_without_pytest_asyncio"].wait()
    assert run.proc.returncode == 4, run.out     # pytest.ExitCode.USAGE_ERROR
    assert "needs pytest-asyncio" in run.out, run.out


@pytest.mark.parametrize("case", list(UNITTEST_CASES))
def test_isolated_asyncio_test_case(runs, case):
    if case == "loop_factory_attribute" and not PY313:
        pytest.skip("IsolatedAsyncioTestCase.loop_factory is new in Python 3.13")
    run = runs["unittest_" + case].wait()
    assert run.proc.returncode == 0, run.out
    assert "Ran 3 tests" in run.out and "\nOK" in run.out, run.out
