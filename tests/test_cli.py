"""python -m asyncio_c [--patch] [--debug] (script.py | -m module) [args]: real subprocesses.

Plain `python script.py` / `python -m module` (same interpreter, same environment) is the
oracle for everything but the loop: sys.argv, sys.path[0], exit status and what is printed
on an uncaught exception must be the same.
"""
import concurrent.futures
import json
import os
import py_compile
import re
import signal
import subprocess
import sys
import textwrap
import zipfile

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


def run(args, cwd, launcher=True, input=None):
    """`python -m asyncio_c ARGS` (or `python ARGS` with launcher=False) in cwd."""
    cmd = [sys.executable, *(["-m", "asyncio_c"] if launcher else []), *args]
    return subprocess.run(cmd, cwd=cwd, env=_env(), capture_output=True, text=True,
                          timeout=TIMEOUT, input=input)


def run_both(args, cwd, input=None):
    """(ours, plain): the launcher and plain python, side by side."""
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        ours = pool.submit(run, args, cwd, True, input)
        plain = pool.submit(run, args, cwd, False, input)
        return ours.result(), plain.result()


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
    ours, plain = map(report, run_both(["prog.py"], tmp_path))
    assert ours["is_ours"] and ours["new_event_loop_is_ours"]
    assert not plain["is_ours"]
    assert ours["debug"] is False
    assert set(ours["functions"].values()) == {"asyncio"}        # no --patch: asyncio's own
    for key in ("argv", "path0", "name", "file"):
        assert ours[key] == plain[key], key


def test_argv_passthrough(tmp_path):
    write(tmp_path / "sub" / "prog.py", REPORT)
    args = ["sub/prog.py", "a", "--patch", "-m", "x", "--", "--debug", ""]
    ours, plain = map(report, run_both(args, tmp_path))
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
    ours, plain = run_both(["prog.py"], tmp_path)
    assert ours.returncode == plain.returncode == 3
    assert ours.stdout == plain.stdout == "before\n"


def test_exit_message(tmp_path):
    write(tmp_path / "prog.py", "import sys; sys.exit('bye')\n")
    ours, plain = run_both(["prog.py"], tmp_path)
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
    ours, plain = run_both(["prog.py"], tmp_path)
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
    ours, plain = run_both(["prog.py"], tmp_path)
    assert ours.returncode == plain.returncode == 1
    assert ours.stderr == plain.stderr


def test_syntax_error(tmp_path):
    write(tmp_path / "prog.py", "x = (\n")
    ours, plain = run_both(["prog.py"], tmp_path)
    assert ours.returncode == plain.returncode == 1
    assert ours.stderr == plain.stderr


def test_keyboard_interrupt(tmp_path):
    write(tmp_path / "prog.py", "raise KeyboardInterrupt\n")
    ours, plain = run_both(["prog.py"], tmp_path)
    assert ours.returncode == plain.returncode      # killed by SIGINT, as python does
    assert ours.stderr == plain.stderr


def test_missing_script(tmp_path):
    ours, plain = run_both(["nope.py"], tmp_path)
    assert ours.returncode == plain.returncode == 2
    assert ours.stderr == plain.stderr


# ---------------------------------------------------------------------------------------------
# -m module

def test_module(tmp_path):
    write(tmp_path / "pkg" / "__init__.py", "")
    write(tmp_path / "pkg" / "prog.py", REPORT)
    ours, plain = map(report, run_both(["-m", "pkg.prog", "x", "-y"], tmp_path))
    assert ours["is_ours"] and not plain["is_ours"]
    assert ours["argv"] == plain["argv"] == [str(tmp_path / "pkg" / "prog.py"), "x", "-y"]
    for key in ("path0", "name", "file"):
        assert ours[key] == plain[key], key


def test_module_package_main(tmp_path):
    write(tmp_path / "pkg" / "__init__.py", "")
    write(tmp_path / "pkg" / "__main__.py", REPORT)
    ours, plain = map(report, run_both(["-m", "pkg", "1"], tmp_path))
    assert ours["argv"] == plain["argv"]
    assert ours["is_ours"]


