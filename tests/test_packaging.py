"""Packaging (issue #9): sdist -> wheel -> an installed copy that works; subinterpreters.

* the sdist, built from a copy of the checkout as a fresh clone has it, contains everything
  needed to build (src/*.c, src/*.h, the package with its stubs, README, pyproject.toml,
  setup.py, MANIFEST.in) and no build products or tests;
* `pip wheel --no-build-isolation --no-deps` on the unpacked sdist makes a wheel (this
  compiles the C sources: ~15-40 s) with py.typed and the .pyi stubs in it; installed with
  `pip install --target` and imported with `python -I -S` from a directory that is not the
  checkout (so the venvs' .pth pointing at /work/main cannot win), it runs a program, and
  its __version__ and the wheel's metadata agree with the checkout's;
* asyncio_c imports and runs in subinterpreters: on 3.12/3.13 both kinds, the legacy ones
  sharing the main GIL and isolated ones with their own GIL (several at once, next to the
  main interpreter); on 3.11 (shared GIL only) the legacy kind.

The sdist/wheel tests run on one interpreter per `make test` (the newest, 3.13), unless
ASYNCIO_C_PACKAGING=all (every interpreter) or ASYNCIO_C_PACKAGING=0 (none).  The
subinterpreter tests run everywhere (a second or two).
"""
import json
import os
import shutil
import subprocess
import sys
import tarfile
import textwrap
import tomllib
import zipfile
from pathlib import Path

import pytest

import asyncio_c

ROOT = Path(__file__).resolve().parent.parent               # the checkout under test
# where the asyncio_c under test is imported from: ROOT, or an out-of-tree build
# (scripts/debug.sh's ASan/valgrind builds)
PKG_ROOT = Path(asyncio_c.__file__).resolve().parent.parent
WHEEL_ON = (3, 13)
_KNOB = os.environ.get("ASYNCIO_C_PACKAGING", "")

build_once = pytest.mark.skipif(
    _KNOB == "0" or (_KNOB != "all" and sys.version_info[:2] != WHEEL_ON),
    reason=f"sdist/wheel built on {WHEEL_ON[0]}.{WHEEL_ON[1]} only "
           "(ASYNCIO_C_PACKAGING=all: every interpreter)")


