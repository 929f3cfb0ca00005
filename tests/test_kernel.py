"""Jupyter and IPython on asyncio_c: a real kernel, a real notebook, a real InteractiveShell.

- `python -m asyncio_c.kernel install --prefix TMP` writes a kernelspec; nbclient then executes
  a notebook (built with nbformat in tmp_path) with that kernel: ONE kernel for the module, its
  cells' outputs checked by the tests below.  The cells are what the seeds teach in Jupyter:
  top-level `await`, a seed's gather cell unchanged, tasks living across cells, exceptions.
- IPython's %autoawait with a real InteractiveShell (in child processes, one per way of choosing
  the loop, run concurrently): `%autoawait asyncio` on plain asyncio is the oracle; the same cells
  with `%autoawait asyncio_c.kernel.runner`, `%load_ext asyncio_c.kernel` and asyncio_c's policy
  must give the same results on asyncio_c's loop and Task.
"""
import json
import os
import re
import subprocess
import sys
import textwrap

import pytest

import asyncio_c

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

# where this process imported asyncio_c from: the checkout, or scripts/debug.sh's build
PKG_DIR = os.path.dirname(os.path.dirname(os.path.abspath(asyncio_c.__file__)))
TIMEOUT = 120
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _env(tmp):
    """Environment of every child: this checkout's asyncio_c, Jupyter and IPython dirs in tmp."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (PKG_DIR, env.get("PYTHONPATH")) if p)
    for var in ("PYTHONASYNCIODEBUG", "PYTHONDEVMODE", "PYTHONWARNINGS"):
        env.pop(var, None)
    env.update(
        JUPYTER_PATH=str(tmp / "prefix" / "share" / "jupyter"),
        JUPYTER_DATA_DIR=str(tmp / "data"),
        JUPYTER_CONFIG_DIR=str(tmp / "config"),
        JUPYTER_RUNTIME_DIR=str(tmp / "runtime"),
        IPYTHONDIR=str(tmp / "ipython"),
    )
    return env


# ------------------------------------------------------------------ the notebook

# Seed 000_b8708ff0c2d01ac1.txt, "Create multiple tasks" (second block), verbatim: a notebook
# cell with top-level `await main()` (examples/seed00_gather_count.py is its script form).
SEED_CELL = '''\
import time,asyncio

async def count():
    print("count one")
    await asyncio.sleep(1)
    print("count four")

async def count_further():
    print("count two")
    await asyncio.sleep(1)
    print("count five")

async def count_even_further():
    print("count three")
    await asyncio.sleep(1)
    print("count six")

async def main():
    await asyncio.gather(count(), count_further(), count_even_further())

s = time.perf_counter()
await main()
elapsed = time.perf_counter() - s
print(f"Script executed in {elapsed:0.2f} seconds.")'''

CELLS = {
    # a cell without await: it still runs inside the kernel's (running) loop
    "loop": """\
import asyncio, os, asyncio_c
print(type(asyncio.get_running_loop()))
print(type(asyncio.get_event_loop_policy()))
print(os.path.dirname(asyncio_c.__file__))
print(os.getpid())""",
    "await": """\
await asyncio.sleep(0)
print(type(asyncio.current_task()))
print(isinstance(asyncio.current_task(), asyncio_c.Task))
print(type(asyncio.get_running_loop()) is asyncio_c.Loop)""",
    # every loop in the kernel process: main thread (tornado's IOLoop.current()), the control,
    # shell-channel and IOPub threads' loops; all asyncio_c's
    "kernel_loops": """\
import gc, sys
from tornado.ioloop import IOLoop
_k = get_ipython().kernel
_named = {
    "main": IOLoop.current().asyncio_loop,
    "control": _k.control_thread.io_loop.asyncio_loop,
    "shell_channel": _k.shell_channel_thread.io_loop.asyncio_loop,
    "iopub": _k.iopub_thread.io_loop.asyncio_loop,
}
print({k: type(v).__qualname__ for k, v in sorted(_named.items())})
print(_named["main"] is asyncio.get_running_loop())
_all = [o for o in gc.get_objects() if isinstance(o, asyncio.AbstractEventLoop)]
print(sorted({type(o).__module__ + "." + type(o).__qualname__ for o in _all}), len(_all) >= 4)""",
    "seed": SEED_CELL,
    # a task started in one cell and awaited in a later one: the cells share the loop
    "task_start": """\
async def later(x):
    await asyncio.sleep(0)
    return x * 2