def test_module_exit_and_exception(tmp_path):
    write(tmp_path / "m_exit.py", "import sys; sys.exit(3)\n")
    write(tmp_path / "m_err.py", "def f():\n    raise KeyError('k')\nf()\n")
    assert run(["-m", "m_exit"], tmp_path).returncode == 3
    ours, plain = run_both(["-m", "m_err"], tmp_path)
    assert ours.returncode == plain.returncode == 1
    # python -m also shows two frames of <frozen runpy> (its own launcher); ours shows none
    plain_err = "\n".join(line for line in plain.stderr.splitlines() if "runpy" not in line)
    assert ours.stderr.rstrip("\n") == plain_err.rstrip("\n")


def test_missing_module(tmp_path):
    ours, plain = run_both(["-m", "no_such_mod"], tmp_path)
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


@pytest.mark.parametrize("args", [[], ["--bogus", "x.py"], ["--patch"], ["-m"], ["-c"], ["--debug", "-c"]])
def test_usage_errors(args):
    proc = run(args, REPO)
    assert proc.returncode == 2
    assert proc.stderr.startswith("usage: python -m asyncio_c")


# ---------------------------------------------------------------------------------------------
# what else python runs: __main__ as python makes it for each kind of program

MAIN_INFO = """\
import json, sys
m = sys.modules["__main__"]
spec = m.__spec__
print(json.dumps(dict(
    argv=sys.argv, path0=sys.path[0], name=__name__, same=m.__dict__ is globals(),
    keys=sorted(k for k in m.__dict__ if k.startswith("__")),
    file=m.__dict__.get("__file__"), cached=m.__dict__.get("__cached__"),
    package=m.__package__, doc=m.__doc__, loader=getattr(m.__loader__, "__name__",
    type(m.__loader__).__name__), builtins=type(m.__builtins__).__name__,
    spec=spec and [spec.name, spec.origin, spec.parent],
    asyncio_c="asyncio_c" in sys.modules)))
"""


@pytest.fixture(scope="module")
def programs(tmp_path_factory):
    """One directory with a program of every kind python runs, all printing MAIN_INFO."""
    root = tmp_path_factory.mktemp("programs")
    write(root / "prog.py", '"""doc"""\n' + MAIN_INFO)
    write(root / "sub" / "other.py", MAIN_INFO)
    write(root / "pkg" / "__init__.py", "import sys; print(sys.argv)\n")
    write(root / "pkg" / "mod.py", MAIN_INFO)
    write(root / "pkg" / "__main__.py", MAIN_INFO)
    write(root / "app" / "__main__.py", MAIN_INFO)
    write(root / "noext", MAIN_INFO)
    with zipfile.ZipFile(root / "app.zip", "w") as z:
        z.writestr("__main__.py", MAIN_INFO)
    py_compile.compile(str(root / "prog.py"), cfile=str(root / "compiled.pyc"),
                       doraise=True)
    write(root / "quiet.py", "")
    (root / "empty").mkdir()
    return root


MAIN_KINDS = [
    ["./prog.py", "-x", "--", "y"],         # __file__ keeps "./" (python does not normalise)
    ["sub/../prog.py"],
    ["noext", "--patch"],
    ["compiled.pyc", "a"],                  # a compiled file (SourcelessFileLoader)
    ["app", "b"],                           # a directory with __main__.py (runpy, path0)
    ["./app.zip"],                          # a zip file with __main__.py
    ["-m", "pkg.mod", "-c", "x"],           # sys.argv[0] is "-m" while pkg imports
    ["-mpkg", "z"],                         # a package's __main__
    ["-c", MAIN_INFO, "--debug"],           # -c: argv[0] "-c", path0 ""
    ["-", "s"],                             # the program on stdin
]
CANNOT_RUN = [["./nope.py"], ["empty"], ["-m", "pkg.nope"], ["-m", ".rel"], ["-m", "quiet.x"]]


def _all_both(cases, cwd, input=None):
    """run_both for every case at once (each a fresh interpreter doing little)."""
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        jobs = [(args, pool.submit(run, args, cwd, launcher, input(args) if input else None))
                for args in cases for launcher in (True, False)]
        results = [(args, job.result()) for args, job in jobs]
    return [(args, ours, plain) for (args, ours), (_, plain) in zip(results[::2], results[1::2])]