def clean_env(**extra):
    """The environment of a user's shell: no PYTHONPATH to our checkout, no dev mode."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "PYTHONDEVMODE", "PYTHONMALLOC", "PYTHONSAFEPATH",
                        "ASYNCIO_C_WERROR", "ASYNCIO_C_DEBUG", "ASYNCIO_C_ASAN")}
    env.update(extra)
    return env


def run(cmd, cwd, timeout=300, env=None):
    proc = subprocess.run(cmd, cwd=cwd, env=env or clean_env(), capture_output=True,
                          text=True, timeout=timeout)
    assert proc.returncode == 0, f"{cmd}\n{proc.stdout}\n{proc.stderr}"
    return proc


@pytest.fixture(scope="module")
def sdist(tmp_path_factory):
    """The sdist, built (setuptools' PEP 517 hook, what `python -m build --sdist -n` calls)
    in a copy of the checkout without build products, as in a fresh clone."""
    base = tmp_path_factory.mktemp("sdist")
    src = base / "clone"
    shutil.copytree(ROOT, src, ignore=shutil.ignore_patterns(
        ".git", ".venv", "build", "dist", "*.so", "*.o", "__pycache__", "*.egg-info",
        ".mypy_cache", ".pytest_cache"))
    out = base / "dist"
    proc = run([sys.executable, "-c",
                "import sys; from setuptools import build_meta as b; "
                "print(b.build_sdist(sys.argv[1]))", str(out)], cwd=src)
    name = proc.stdout.strip().splitlines()[-1]
    return out / name


@build_once
def test_sdist_contents(sdist):
    with tarfile.open(sdist) as tf:
        names = tf.getnames()
    top = names[0].split("/")[0]
    assert top == f"asyncio_c-{asyncio_c.__version__}"
    rel = {n[len(top) + 1:] for n in names if n.startswith(top + "/")}
    want = {p.relative_to(ROOT).as_posix() for p in (ROOT / "src").glob("*.[ch]")}
    assert len(want) > 10
    pkg = ROOT / "asyncio_c"
    want |= {f"asyncio_c/{p.name}" for p in pkg.iterdir()
             if p.suffix in (".py", ".pyi") or p.name == "py.typed"}
    assert {"asyncio_c/py.typed", "asyncio_c/_core.pyi", "asyncio_c/__init__.pyi"} <= want
    want |= {"README.md", "pyproject.toml", "setup.py", "MANIFEST.in", "PKG-INFO"}
    if (ROOT / "LICENSE").exists():
        want.add("LICENSE")
    missing = want - rel
    assert not missing, missing
    junk = [n for n in rel if n.endswith((".so", ".o", ".pyc")) or n.startswith(("tests/", "build/"))]
    assert not junk, junk


@build_once
@pytest.mark.timeout(900)
def test_wheel_from_sdist_installs_and_runs(sdist, tmp_path):
    with tarfile.open(sdist) as tf:
        tf.extractall(tmp_path / "unpacked", filter="data")
    unpacked = tmp_path / "unpacked" / f"asyncio_c-{asyncio_c.__version__}"
    wheels = tmp_path / "wheels"
    run([sys.executable, "-m", "pip", "wheel", "--no-build-isolation", "--no-deps",
         "--no-index", "-q", "-w", str(wheels), str(unpacked)], cwd=tmp_path, timeout=850)
    [wheel] = wheels.glob("asyncio_c-*.whl")

    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        metadata = zf.read(f"asyncio_c-{asyncio_c.__version__}.dist-info/METADATA").decode()
    for stub in ("py.typed", "__init__.pyi", "_core.pyi", "_loop.pyi", "_patch.pyi"):
        assert f"asyncio_c/{stub}" in names
    assert any(n.startswith("asyncio_c/_core.") and n.endswith(".so") for n in names), names
    assert f"\nVersion: {asyncio_c.__version__}\n" in metadata

    site = tmp_path / "site"
    run([sys.executable, "-m", "pip", "install", "--no-deps", "--no-index", "-q",
         "--target", str(site), str(wheel)], cwd=tmp_path)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    prog = textwrap.dedent("""
        import sys
        sys.path.insert(0, sys.argv[1])
        import asyncio, importlib.metadata, json
        import asyncio_c

        async def main():
            t = asyncio.get_running_loop().create_task(asyncio_c.sleep(0, "slept"))
            return await asyncio_c.gather(t, asyncio_c.wait_for(asyncio.sleep(0, 2), 5))

        print(json.dumps({
            "file": asyncio_c.__file__, "core": asyncio_c._core.__file__,
            "version": asyncio_c.__version__,
            "dist_version": importlib.metadata.version("asyncio_c"),
            "result": asyncio_c.run(main()),
            "loop": type(asyncio_c.new_event_loop()).__module__,
        }))
    """)
    # -I: no PYTHONPATH, no user site, not the script's directory; -S: no site-packages
    # (where the venv's .pth puts /work/main on sys.path): only the installed copy.
    proc = run([sys.executable, "-I", "-S", "-c", prog, str(site)], cwd=elsewhere)
    got = json.loads(proc.stdout)
    assert got["file"] == str(site / "asyncio_c" / "__init__.py")
    assert got["core"].startswith(str(site / "asyncio_c" / "_core."))
    assert got["version"] == got["dist_version"] == asyncio_c.__version__
    assert got["result"] == ["slept", 2]
    assert got["loop"] == "asyncio_c._loop"


def test_version_is_the_package_metadata_version():
    """pyproject.toml takes its version from asyncio_c.__version__ (one place to change)."""
    with open(ROOT / "pyproject.toml", "rb") as f:
        project = tomllib.load(f)
    assert "version" in project["project"]["dynamic"]
    assert project["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "asyncio_c.__version__"}
    assert isinstance(asyncio_c.__version__, str)
    parts = asyncio_c.__version__.split(".")
    assert len(parts) == 3 and all(p.isdigit() for p in parts), asyncio_c.__version__
    data = project["tool"]["setuptools"]["package-data"]["asyncio_c"]
    assert "py.typed" in data and "*.pyi" in data


# --- subinterpreters --------------------------------------------------------------------

# Runs inside each subinterpreter: imports the checkout's asyncio_c there and uses it
# (tasks, gather, wait_for with a timeout, a TCP echo over loopback).
SUB_WORK = """
import sys
sys.path.insert(0, {root!r})
import asyncio, asyncio_c

async def echo(r, w):
    while data := await r.read(100):
        w.write(data)
        await w.drain()
    w.close()

async def work(i):
    await asyncio_c.sleep(0)
    fut = asyncio.get_running_loop().create_future()
    asyncio.get_running_loop().call_soon(fut.set_result, i)
    return await asyncio_c.wait_for(fut, 30)

async def main():
    srv = await asyncio.start_server(echo, "127.0.0.1", 0)
    port = srv.sockets[0].getsockname()[1]
    r, w = await asyncio.open_connection("127.0.0.1", port)
    for n in range(20):
        w.write(b"x%d" % n)
        await w.drain()
        assert await r.readexactly(len(b"x%d" % n)) == b"x%d" % n
    w.close()
    await w.wait_closed()
    srv.close()
    await srv.wait_closed()
    res = await asyncio_c.gather(*[work(i) for i in range(100)])
    try:
        await asyncio_c.wait_for(asyncio_c.sleep(30), 0.01)
    except TimeoutError:
        pass
    else:
        raise AssertionError("no timeout")
    assert isinstance(asyncio.get_running_loop(), asyncio_c.Loop)
    return sum(res)

for _ in range({rounds}):
    assert asyncio_c.run(main()) == sum(range(100))
import os
os.write(1, ("ok " + {label!r} + "\\n").encode())    # one write: the interpreters run in parallel
"""

# The driver, in a child process of its own (a crash must not take pytest with it; and no
# -X dev / PYTHONMALLOC=debug there: 3.12.1's debug allocator is not safe with several
# GILs, it corrupts memory with asyncio alone).
DRIVER = """
import sys, threading
root, kinds = sys.argv[1], sys.argv[2].split(",")

def code(label, rounds=2):
    return {work!r}.format(root=root, label=label, rounds=rounds)

if sys.version_info >= (3, 13):
    import _interpreters as I
    def sub(kind, label):
        iid = I.create(kind)
        try:
            err = I.exec(iid, code(label))
            if err is not None:
                raise RuntimeError(f"{{label}}: {{err.type.__name__}}: {{err.msg}}")
        finally:
            I.destroy(iid)
else:
    import _xxsubinterpreters as I
    def sub(kind, label):
        iid = I.create(isolated=True) if kind == "isolated" else I.create()
        try:
            I.run_string(iid, code(label))
        finally:
            I.destroy(iid)

for kind in kinds:
    sub(kind, kind)
if "isolated" in kinds and sys.version_info >= (3, 13):
    # several own-GIL interpreters at once, really in parallel, and the main one too
    # (not on 3.12.1: its own-GIL interpreters in parallel crash now and then with
    # asyncio alone, double free or segfault)
    errors = []
    def thread(n):
        try:
            sub("isolated", f"parallel-{{n}}")
        except BaseException as e:
            errors.append(e)
    threads = [threading.Thread(target=thread, args=(n,)) for n in range(3)]
    for t in threads:
        t.start()
    exec(code("main"))
    for t in threads:
        t.join()
    assert not errors, errors
print("done", flush=True)
if sys.version_info[:2] == (3, 12):
    # 3.12.1 aborts in its own finalization ("free(): invalid pointer") once any
    # subinterpreter has imported _asyncio or hashlib, asyncio_c or not
    # (python3.12 -c 'import _xxsubinterpreters as I; i = I.create();
    # I.run_string(i, "import _asyncio"); I.destroy(i)').  The subinterpreters are
    # destroyed (their modules freed) above; skip the main interpreter's finalization.
    import os
    os._exit(0)
""".format(work=SUB_WORK)


@pytest.mark.timeout(300)
def test_subinterpreters(tmp_path):
    kinds = ["legacy", "isolated"] if sys.version_info >= (3, 12) else ["legacy"]
    proc = subprocess.run([sys.executable, "-c", DRIVER, str(PKG_ROOT), ",".join(kinds)],
                          cwd=tmp_path, env=clean_env(), capture_output=True, text=True,
                          timeout=280)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    want = [f"ok {kind}" for kind in kinds]
    if sys.version_info >= (3, 13):
        want += ["ok main"] + [f"ok parallel-{n}" for n in range(3)]
    assert sorted(lines[:-1]) == sorted(want), proc.stdout
    assert lines[-1] == "done"
