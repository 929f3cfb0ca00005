"""The seed tutorials' examples behave the same on asyncio_c as on asyncio.

Every ``examples/seedNN_*.py`` runs twice, each in its own interpreter
(``sys.executable``): as is (``asyncio_c.run(main())``, so on asyncio_c), and
through ``examples/_support/run_on_asyncio.py``, which runs the same file with
``asyncio_c.run`` standing for ``asyncio.run``.  The two runs must agree on:

* stdout, once wall-clock values are normalised (``HH:MM:SS`` and decimal
  numbers such as elapsed seconds or ``time.time()`` stamps);
* those values themselves, as durations: the elapsed seconds printed, and the
  offsets between the printed clock times / ``time.time()`` stamps, are within
  ``FLOAT_SLACK`` (``CLOCK_SLACK`` for 1-second ``HH:MM:SS``);
* when each line is printed: stdout is unbuffered and every line is stamped as
  it arrives; its offset from the first line (and that of the end of output)
  must be within ``LINE_SLACK`` -- so a loop that ignores or stretches delays
  fails even where the example prints no time;
* the exit status, and stderr with traceback frames left out (the two runs
  have different frames above the example's own; the exception line, warnings
  and everything else must match).

The examples mostly sleep, so all runs of the module start together on a
thread pool (only those of the selected tests, with ``-k``) and the module
takes about as long as its slowest example.
"""
import concurrent.futures
import dataclasses
import importlib.util
import os
import pathlib
import re
import subprocess
import sys
import tempfile
import threading
import time

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
RUNNER = EXAMPLES / "_support" / "run_on_asyncio.py"
LOOPS = ("asyncio", "asyncio_c")

# Every example of the seeds (see examples/README.md); test_inventory keeps this
# list and the directory in step.
EXAMPLE_NAMES = (
    "seed00_create_task",
    "seed00_gather_count",
    "seed00_gather_return_exceptions",
    "seed00_say_after_sequential",
    "seed01_blocking_sleep",
    "seed01_create_task_await_each",
    "seed01_create_task_without_await",
    "seed01_minimum_gather",
    "seed03_factorial_gather",
    "seed03_hello_world",
    "seed03_knights",
    "seed04_await_tasks",
    "seed04_hello_world",
)
# Roughly how long each example runs (s): the longest are launched first, so
# that their start is not queued behind two dozen interpreters starting up.
# Only the launch order depends on it.
SECONDS = {
    "seed04_hello_world": 5, "seed03_factorial_gather": 4, "seed00_say_after_sequential": 3,
    "seed01_blocking_sleep": 3.1, "seed01_create_task_await_each": 3, "seed00_create_task": 2,
    "seed00_gather_return_exceptions": 2, "seed04_await_tasks": 2,
}
# Exit status on asyncio (the reference) when not 0.  None of the seed examples
# fails on purpose today.
EXPECTED_STATUS = {}

TIMEOUT = 120.0  # seconds one run may take before it is killed
LINE_SLACK = 0.5  # seconds: when a line is printed, relative to the first line
FLOAT_SLACK = 0.5  # seconds: printed elapsed times and time.time() offsets
CLOCK_SLACK = 1.0  # seconds: offsets between printed HH:MM:SS (1 s resolution)
EPOCH = 1e8  # a printed number this large is a time.time() stamp, not a duration

CLOCK_RE = re.compile(r"(?<![\d:])(\d\d):(\d\d):(\d\d)(?![\d:])")
FLOAT_RE = re.compile(r"(?<![\w.])\d+\.\d+(?![\w.])")


@dataclasses.dataclass
class Run:
    """One run of one example: stdout lines stamped on arrival, and the rest."""

    loop: str
    returncode: int
    lines: list  # [(seconds since the first line, text)], text without its newline
    end: float  # seconds from the first line to the end of stdout
    stderr: str
    wall: float = 0.0  # seconds from start to exit (for information only)
    timed_out: bool = False

    @property
    def stdout(self):
        return "".join(text + "\n" for _, text in self.lines)


def package_dir():
    """Where this interpreter imports asyncio_c from; the runs import the same one."""
    spec = importlib.util.find_spec("asyncio_c")
    assert spec is not None and spec.origin, "asyncio_c is not importable"
    return str(pathlib.Path(spec.origin).resolve().parent.parent)


def run_example(path, loop):
    """Run the script ``path`` on ``loop`` ("asyncio_c": as is; "asyncio": via the runner)."""
    path = pathlib.Path(path).resolve()
    if loop == "asyncio_c":
        cmd = [sys.executable, str(path)]
    elif loop == "asyncio":
        cmd = [sys.executable, str(RUNNER), str(path)]
    else:
        raise ValueError(loop)
    env = dict(os.environ, PYTHONUNBUFFERED="1", PYTHONIOENCODING="utf-8")
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_dir(), env.get("PYTHONPATH")) if p)
    env.pop("ASYNCIO_C_EXAMPLES_LOOP", None)
    stamped = []
    with tempfile.TemporaryFile() as err:
        start = time.monotonic()
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=err)
        killer = threading.Timer(TIMEOUT, proc.kill)
        killer.start()
        try:
            with proc.stdout:
                for raw in proc.stdout:
                    stamped.append((time.monotonic(), raw))
            eof = time.monotonic()
            returncode = proc.wait()
        finally:
            killer.cancel()
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        wall = time.monotonic() - start
        err.seek(0)
        stderr = err.read().decode("utf-8", "replace")
    first = stamped[0][0] if stamped else eof
    lines = [(t - first, raw.decode("utf-8", "replace").rstrip("\r\n")) for t, raw in stamped]
    return Run(loop, returncode, lines, eof - first, stderr, wall,
               timed_out=wall >= TIMEOUT and returncode < 0)