def test_main_module_as_python_makes_it(programs):
    """sys.argv, sys.path[0] and module __main__ (its attributes, loader, spec) for every
    kind of program python runs: the same through the launcher."""
    for args, ours, plain in _all_both(MAIN_KINDS, programs,
                                       input=lambda a: MAIN_INFO if a[0] == "-" else None):
        assert ours.returncode == plain.returncode == 0, (args, ours.stderr, plain.stderr)
        assert ours.stderr == plain.stderr == "", args
        assert ours.stdout.splitlines()[:-1] == plain.stdout.splitlines()[:-1], args
        mine, theirs = (json.loads(p.stdout.splitlines()[-1]) for p in (ours, plain))
        assert mine.pop("asyncio_c") and not theirs.pop("asyncio_c"), args
        assert mine == theirs, args
        assert mine["same"] and mine["name"] == "__main__", args


def test_cannot_run(programs):
    """What python cannot run: its message and status (2 for a file, 1 for the rest)."""
    for args, ours, plain in _all_both(CANNOT_RUN, programs):
        assert ours.returncode == plain.returncode != 0, args
        assert ours.stderr.splitlines()[-1] == plain.stderr.splitlines()[-1], args
        assert ours.stdout == plain.stdout, args


def test_stdin(tmp_path):
    """A script reading piped stdin; and `-`, the program itself on stdin, failing."""
    write(tmp_path / "cat.py", "import sys; print(sys.stdin.read().upper(), end='')\n")
    ours, plain = run_both(["cat.py"], tmp_path, input="piped\nlines\n")
    assert ours.stdout == plain.stdout == "PIPED\nLINES\n"
    ours, plain = run_both(["-"], tmp_path, input="def f():\n    1 / 0\nf()\n")
    assert ours.returncode == plain.returncode == 1
    assert ours.stderr == plain.stderr
    assert 'File "<stdin>", line 2, in f' in ours.stderr


def test_command_traceback(tmp_path):
    """-c: the traceback as python's (3.13 shows the command's source lines too)."""
    code = "import asyncio\nasync def f():\n    {}[1]\nasyncio.run(f())\n"
    ours, plain = run_both(["-c", code], tmp_path)
    assert ours.returncode == plain.returncode == 1
    assert "KeyError: 1" in ours.stderr

    def loop_frames_out(text):       # asyncio's loop frames vs ours (the loop differs)
        return [line for line in text.splitlines()
                if not re.search(r"base_events|events\.py|_loop\.py|_run|handle|self\.", line)]
    assert loop_frames_out(ours.stderr) == loop_frames_out(plain.stderr)
    assert "asyncio_c/__main__" not in ours.stderr


def test_pyc_bad_magic(tmp_path):
    (tmp_path / "bad.pyc").write_bytes(b"\0\0\0\0" + b"\0" * 12)
    ours, plain = run_both(["bad.pyc"], tmp_path)
    assert ours.returncode == plain.returncode == 1
    assert ours.stderr == plain.stderr == "RuntimeError: Bad magic number in .pyc file\n"


def test_systemexit_inside_coroutine(tmp_path):
    write(tmp_path / "prog.py", """\
        import asyncio
        async def main():
            await asyncio.sleep(0)
            raise SystemExit("leaving from a task")
        asyncio.run(main())
    """)
    ours, plain = run_both(["prog.py"], tmp_path)
    assert ours.returncode == plain.returncode == 1
    assert ours.stderr == plain.stderr == "leaving from a task\n"