t = asyncio.create_task(later(21))
print(type(t).__name__, t.done())""",
    "task_await": "print(await t, t.done())",
    "error_sync": "1/0",
    "error_async": """\
async def boom():
    await asyncio.sleep(0)
    raise ValueError("boom from a coroutine")
await boom()""",
    # the seeds' script form inside a notebook: asyncio refuses it, as on the stock kernel
    "asyncio_run": "async def main():\n    pass\nasyncio.run(main())",
    "after_error": """\
r = await asyncio.gather(asyncio.sleep(0, 'a'), asyncio.sleep(0, 'b'))
print(r)""",
    "autoawait": "%autoawait",
    "local_module": "import notebook_helper\nprint(notebook_helper.VALUE)",
    # Jupyter's "interrupt kernel" is a SIGINT to the kernel process (jupyter_client's
    # interrupt_mode "signal"); sent here by the cell itself, from a thread, while the main
    # thread waits in the loop's poll
    "interrupt": """\
import os, signal, threading
threading.Timer(0.1, os.kill, (os.getpid(), signal.SIGINT)).start()
await asyncio.sleep(60)
print("not reached")""",
    "after_interrupt": "await asyncio.sleep(0); print('still alive')",
}


@pytest.fixture(scope="module")
def notebook(tmp_path_factory):
    """Install the kernelspec with the real command, execute the notebook once; -> outputs."""
    tmp = tmp_path_factory.mktemp("kernel")
    env = _env(tmp)
    inst = subprocess.run(
        [sys.executable, "-m", "asyncio_c.kernel", "install", "--prefix", str(tmp / "prefix"),
         "--display-name", "asyncio_c test kernel"],
        env=env, capture_output=True, text=True, timeout=TIMEOUT)
    assert inst.returncode == 0, inst.stderr
    spec_dir = tmp / "prefix" / "share" / "jupyter" / "kernels" / "asyncio_c"
    listed = subprocess.run([sys.executable, "-m", "asyncio_c.kernel", "list"],
                            env=env, capture_output=True, text=True, timeout=TIMEOUT)

    # the kernel's working directory (the notebook's) holds the user's own modules: one is
    # imported by a cell, one named like a module ipykernel needs must not shadow it
    (tmp / "notebook_helper.py").write_text("VALUE = 'from the notebook directory'\n")
    (tmp / "tornado.py").write_text("raise ImportError('the notebook dir shadowed tornado')\n")

    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "asyncio_c", "display_name": "asyncio_c test kernel",
                                 "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell(src, metadata={"tag": name})
                for name, src in CELLS.items()]
    path = tmp / "seeds.ipynb"
    nbformat.write(nb, str(path))
    nb = nbformat.read(str(path), as_version=4)

    with pytest.MonkeyPatch.context() as mp:
        for k, v in env.items():
            mp.setenv(k, v)
        client = nbclient.NotebookClient(nb, timeout=TIMEOUT, allow_errors=True,
                                         timeout_func=_cell_timeout,
                                         kernel_name="asyncio_c",
                                         resources={"metadata": {"path": str(tmp)}})
        client.execute()   # starts the kernel, runs every cell, shuts the kernel down
    outputs = {c.metadata["tag"]: c.outputs for c in nb.cells}
    pid = int(_stdout(outputs["loop"]).split()[-1])
    return dict(spec_dir=spec_dir, install=inst, listed=listed, outputs=outputs,
                kernel_pid=pid, client=client)


def _cell_timeout(cell):
    # a lost interrupt fails the test (CellTimeoutError) instead of waiting out the sleep
    return 30 if cell.metadata.get("tag") == "interrupt" else TIMEOUT


def _stdout(outputs):
    return "".join(o["text"] for o in outputs
                   if o["output_type"] == "stream" and o["name"] == "stdout")


def _lines(notebook, tag):
    outs = notebook["outputs"][tag]
    assert not [o for o in outs if o["output_type"] == "error"], outs
    return _stdout(outs).splitlines()


def test_install_writes_kernelspec(notebook):
    assert notebook["install"].stdout.strip() == (
        "Installed kernelspec asyncio_c in %s" % notebook["spec_dir"])
    spec = json.loads((notebook["spec_dir"] / "kernel.json").read_text())
    assert spec["argv"] == [sys.executable, "-Xfrozen_modules=off", "-m", "asyncio_c.kernel",
                            "-f", "{connection_file}"]
    assert spec["display_name"] == "asyncio_c test kernel"
    assert spec["language"] == "python"
    assert notebook["listed"].stdout.split() == ["asyncio_c", str(notebook["spec_dir"])]


def test_install_options(tmp_path):
    """--patch reaches the kernel's argv, --name names it, remove removes it."""
    env = _env(tmp_path)
    run = lambda *a: subprocess.run([sys.executable, "-m", "asyncio_c.kernel", *a], env=env,
                                    capture_output=True, text=True, timeout=TIMEOUT)
    r = run("install", "--prefix", str(tmp_path / "prefix"), "--name", "ac-patched", "--patch")
    assert r.returncode == 0, r.stderr
    spec_dir = tmp_path / "prefix" / "share" / "jupyter" / "kernels" / "ac-patched"
    spec = json.loads((spec_dir / "kernel.json").read_text())
    assert spec["argv"][-3:] == ["-f", "{connection_file}", "--patch"]
    assert spec["display_name"] == "ac-patched"
    r = run("remove", "--name", "ac-patched")
    assert r.returncode == 0 and not spec_dir.exists(), r.stderr
    r = run("remove", "--name", "ac-patched")
    assert r.returncode == 1 and "No kernelspec named ac-patched" in r.stderr


