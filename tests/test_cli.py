"""python -m asyncio_c [--patch] [--debug] (script.py | -m module) [args]: real subprocesses.

Plain `python script.py` / `python -m module` (same interpreter, same environment) is the
oracle for everything but the loop: sys.argv, sys.path[0], exit status and what is printed
on an uncaught exception must be the same.
"""
import json
import os
import subprocess
import sys
import textwrap

import pytest

import asyncio_c
from asyncio_c import _patch

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXAMPLES = os.path.join(REPO, "examples")
TIMEOUT = 120


def _env():
    env = dict(os.environ)
    # asyncio_c from this checkout, and no asyncio debug mode unless asked for
    env["PYTHONPATH"] = os.pathsep.join(p for p in (REPO, env.get("PYTHONPATH")) if p)
    for var in ("PYTHONASYNCIODEBUG", "PYTHONDEVMODE", "PYTHONWARNINGS"):
        env.pop(var, None)
    return env


def run(args, cwd, launcher=True):
    """`python -m asyncio_c ARGS` (or `python ARGS` with launcher=False) in cwd."""
    cmd = [sys.executable, *(["-m", "asyncio_c"] if launcher else []), *args]
    return subprocess.run(cmd, cwd=cwd, env=_env(), capture_output=True, text=True,
                          timeout=TIMEOUT)


def write(path, code):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(code))
    return path


REPORT = """\
    import asyncio, json, sys
    import asyncio_c
    from asyncio_c import _core

    async def main():
        loop = asyncio.get_running_loop()
        return dict(
            loop=type(loop).__module__ + "." + type(loop).__qualname__,
            is_ours=isinstance(loop, asyncio_c.Loop),
            debug=loop.get_debug(),
        )

    info = asyncio.run(main())
    other = asyncio.new_event_loop()
    info["new_event_loop_is_ours"] = isinstance(other, asyncio_c.Loop)
    other.close()
    info["functions"] = {
        n: ("native" if getattr(asyncio, n) is getattr(_core, n, None) and
                        getattr(asyncio.tasks, n) is getattr(asyncio, n) else
            "asyncio" if getattr(asyncio, n).__module__ == "asyncio.tasks" else "?")
        for n in ("gather", "wait", "wait_for", "shield", "sleep")}
    info["argv"] = sys.argv
    info["path0"] = sys.path[0]
    info["name"] = __name__
    info["file"] = __file__
    print(json.dumps(info))
"""


def report(proc):
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


# ---------------------------------------------------------------------------------------------
# the program runs as python would run it, on asyncio_c's loop

def test_script_runs_on_asyncio_c_loop(tmp_path):
    write(tmp_path / "prog.py", REPORT)
    ours = report(run(["prog.py"], tmp_path))
    plain = report(run(["prog.py"], tmp_path, launcher=False))
    assert ours["is_ours"] and ours["new_event_loop_is_ours"]
    assert not plain["is_ours"]
    assert ours["debug"] is False
    assert set(ours["functions"].values()) == {"asyncio"}        # no --patch: asyncio's own
    for key in ("argv", "path0", "name", "file"):
        assert ours[key] == plain[key], key


def test_argv_passthrough(tmp_path):
    write(tmp_path / "sub" / "prog.py", REPORT)
    args = ["sub/prog.py", "a", "--patch", "-m", "x", "--", "--debug", ""]
    ours = report(run(args, tmp_path))
    plain = report(run(args, tmp_path, launcher=False))
    assert ours["argv"] == plain["argv"] == args
    assert ours["path0"] == plain["path0"] == str((tmp_path / "sub").resolve())
    assert ours["functions"] == {n: "asyncio" for n in _patch.NAMES}   # "--patch" was the
    assert not ours["debug"]                                            # program's argument


def test_exit_status(tmp_path):
    write(tmp_path / "prog.py", """\
        import sys
        print("before")
        sys.exit(3)
    """)
    ours, plain = run(["prog.py"], tmp_path), run(["prog.py"], tmp_path, launcher=False)
    assert ours.returncode == plain.returncode == 3
    assert ours.stdout == plain.stdout == "before\n"


def test_exit_message(tmp_path):
    write(tmp_path / "prog.py", "import sys; sys.exit('bye')\n")
    ours, plain = run(["prog.py"], tmp_path), run(["prog.py"], tmp_path, launcher=False)
    assert ours.returncode == plain.returncode == 1
    assert ours.stderr == plain.stderr == "bye\n"


def test_uncaught_exception(tmp_path):
    write(tmp_path / "prog.py", """\
        import asyncio

        async def fail():
            await asyncio.sleep(0)
            raise ValueError("boom")

        def main():
            asyncio.run(fail())

        main()
    """)
    ours, plain = run(["prog.py"], tmp_path), run(["prog.py"], tmp_path, launcher=False)
    assert ours.returncode == plain.returncode == 1
    assert "ValueError: boom" in ours.stderr
    assert "asyncio_c/__main__.py" not in ours.stderr and "runpy" not in ours.stderr
    # The same traceback but for asyncio's own frames (runners.py and base_events.py of
    # asyncio's loop vs asyncio_c's loop class): compare the program's frames and the error.
    def program_lines(text):
        lines = text.splitlines()
        keep, skip_source = [], False
        for line in lines:
            if line.startswith('  File "'):
                skip_source = str(tmp_path) not in line
                if skip_source:
                    continue
            elif line.startswith("    ") and skip_source:
                continue
            keep.append(line)
        return keep
    assert program_lines(ours.stderr) == program_lines(plain.stderr)
    assert ours.stderr.splitlines()[0] == "Traceback (most recent call last):"


