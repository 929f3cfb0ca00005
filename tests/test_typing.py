"""asyncio_c's type stubs, checked by the real mypy (issue #9, typing).

* a user-style program using the public API type-checks under `mypy --strict`, its
  types pinned with typing.assert_type (gather's tuple, Task/Future generics, the Loop's
  methods...), and it also runs;
* a program with deliberate type errors is rejected, at the lines and with the types
  that only the stubs can give (proof that mypy read them rather than Any);
* `python -m mypy.stubtest asyncio_c` (the stubs compared with the runtime module,
  tests/stubtest_allowlist.txt lists the on-purpose differences) passes.

They run on every interpreter (the stubs have sys.version_info guards, and mypy checks
for the version it runs on): about 8 s per interpreter (mypy is compiled; the cache is
fresh per run), stubtest being most of it.  ASYNCIO_C_TYPING=0 skips them.
"""
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import asyncio_c

pytest.importorskip("mypy")

ROOT = Path(asyncio_c.__file__).resolve().parent.parent   # the checkout under test
ALLOWLIST = Path(__file__).resolve().parent / "stubtest_allowlist.txt"
pytestmark = [
    pytest.mark.skipif(os.environ.get("ASYNCIO_C_TYPING") == "0", reason="ASYNCIO_C_TYPING=0"),
    pytest.mark.timeout(300),
]


@pytest.fixture(scope="module")
def mypy_env(tmp_path_factory):
    """Environment and cache dir for mypy: asyncio_c found in the checkout under test
    (MYPYPATH comes before site-packages, where the venvs' .pth points at another copy)."""
    cache = tmp_path_factory.mktemp("mypy_cache")
    env = dict(os.environ, MYPYPATH=str(ROOT), PYTHONPATH=str(ROOT))
    env.pop("MYPY_CACHE_DIR", None)
    return env, cache


def run_mypy(mypy_env, tmp_path, source, *flags):
    env, cache = mypy_env
    prog = tmp_path / "prog.py"
    prog.write_text(textwrap.dedent(source))
    proc = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-error-summary", "--show-error-codes",
         "--cache-dir", str(cache), "--no-color-output", *flags, str(prog)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=280)
    return proc, prog


GOOD = '''
    import asyncio
    import sys
    from typing import Any, assert_type

    import asyncio_c
    import asyncio_c._patch


    async def num(x: int) -> int:
        await asyncio_c.sleep(0)
        return x


    async def text() -> str:
        return "a"


    async def main() -> int:
        a, b = await asyncio_c.gather(num(1), text())
        assert_type(a, int)
        assert_type(b, str)
        many = await asyncio_c.gather(*[num(i) for i in range(3)])
        assert_type(many, list[int])
        excs = await asyncio_c.gather(num(1), text(), return_exceptions=True)
        assert_type(excs, tuple[int | BaseException, str | BaseException])

        task = asyncio_c.Task(num(2), name="two")
        assert_type(task, asyncio_c.Task[int])
        assert_type(await task, int)
        assert_type(task.get_name(), str)
        fut: asyncio_c.Future[str] = asyncio_c.Future()
        fut.set_result("x")
        assert_type(fut.result(), str)
        assert_type(await fut, str)

        done, pending = await asyncio_c.wait([task], timeout=1)
        assert_type(done, set[asyncio_c.Task[int]])
        assert_type(await asyncio_c.wait_for(num(3), timeout=5), int)
        assert_type(await asyncio_c.shield(num(4)), int)
        assert_type(await asyncio_c.sleep(0, "r"), str)
        assert_type(await asyncio_c.sleep(0), None)
        assert_type(await asyncio.gather(asyncio_c.Task(num(5))), tuple[int])
        return a + len(b) + sum(many)


    assert_type(asyncio_c.run(main()), int)
    assert_type(asyncio_c.run(main(), debug=False), int)

    loop = asyncio_c.new_event_loop()
    assert_type(loop, asyncio_c.Loop)
    handle = loop.call_soon(print, "soon")
    assert_type(handle.cancelled(), bool)
    timer = loop.call_later(0.0, print, "later")
    assert_type(timer.when(), float)
    t2 = loop.create_task(num(6))
    assert_type(t2, asyncio_c.Task[int])
    assert_type(loop.run_until_complete(t2), int)
    assert_type(loop.create_future(), asyncio_c.Future[Any])
    assert_type(loop.time(), float)
    loop.close()
    assert isinstance(loop, asyncio.AbstractEventLoop)

    other = asyncio.new_event_loop()
    other.set_task_factory(asyncio_c.task_factory)  # type: ignore[arg-type]
    assert_type(other.run_until_complete(num(8)), int)
    other.close()

    with asyncio.Runner(loop_factory=asyncio_c.new_event_loop) as runner:
        assert_type(runner.run(num(7)), int)
    if sys.version_info >= (3, 12):
        assert_type(asyncio.run(main(), loop_factory=asyncio_c.new_event_loop), int)
        loop = asyncio_c.new_event_loop()
        loop.set_task_factory(asyncio_c.eager_task_factory)  # type: ignore[arg-type]
        loop.close()
        factory = asyncio_c.create_eager_task_factory(asyncio_c.Task)

    policy = asyncio_c.EventLoopPolicy()
    assert_type(policy.new_event_loop(), asyncio_c.Loop)
    asyncio_c.install()
    asyncio.set_event_loop_policy(None)
    assert_type(asyncio_c.patch(), tuple[str, ...])
    assert_type(asyncio_c._patch.patched_places(), list[str])
    assert_type(asyncio_c.is_patched(), bool)
    assert_type(asyncio_c.unpatch(), bool)
    assert_type(asyncio_c.__version__, str)
    print("ran", asyncio_c.__version__)
'''