def test_kernel_process_is_gone(notebook):
    """nbclient shut the kernel down (and the child was reaped)."""
    with pytest.raises(ProcessLookupError):
        os.kill(notebook["kernel_pid"], 0)


def test_cells_run_on_asyncio_c_loop(notebook):
    loop_t, policy_t, pkg, _ = _lines(notebook, "loop")
    assert loop_t == "<class 'asyncio_c._loop.Loop'>"
    assert policy_t == "<class 'asyncio_c._loop.EventLoopPolicy'>"
    assert pkg == os.path.dirname(asyncio_c.__file__)     # this checkout's asyncio_c


def test_top_level_await_runs_in_asyncio_c_task(notebook):
    assert _lines(notebook, "await") == ["<class 'asyncio_c._core.Task'>", "True", "True"]


def test_every_kernel_loop_is_asyncio_c(notebook):
    named, main_is_running, every = _lines(notebook, "kernel_loops")
    assert named == str({k: "Loop" for k in ("control", "iopub", "main", "shell_channel")})
    assert main_is_running == "True"
    assert every == "['asyncio_c._loop.Loop'] True"


def test_seed_gather_cell(notebook):
    """The seed's cell, unchanged: the three coroutines run concurrently (all three start
    before any of them finishes its sleep)."""
    lines = _lines(notebook, "seed")
    assert lines[:6] == ["count one", "count two", "count three",
                         "count four", "count five", "count six"]
    assert len(lines) == 7 and re.fullmatch(r"Script executed in \d+\.\d\d seconds\.", lines[6])


def test_task_lives_across_cells(notebook):
    assert _lines(notebook, "task_start") == ["Task False"]
    assert _lines(notebook, "task_await") == ["42 True"]


def _error(notebook, tag):
    (err,) = [o for o in notebook["outputs"][tag] if o["output_type"] == "error"]
    return err["ename"], err["evalue"], ANSI.sub("", "\n".join(err["traceback"]))


def test_exception_in_cell(notebook):
    ename, evalue, tb = _error(notebook, "error_sync")
    assert (ename, evalue) == ("ZeroDivisionError", "division by zero")
    assert "----> 1 1/0" in tb


def test_exception_in_awaited_coroutine(notebook):
    ename, evalue, tb = _error(notebook, "error_async")
    assert (ename, evalue) == ("ValueError", "boom from a coroutine")
    assert "await boom()" in tb and 'raise ValueError("boom from a coroutine")' in tb


def test_asyncio_run_in_cell_refused(notebook):
    ename, evalue, _ = _error(notebook, "asyncio_run")
    assert (ename, evalue) == ("RuntimeError",
                               "asyncio.run() cannot be called from a running event loop")


def test_kernel_works_after_errors(notebook):
    assert _lines(notebook, "after_error") == ["['a', 'b']"]


def test_notebook_directory_modules(notebook):
    """The kernel started although the notebook's directory has a tornado.py (it is off sys.path
    while ipykernel loads, as with ipykernel_launcher) and cells import from that directory."""
    assert _lines(notebook, "local_module") == ["from the notebook directory"]


def test_autoawait_magic_in_kernel(notebook):
    assert _lines(notebook, "autoawait") == ["IPython autoawait is `on`, and set to use `asyncio`"]