def test_uncaught_exception_traceback_identical(tmp_path):
    write(tmp_path / "prog.py", """\
        def f():
            1 / 0

        f()
    """)
    ours, plain = run(["prog.py"], tmp_path), run(["prog.py"], tmp_path, launcher=False)
    assert ours.returncode == plain.returncode == 1
    assert ours.stderr == plain.stderr


def test_syntax_error(tmp_path):
    write(tmp_path / "prog.py", "x = (\n")
    ours, plain = run(["prog.py"], tmp_path), run(["prog.py"], tmp_path, launcher=False)
    assert ours.returncode == plain.returncode == 1
    assert ours.stderr == plain.stderr


def test_keyboard_interrupt(tmp_path):
    write(tmp_path / "prog.py", "raise KeyboardInterrupt\n")
    ours, plain = run(["prog.py"], tmp_path), run(["prog.py"], tmp_path, launcher=False)
    assert ours.returncode == plain.returncode      # killed by SIGINT, as python does
    assert ours.stderr == plain.stderr


def test_missing_script(tmp_path):
    ours, plain = run(["nope.py"], tmp_path), run(["nope.py"], tmp_path, launcher=False)
    assert ours.returncode == plain.returncode == 2
    assert ours.stderr == plain.stderr


# ---------------------------------------------------------------------------------------------
# -m module

def test_module(tmp_path):
    write(tmp_path / "pkg" / "__init__.py", "")
    write(tmp_path / "pkg" / "prog.py", REPORT)
    ours = report(run(["-m", "pkg.prog", "x", "-y"], tmp_path))
    plain = report(run(["-m", "pkg.prog", "x", "-y"], tmp_path, launcher=False))
    assert ours["is_ours"] and not plain["is_ours"]
    assert ours["argv"] == plain["argv"] == [str(tmp_path / "pkg" / "prog.py"), "x", "-y"]
    for key in ("path0", "name", "file"):
        assert ours[key] == plain[key], key


def test_module_package_main(tmp_path):
    write(tmp_path / "pkg" / "__init__.py", "")
    write(tmp_path / "pkg" / "__main__.py", REPORT)
    ours = report(run(["-m", "pkg", "1"], tmp_path))
    plain = report(run(["-m", "pkg", "1"], tmp_path, launcher=False))
    assert ours["argv"] == plain["argv"]
    assert ours["is_ours"]


def test_module_exit_and_exception(tmp_path):
    write(tmp_path / "m_exit.py", "import sys; sys.exit(3)\n")
    write(tmp_path / "m_err.py", "def f():\n    raise KeyError('k')\nf()\n")
    assert run(["-m", "m_exit"], tmp_path).returncode == 3
    ours, plain = run(["-m", "m_err"], tmp_path), run(["-m", "m_err"], tmp_path, launcher=False)
    assert ours.returncode == plain.returncode == 1
    # python -m also shows two frames of <frozen runpy> (its own launcher); ours shows none
    plain_err = "\n".join(line for line in plain.stderr.splitlines() if "runpy" not in line)
    assert ours.stderr.rstrip("\n") == plain_err.rstrip("\n")


def test_missing_module(tmp_path):
    ours, plain = run(["-m", "no_such_mod"], tmp_path), run(["-m", "no_such_mod"], tmp_path,
                                                            launcher=False)
    assert ours.returncode == plain.returncode == 1
    assert ours.stderr == plain.stderr


# ---------------------------------------------------------------------------------------------
# options

def test_patch_option(tmp_path):
    write(tmp_path / "prog.py", REPORT)
    ours = report(run(["--patch", "prog.py"], tmp_path))
    present = set(_patch.natives())
    assert ours["functions"] == {n: "native" if n in present else "asyncio"
                                 for n in _patch.NAMES}
    assert ours["is_ours"]


def test_debug_option(tmp_path):
    write(tmp_path / "prog.py", REPORT)
    assert report(run(["--debug", "prog.py"], tmp_path))["debug"] is True
    both = report(run(["--debug", "--patch", "-m", "prog"], tmp_path))
    assert both["debug"] is True and both["is_ours"]


def test_help():
    proc = run(["--help"], REPO)
    assert proc.returncode == 0
    assert "python -m asyncio_c" in proc.stdout and "--patch" in proc.stdout


@pytest.mark.parametrize("args", [[], ["--bogus", "x.py"], ["--patch"], ["-m"]])
def test_usage_errors(args):
    proc = run(args, REPO)
    assert proc.returncode == 2
    assert proc.stderr.startswith("usage: python -m asyncio_c")


# ---------------------------------------------------------------------------------------------
# a seed example, as python runs it and through the launcher

EXAMPLE = "seed01_minimum_gather.py"        # asyncio.gather + asyncio.sleep, about 1 s


@pytest.mark.parametrize("options", [[], ["--patch"]], ids=["plain", "patch"])
def test_example(options):
    path = os.path.join(EXAMPLES, EXAMPLE)
    ours = run([*options, path], REPO)
    plain = run([path], REPO, launcher=False)
    assert ours.returncode == plain.returncode == 0, ours.stderr
    assert ours.stdout == plain.stdout
    assert ours.stdout.split() == ["One"] * 3 + ["Two"] * 3
    assert ours.stderr == plain.stderr == ""

