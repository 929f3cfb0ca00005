"""The refleak plugin (tests/_refleak.py) itself: it must fail a test that leaks a reference or
an fd, pass a clean one, re-make function fixtures each run and keep module ones, and refuse a
non-debug interpreter.  Each case runs a tiny pytest session in a subprocess; the ones that
need a debug interpreter use the venv scripts/refleak.sh makes (.venv/3.11d) and skip without it.
"""
import os
import re
import subprocess
import sys
import textwrap

import pytest

TESTS = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(TESTS)


def _debug_python():
    for cand in (os.environ.get("ASYNCIO_C_REFLEAK_VENV_PYTHON"),
                 os.path.join(REPO, ".venv", "3.11d", "bin", "python")):
        if cand and os.access(cand, os.X_OK):
            ok = subprocess.run(
                [cand, "-c", "import sys, pytest; assert hasattr(sys, 'gettotalrefcount')"],
                capture_output=True).returncode == 0
            if ok:
                return cand
    return None


SESSION = textwrap.dedent("""
    import ctypes, os, pytest

    made = {"module": 0, "function": 0}

    @pytest.fixture(scope="module")
    def modfix():
        made["module"] += 1
        return made

    @pytest.fixture
    def fnfix(modfix):
        made["function"] += 1
        yield []

    def test_leaks_a_reference():
        # A C-level leak: one reference to a new object, never given back.
        ctypes.pythonapi.Py_IncRef(ctypes.py_object(object()))

    def test_leaks_an_fd():
        os.open(os.devnull, os.O_RDONLY)

    def test_clean(fnfix):
        fnfix.append([object() for _ in range(100)])

    runs = [0]

    def test_warns_each_run():
        # A new message each run (as an unclosed socket's address): pytest's catch_warnings
        # records every run's; the plugin keeps the first run's records only.
        runs[0] += 1
        class Source:
            pass
        import warnings
        warnings.warn(f"unclosed thing {runs[0]}", ResourceWarning, source=Source())

    def test_records_a_property(record_property):
        # pytest appends to the item's user_properties each run; the plugin keeps the first.
        record_property("runs", runs[0])

    @pytest.mark.timeout(1)
    def test_own_timeout_is_for_one_run():
        # 5 runs of 0.3 s: over its own mark, within the session's --timeout.
        import time
        time.sleep(0.3)

    def test_counts(modfix):
        print("COUNTS", made["module"], made["function"])

    def test_fails():
        assert 0, "plain failure"
""")


def _run(python, tmp_path, *args):
    (tmp_path / "test_session.py").write_text(SESSION)
    env = dict(os.environ, PYTHONPATH=TESTS)
    env.pop("PYTEST_ADDOPTS", None)
    return subprocess.run(
        [python, "-m", "pytest", "-p", "_refleak", "-p", "no:cacheprovider", "-q", "-s",
         "-p", "no:asyncio", "-p", "no:hypothesispytest", "--rootdir", str(tmp_path),
         *args, str(tmp_path / "test_session.py")],
        capture_output=True, text=True, cwd=tmp_path, env=env, timeout=300)


def test_refuses_a_non_debug_interpreter(tmp_path):
    if hasattr(sys, "gettotalrefcount"):
        pytest.skip("this interpreter is a debug build")
    proc = _run(sys.executable, tmp_path)
    assert proc.returncode == 4, proc.stdout + proc.stderr     # pytest's usage error
    assert "needs a debug build of CPython" in proc.stderr


def test_finds_leaks_and_passes_clean_tests(tmp_path):
    python = _debug_python()
    if python is None:
        pytest.skip("no debug interpreter venv (.venv/3.11d: run scripts/refleak.sh once)")
    proc = _run(python, tmp_path, "--refleak=1:3", "--refleak-retries=0", "--timeout=60")
    out = proc.stdout
    assert proc.returncode == 1, out + proc.stderr
    assert "FAILED test_session.py::test_leaks_a_reference - REFERENCE LEAK" in out
    # one reference per run (the first measured run may also see a cache filling)
    assert re.search(r"references \[\d+, 1, 1\]", out), out
    assert "FAILED test_session.py::test_leaks_an_fd - REFERENCE LEAK" in out
    assert "file descriptors [1, 1, 1]" in out
    assert "FAILED test_session.py::test_fails - AssertionError: plain failure" in out
    assert "LEAK: test_session.py::test_clean" not in out
    assert "LEAK: test_session.py::test_warns_each_run" not in out
    assert "LEAK: test_session.py::test_records_a_property" not in out
    assert "3 failed, 5 passed" in out
    # test_clean ran 1+3 measured runs and one final run: its function fixture was made
    # each time, the module fixture once for the whole module.
    assert "COUNTS 1 5" in out, out

    proc = _run(python, tmp_path, "--refleak=0")     # the off switch: one plain run each
    assert "1 failed, 7 passed" in proc.stdout, proc.stdout + proc.stderr