def test_user_program_typechecks_and_runs(mypy_env, tmp_path):
    proc, prog = run_mypy(mypy_env, tmp_path, GOOD)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # and the program is a real one: it runs on the same interpreter
    ran = subprocess.run([sys.executable, str(prog)], cwd=tmp_path, env=mypy_env[0],
                         capture_output=True, text=True, timeout=120)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert ran.stdout.strip().endswith("ran " + asyncio_c.__version__)


BAD = '''
    import asyncio_c


    async def num() -> int:
        return 1


    async def main() -> None:
        a, b = await asyncio_c.gather(num(), num())
        s1: str = a
        t = asyncio_c.Task(num())
        s2: str = await t
        s3: str = await asyncio_c.wait_for(num(), 1)
        asyncio_c.sleep("soon")


    s4: str = asyncio_c.run(main())
    asyncio_c.new_event_loop().call_soon(len, 1)
    v: int = asyncio_c.__version__
'''


def test_type_errors_are_reported(mypy_env, tmp_path):
    proc, prog = run_mypy(mypy_env, tmp_path, BAD)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    lines = textwrap.dedent(BAD).splitlines()
    errors = {}
    for line in proc.stdout.splitlines():
        if ": error: " in line and line.startswith(prog.name + ":"):
            lineno = int(line.split(":")[1])
            errors.setdefault(lines[lineno - 1].strip(), []).append(line.split(": error: ", 1)[1])

    def error_at(code_line, *words):
        msgs = errors.get(code_line, [])
        assert any(all(w in m for w in words) for m in msgs), (code_line, words, proc.stdout)

    error_at("s1: str = a", 'expression has type "int"', "[assignment]")
    error_at("s2: str = await t", 'expression has type "int"', "[assignment]")
    error_at("s3: str = await asyncio_c.wait_for(num(), 1)", '"wait_for"',
             '"Coroutine[Any, Any, int]"', '"Awaitable[str]"')
    error_at('asyncio_c.sleep("soon")', "sleep", '"str"')
    error_at("s4: str = asyncio_c.run(main())", 'expression has type "None"')
    error_at("asyncio_c.new_event_loop().call_soon(len, 1)", '"call_soon" of "Loop"',
             '"Callable[[int], object]"')
    error_at("v: int = asyncio_c.__version__", 'expression has type "str"')
    assert len(errors) == 7, proc.stdout


def test_stubtest(mypy_env, tmp_path):
    env, cache = mypy_env
    proc = subprocess.run(
        [sys.executable, "-m", "mypy.stubtest", "asyncio_c", "--allowlist", str(ALLOWLIST)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=280)
    assert proc.returncode == 0, proc.stdout + proc.stderr