def normalise(text):
    """``text`` with clock times and decimal numbers replaced by placeholders."""
    return FLOAT_RE.sub("<float>", CLOCK_RE.sub("<HH:MM:SS>", text))


def stderr_gist(text):
    """stderr without traceback frames: inside a traceback, the indented lines
    (``File ...`` and source lines) are dropped; the rest is kept."""
    out, in_tb = [], False
    for line in text.splitlines():
        if line.startswith("Traceback (most recent call last):"):
            in_tb = True
            out.append(line)
        elif in_tb and line[:1].isspace():
            continue
        else:
            in_tb = False
            out.append(line)
    while out and not out[-1].strip():
        out.pop()
    return "\n".join(out)


def _clock_offsets(text):
    secs = [int(h) * 3600 + int(m) * 60 + int(s) for h, m, s in CLOCK_RE.findall(text)]
    return [(s - secs[0]) % 86400 for s in secs]


def _float_values(text):
    """Printed durations as they are; time.time() stamps as offsets from the first one."""
    vals = [float(v) for v in FLOAT_RE.findall(CLOCK_RE.sub("", text))]
    stamps = [v for v in vals if v >= EPOCH]
    return [v - stamps[0] if v >= EPOCH else v for v in vals]


def compare(ref, got):
    """What differs between ``ref`` (on asyncio) and ``got`` (on asyncio_c): a list of messages."""
    problems = []
    if got.timed_out or ref.timed_out:
        problems.append(f"timed out after {TIMEOUT} s: "
                        + ", ".join(r.loop for r in (ref, got) if r.timed_out))
    if ref.returncode != got.returncode:
        problems.append(f"exit status: asyncio {ref.returncode}, asyncio_c {got.returncode}")
    if normalise(ref.stdout) != normalise(got.stdout):
        problems.append("stdout differs:\n--- asyncio\n" + ref.stdout
                        + "--- asyncio_c\n" + got.stdout + "---")
        return problems + _stderr_problems(ref, got)
    for kind, values, slack in (("clock time (HH:MM:SS) offset", _clock_offsets, CLOCK_SLACK),
                                ("printed seconds", _float_values, FLOAT_SLACK)):
        for i, (a, b) in enumerate(zip(values(ref.stdout), values(got.stdout))):
            if abs(a - b) > slack:
                problems.append(f"{kind} #{i + 1}: asyncio {a:.3f}, asyncio_c {b:.3f} "
                                f"(more than {slack} s apart)")
    timeline = [(text, a, b) for (a, text), (b, _) in zip(ref.lines, got.lines)]
    timeline.append(("<end of output>", ref.end, got.end))
    for text, a, b in timeline:
        if abs(a - b) > LINE_SLACK:
            problems.append(f"line {text!r} printed at +{a:.3f} s on asyncio but at "
                            f"+{b:.3f} s on asyncio_c (more than {LINE_SLACK} s apart)")
            break
    return problems + _stderr_problems(ref, got)


def _stderr_problems(ref, got):
    a, b = stderr_gist(normalise(ref.stderr)), stderr_gist(normalise(got.stderr))
    if a == b:
        return []
    return ["stderr differs (traceback frames left out):\n--- asyncio\n" + ref.stderr
            + "\n--- asyncio_c\n" + got.stderr + "\n---"]


def _selected_names(session):
    names = []
    for item in session.items:
        callspec = getattr(item, "callspec", None)
        if getattr(item, "module", None) is sys.modules[__name__] and callspec is not None:
            name = callspec.params.get("name")
            if name in EXAMPLE_NAMES and name not in names:
                names.append(name)
    return names or list(EXAMPLE_NAMES)


@pytest.fixture(scope="module")
def example_runs(request):
    """{(name, loop): Future[Run]} -- every selected example, both loops, all at once."""
    names = sorted(_selected_names(request.session), key=lambda n: -SECONDS.get(n, 0))
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=2 * len(names))
    runs = {(name, loop): pool.submit(run_example, EXAMPLES / f"{name}.py", loop)
            for name in names for loop in LOOPS}
    yield runs
    pool.shutdown(wait=True)


def test_inventory():
    """The directory holds exactly the listed examples (none lost, none untested)."""
    found = sorted(p.stem for p in EXAMPLES.glob("seed*.py"))
    assert found == sorted(EXAMPLE_NAMES)