# ------------------------------------------------------------------ IPython's %autoawait

SHELL_SCRIPT = r'''
import json, sys
mode = sys.argv[1]
if mode == "policy":
    import asyncio_c
    asyncio_c.install()
from traitlets.config import Config
from IPython.core.interactiveshell import InteractiveShell
cfg = Config()
cfg.HistoryManager.enabled = False
ip = InteractiveShell.instance(config=cfg)
setup = {"asyncio": "%autoawait asyncio", "policy": "%autoawait asyncio",
         "runner": "%autoawait asyncio_c.kernel.runner",
         "extension": "%load_ext asyncio_c.kernel"}[mode]
cells = [
    setup,
    "import asyncio",
    "await asyncio.sleep(0); lt = type(asyncio.get_running_loop()); "
    "tt = type(asyncio.current_task())",
    "await asyncio.sleep(0); t = asyncio.get_running_loop().create_task(asyncio.sleep(0, 'kept'))",
    "kept = await t",
    "res = await asyncio.gather(*(asyncio.sleep(0, i) for i in range(3)))",
    "await asyncio.sleep(0); 1/0",
    "after = await asyncio.sleep(0, 'after')",
]
results = [ip.run_cell(c) for c in cells]
ns = ip.user_ns
print("RESULT:" + json.dumps(dict(
    loop=ns["lt"].__module__ + "." + ns["lt"].__qualname__,
    task=ns["tt"].__module__ + "." + ns["tt"].__qualname__,
    kept=ns["kept"], res=ns["res"], after=ns["after"],
    ok=[r.success for r in results],
    error=type(results[6].error_in_exec).__name__,
    runner=str(ip.loop_runner), autoawait=ip.autoawait,
)))
'''

SHELL_MODES = ("asyncio", "runner", "extension", "policy")


@pytest.fixture(scope="module")
def shells(tmp_path_factory):
    """The script above in one child per mode, all at once; -> {mode: result dict}."""
    tmp = tmp_path_factory.mktemp("ipython")
    env = _env(tmp)
    procs = {m: subprocess.Popen([sys.executable, "-c", SHELL_SCRIPT, m], env=env, cwd=tmp,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for m in SHELL_MODES}
    out = {}
    try:
        for m, p in procs.items():
            stdout, stderr = p.communicate(timeout=TIMEOUT)
            res = [ln for ln in stdout.splitlines() if ln.startswith("RESULT:")]
            assert p.returncode == 0 and res, (m, stdout, stderr)
            out[m] = json.loads(res[0][len("RESULT:"):])
    finally:
        for p in procs.values():
            if p.poll() is None:
                p.kill()
                p.wait()
    return out


@pytest.mark.parametrize("mode", SHELL_MODES[1:])
def test_autoawait_interactive_shell(shells, mode):
    oracle, got = dict(shells["asyncio"]), dict(shells[mode])
    assert oracle.pop("loop") == "asyncio.unix_events._UnixSelectorEventLoop"
    assert oracle.pop("task") in ("_asyncio.Task", "asyncio.tasks.Task")
    assert got.pop("loop") == "asyncio_c._loop.Loop"
    assert got.pop("task") == "asyncio_c._core.Task"
    assert oracle.pop("runner") == "asyncio"
    assert got.pop("runner") == ("asyncio" if mode == "policy" else "asyncio_c")
    assert oracle["ok"] == [True] * 6 + [False, True]
    assert oracle["error"] == "ZeroDivisionError"
    assert got == oracle


def test_interrupt_cancels_awaiting_cell(notebook):
    """SIGINT during a top-level await cancels the cell (ipykernel's _cancel_on_sigint: the
    cell's task gets CancelledError) and the kernel goes on.

    Not the oracle's behaviour: on asyncio's own loop this cell is not interrupted.  The
    handler ipykernel installs queues its callback with tornado's add_callback, which from the
    loop's own thread is call_soon (no wakeup), and asyncio's selector retries epoll_wait after
    EINTR (PEP 475), so the callback waits for the next event (here the 60 s timer).  asyncio_c's
    poller returns on EINTR, runs the signal handlers and looks at the ready queue (see
    src/poller_epoll.c, point 8), so the interrupt works.
    """
    ename, _, tb = _error(notebook, "interrupt")
    assert ename == "CancelledError"
    assert "await asyncio.sleep(60)" in tb
    assert "not reached" not in _stdout(notebook["outputs"]["interrupt"])
    assert _lines(notebook, "after_interrupt") == ["still alive"]