def test_real_sigint(tmp_path):
    """Ctrl-C during asyncio.run(): the same KeyboardInterrupt traceback and death by SIGINT."""
    write(tmp_path / "prog.py", """\
        import asyncio
        async def main():
            print("ready", flush=True)
            await asyncio.sleep(60)
        asyncio.run(main())
    """)
    procs = [subprocess.Popen([sys.executable, *pre, "prog.py"], cwd=tmp_path, env=_env(),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for pre in (["-m", "asyncio_c"], [])]
    try:
        for p in procs:
            assert p.stdout.readline() == "ready\n"
            p.send_signal(signal.SIGINT)
        (_, ours_err), (_, plain_err) = (p.communicate(timeout=TIMEOUT) for p in procs)
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    assert procs[0].returncode == procs[1].returncode == -signal.SIGINT
    assert ours_err == plain_err
    assert ours_err.rstrip().endswith("KeyboardInterrupt")


def test_version():
    proc = run(["--version"], REPO)
    assert proc.returncode == 0
    assert proc.stdout == f"asyncio_c {asyncio_c.__version__} (Python {sys.version.split()[0]})\n"
    assert run(["-V"], REPO).stdout == proc.stdout


def test_patch_and_debug_effects(tmp_path):
    """--patch: names imported by the program are the native ones; --debug: asyncio's debug
    mode as PYTHONASYNCIODEBUG=1 gives it (slow callbacks logged, coroutine origins kept)."""
    write(tmp_path / "prog.py", """\
        import asyncio, sys, time
        from asyncio import gather, sleep
        import asyncio_c

        async def slow():
            time.sleep(0.12)

        async def main():
            loop = asyncio.get_running_loop()
            await gather(asyncio.create_task(slow()), sleep(0))
            print(isinstance(loop, asyncio_c.Loop), loop.get_debug(),
                  sys.get_coroutine_origin_tracking_depth() > 0,
                  gather is asyncio_c.gather, sleep is asyncio_c.sleep)

        asyncio.run(main())
    """)
    debug_patch = run(["--debug", "--patch", "prog.py"], tmp_path)
    neither = run(["prog.py"], tmp_path)
    assert debug_patch.returncode == neither.returncode == 0, debug_patch.stderr
    assert debug_patch.stdout.split() == ["True"] * 5
    assert neither.stdout.split() == ["True", "False", "False", "False", "False"]
    assert re.search(r"Executing <Task .*slow\(\).* took \d\.\d+ seconds", debug_patch.stderr)
    assert neither.stderr == ""


# ---------------------------------------------------------------------------------------------
# the seeds' examples, unchanged: the seed's own asyncio.run(main()) through the launcher

def seed_text(example):
    """The seed's program: the example file with its loop choice undone (examples/README.md:
    `import asyncio_c` added and asyncio.run -> asyncio_c.run; nothing else changed)."""
    with open(example) as f:
        lines = [line for line in f if line.strip() != "import asyncio_c"]
    text = "".join(lines).replace("asyncio_c.run(", "asyncio.run(")
    assert "asyncio_c" not in "\n".join(l for l in text.splitlines() if not l.startswith("#"))
    return text


def test_seed_examples_unchanged(tmp_path):
    """Every seed example, as the seed wrote it, run by `python -m asyncio_c` (half of them
    with --patch) and by plain python at the same time: the same output, at the same moments
    (tests/test_examples.py's comparison: clock times and durations within its slack)."""
    import test_examples as te                    # (tests/ is on sys.path, see conftest)
    names = sorted(te.EXAMPLE_NAMES, key=lambda n: -te.SECONDS.get(n, 0))
    jobs = {}
    with concurrent.futures.ThreadPoolExecutor(2 * len(names)) as pool:
        for i, name in enumerate(names):
            seed = tmp_path / f"{name}.py"
            seed.write_text(seed_text(os.path.join(EXAMPLES, f"{name}.py")))
            options = ["--patch"] if i % 2 else []
            jobs[name] = (pool.submit(_stamped, [sys.executable, "-m", "asyncio_c",
                                                 *options, str(seed)], "asyncio_c"),
                          pool.submit(_stamped, [sys.executable, str(seed)], "asyncio"))
        problems = []
        for name, (ours, plain) in jobs.items():
            ref, got = plain.result(), ours.result()
            assert ref.returncode == 0 and ref.lines, (name, ref.stderr)
            problems += [f"{name}: {p}" for p in te.compare(ref, got)]
    assert not problems, "\n".join(problems)


def _stamped(cmd, label):
    """test_examples.Run of cmd: stdout lines stamped as they arrive."""
    import time
    import test_examples as te
    env = dict(_env(), PYTHONUNBUFFERED="1", PYTHONIOENCODING="utf-8")
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    stamped = []
    try:
        for raw in proc.stdout:
            stamped.append((time.monotonic(), raw.decode("utf-8", "replace").rstrip("\r\n")))
        eof = time.monotonic()
        stderr = proc.stderr.read().decode("utf-8", "replace")
        proc.wait(timeout=TIMEOUT)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
        proc.stderr.close()
    first = stamped[0][0] if stamped else eof
    return te.Run(label, proc.returncode, [(t - first, text) for t, text in stamped],
                  eof - first, stderr)