@pytest.mark.parametrize("name", EXAMPLE_NAMES)
def test_example(name, example_runs):
    ref = example_runs[name, "asyncio"].result()
    got = example_runs[name, "asyncio_c"].result()
    # The reference itself must have done what the example does.
    assert ref.returncode == EXPECTED_STATUS.get(name, 0), ref.stderr
    assert ref.lines, "the example printed nothing on asyncio"
    problems = compare(ref, got)
    assert not problems, f"examples/{name}.py:\n" + "\n".join(problems)


PROBE = """\
import asyncio
import sys
import asyncio_c

async def main():
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    mod = sys.modules["asyncio_c"]
    print(type(loop).__module__)
    print(type(task) is getattr(mod, "Task", None))
    print(getattr(mod, "__file__", None))
    await asyncio.sleep(0.3)
    print("done")

asyncio_c.run(main())
"""


def test_each_side_runs_on_its_own_loop(tmp_path):
    """The harness compares asyncio with asyncio_c, not a loop with itself."""
    probe = tmp_path / "probe.py"
    probe.write_text(PROBE)
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        ref, got = pool.map(lambda loop: run_example(probe, loop), LOOPS)
    assert ref.returncode == 0 and got.returncode == 0, (ref.stderr, got.stderr)
    ref_out, got_out = ref.stdout.splitlines(), got.stdout.splitlines()
    assert ref_out[0].startswith("asyncio."), ref_out
    assert ref_out[1:3] == ["False", "None"], ref_out
    assert got_out[0].startswith("asyncio_c"), got_out
    assert got_out[1] == "True", got_out
    assert got_out[2].startswith(package_dir() + os.sep), (got_out, package_dir())
    assert ref_out[3] == got_out[3] == "done"
    assert ref.lines[3][0] >= 0.29 and got.lines[3][0] >= 0.29  # both slept


def _fake(loop, timed_lines, end, returncode=0, stderr=""):
    return Run(loop, returncode, list(timed_lines), end, stderr)


def test_compare_catches_what_it_should():
    """The checks fail a loop that ignores delays, and pass a faithful one."""
    ref = _fake("asyncio", [(0.0, "started at 10:00:00"), (1.0, "hello"), (3.0, "world"),
                            (3.0, "finished at 10:00:03"), (3.0, "took 3.00 s")], 3.01)
    same = _fake("asyncio_c", [(0.0, "started at 11:59:59"), (1.1, "hello"), (3.05, "world"),
                               (3.05, "finished at 12:00:02"), (3.05, "took 3.04 s")], 3.06)
    assert compare(ref, same) == []
    # Ignores delays: every check that sees time complains.
    fast = _fake("asyncio_c", [(0.0, "started at 10:00:00"), (0.0, "hello"), (0.0, "world"),
                               (0.0, "finished at 10:00:00"), (0.0, "took 0.00 s")], 0.01)
    problems = compare(ref, fast)
    assert any("clock time" in p for p in problems)
    assert any("printed seconds" in p for p in problems)
    assert any("printed at" in p for p in problems)
    # Same printed times, but the lines come at the wrong moments.
    late = _fake("asyncio_c", [(0.0, "started at 10:00:00"), (1.0, "hello"), (1.0, "world"),
                               (3.0, "finished at 10:00:03"), (3.0, "took 3.00 s")], 3.0)
    assert [p for p in compare(ref, late) if "'world' printed at" in p]
    # time.time() stamps are compared as offsets from the first one.
    stamps = _fake("asyncio", [(0.0, "1700000000.5 start"), (2.0, "1700000002.5 end")], 2.0)
    shifted = _fake("asyncio_c", [(0.0, "1700000100.0 start"), (2.0, "1700000102.1 end")], 2.0)
    squashed = _fake("asyncio_c", [(0.0, "1700000100.0 start"), (2.0, "1700000100.1 end")], 2.0)
    assert compare(stamps, shifted) == []
    assert compare(stamps, squashed)
    # Output, exit status and stderr.
    assert "stdout differs" in compare(ref, _fake("asyncio_c", ref.lines[:-1], 3.0))[0]
    assert compare(ref, _fake("asyncio_c", ref.lines, 3.01, returncode=1))
    tb_ref = ('Traceback (most recent call last):\n  File "x.py", line 1, in <module>\n'
              '    main()\nValueError: boom\n')
    tb_got = ('Traceback (most recent call last):\n  File "runner.py", line 9, in <module>\n'
              '    run()\n  File "x.py", line 1, in <module>\n    main()\nValueError: boom\n')
    assert compare(_fake("asyncio", ref.lines, 3.0, 1, tb_ref),
                   _fake("asyncio_c", ref.lines, 3.0, 1, tb_got)) == []
    assert compare(_fake("asyncio", ref.lines, 3.0, 1, tb_ref),
                   _fake("asyncio_c", ref.lines, 3.0, 1, tb_got.replace("boom", "bang")))
    assert compare(_fake("asyncio", ref.lines, 3.0),
                   _fake("asyncio_c", ref.lines, 3.0, stderr="Task was destroyed but it is pending!"))
