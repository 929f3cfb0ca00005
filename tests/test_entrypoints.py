"""Entry points: asyncio_c.run, asyncio.Runner / asyncio.run with loop_factory, the event
loop policy and install(), warnings, and Ctrl-C in a real subprocess.

asyncio is the oracle: where an entry point has an asyncio counterpart (asyncio.run for
asyncio_c.run), the case runs both and expects the same.
"""
import asyncio
import contextvars
import gc
import signal
import subprocess
import sys

import pytest

import asyncio_c
from _loop_helpers import PY, REPO, child_env, run_python

var = contextvars.ContextVar("var", default="unset")


# asyncio_c.run and its oracle
RUNS = [
    pytest.param(asyncio.run, asyncio.Task, id="asyncio.run"),
    pytest.param(asyncio_c.run, asyncio_c.Task, id="asyncio_c.run"),
]


@pytest.fixture(autouse=True)
def clean_policy():
    policy = asyncio.get_event_loop_policy()
    yield
    asyncio.set_event_loop_policy(None)
    assert asyncio._get_running_loop() is None
    assert type(policy) is type(asyncio.get_event_loop_policy())


# --------------------------------------------------------------------------------------
# asyncio_c.run


@pytest.mark.parametrize("run, task_type", RUNS)
def test_run_returns_the_result(run, task_type):
    seen = {}

    async def main(x):
        seen["loop"] = asyncio.get_running_loop()
        seen["task"] = asyncio.current_task()
        await asyncio.sleep(0.001)
        return x * 2

    assert run(main(21)) == 42
    assert type(seen["task"]) is task_type
    if run is asyncio_c.run:
        assert type(seen["loop"]) is asyncio_c.Loop
    assert seen["loop"].is_closed()
    assert asyncio._get_running_loop() is None


@pytest.mark.parametrize("run, task_type", RUNS)
def test_run_propagates_the_exception(run, task_type):
    async def main():
        await asyncio.sleep(0)
        raise LookupError("from main")

    with pytest.raises(LookupError, match="from main"):
        run(main())


@pytest.mark.parametrize("run, task_type", RUNS)
def test_run_cancels_leftover_tasks(run, task_type):
    log = []
    children = []

    async def child(tag):
        try:
            await asyncio.sleep(100)
        finally:
            log.append(tag)

    async def stubborn():
        try:
            await asyncio.sleep(100)
        except asyncio.CancelledError:
            raise ValueError("failed while cancelled")

    async def main():
        loop = asyncio.get_running_loop()
        loop.set_exception_handler(lambda lp, ctx: log.append(ctx["message"]))
        children.extend(asyncio.create_task(child(t)) for t in ("a", "b"))
        children.append(asyncio.create_task(stubborn()))
        await asyncio.sleep(0)
        return "main done"

    assert run(main()) == "main done"
    assert sorted(log[:2]) == ["a", "b"]
    assert log[2:] == ["unhandled exception during asyncio.run() shutdown"]
    assert children[0].cancelled() and children[1].cancelled()
    assert isinstance(children[2].exception(), ValueError)


@pytest.mark.parametrize("run, task_type", RUNS)
def test_run_shuts_asyncgens_down(run, task_type):
    log = []
    keep = []

    async def agen():
        try:
            yield 1
            yield 2
        finally:
            log.append("agen closed")

    async def main():
        g = agen()
        keep.append(g)
        await g.__anext__()

    run(main())
    assert log == ["agen closed"]


@pytest.mark.parametrize("run, task_type", RUNS)
def test_run_shuts_the_default_executor_down(run, task_type):
    seen = []

    async def main():
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, int, "1")
        seen.append(loop._default_executor)

    run(main())
    with pytest.raises(RuntimeError):
        seen[0].submit(print)


@pytest.mark.parametrize("run, task_type", RUNS)
@pytest.mark.parametrize("debug", [True, False, None])
def test_run_debug(run, task_type, debug):
    async def main():
        return asyncio.get_running_loop().get_debug()

    assert run(main(), debug=debug) is bool(debug)


@pytest.mark.parametrize("run, task_type", RUNS)
def test_run_refused_inside_a_running_loop(request, run, task_type):

    async def inner():
        pass

    caught = []

    async def main():
        coro = inner()
        try:
            run(coro)
        except RuntimeError as exc:
            caught.append(str(exc))
            # let go of the failed run's frames now, while this module's warning
            # filter is active (not in pytest's report at the end of the session)
            exc.__traceback__ = exc.__context__ = None
            del exc
            gc.collect()
        finally:
            coro.close()
        return "ok"

    assert run(main()) == "ok"
    assert len(caught) == 1
    assert "cannot be called from a running event loop" in caught[0], caught[0]


@pytest.mark.parametrize("run, task_type", RUNS)
def test_run_refuses_a_non_coroutine(run, task_type):
    fut = asyncio.Future  # a class: neither a coroutine nor awaitable as is
    with pytest.raises(ValueError, match="a coroutine was expected"):
        run(fut)


@pytest.mark.parametrize("run, task_type", RUNS)
def test_run_copies_the_context(run, task_type):
    async def main():
        before = var.get()
        var.set("inside")
        return before

    token = var.set("outside")
    try:
        assert run(main()) == "outside"
        assert var.get() == "outside"
    finally:
        var.reset(token)


def test_run_debug_from_the_environment():
    proc = run_python("""
        import asyncio, asyncio_c
        async def main():
            return asyncio.get_running_loop().get_debug()
        print(asyncio.run(main()), asyncio_c.run(main()))
    """, env={"PYTHONASYNCIODEBUG": "1"})
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "True True"


# --------------------------------------------------------------------------------------
# asyncio.Runner and asyncio.run with loop_factory


def test_runner_with_loop_factory():
    async def step(x):
        await asyncio.sleep(0)
        return asyncio.get_running_loop(), type(asyncio.current_task()), x

    with asyncio.Runner(loop_factory=asyncio_c.new_event_loop) as runner:
        loop = runner.get_loop()
        assert type(loop) is asyncio_c.Loop
        l1, t1, x1 = runner.run(step(1))
        l2, t2, x2 = runner.run(step(2))
        assert l1 is l2 is loop
        assert t1 is t2 is asyncio_c.Task
        assert (x1, x2) == (1, 2)
        ctx = contextvars.copy_context()
        ctx.run(var.set, "given")

        async def read():
            return var.get()

        assert runner.run(read(), context=ctx) == "given"
    assert loop.is_closed()


def test_runner_with_loop_factory_debug():
    with asyncio.Runner(debug=True, loop_factory=asyncio_c.new_event_loop) as runner:
        assert runner.get_loop().get_debug() is True


@pytest.mark.skipif(PY < (3, 12), reason="asyncio.run(loop_factory=) is 3.12+")
def test_asyncio_run_with_loop_factory():
    async def main():
        await asyncio.sleep(0)
        return type(asyncio.get_running_loop()), type(asyncio.current_task())

    assert asyncio.run(main(), loop_factory=asyncio_c.new_event_loop) == (
        asyncio_c.Loop, asyncio_c.Task)


# --------------------------------------------------------------------------------------
# the policy


def test_event_loop_policy():
    policy = asyncio_c.EventLoopPolicy()
    assert isinstance(policy, asyncio.AbstractEventLoopPolicy)
    loop = policy.new_event_loop()
    try:
        assert type(loop) is asyncio_c.Loop
    finally:
        loop.close()


def test_install():
    async def main():
        await asyncio.sleep(0)
        return type(asyncio.get_running_loop()), type(asyncio.current_task())

    asyncio_c.install()
    assert type(asyncio.get_event_loop_policy()) is asyncio_c.EventLoopPolicy
    loop = asyncio.new_event_loop()
    try:
        assert type(loop) is asyncio_c.Loop
    finally:
        loop.close()
    assert asyncio.run(main()) == (asyncio_c.Loop, asyncio_c.Task)
    with asyncio.Runner() as runner:
        assert type(runner.get_loop()) is asyncio_c.Loop
    asyncio.set_event_loop_policy(None)
    assert type(asyncio.run(main())[0]) is not asyncio_c.Loop


def test_install_in_a_fresh_interpreter():
    proc = run_python("""
        import asyncio, asyncio_c
        asyncio_c.install()
        async def main():
            return type(asyncio.get_running_loop()).__module__
        print(asyncio.run(main()))
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        print(type(asyncio.get_event_loop()).__module__)
        loop.close()
    """)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["asyncio_c._loop", "asyncio_c._loop"]


# --------------------------------------------------------------------------------------
# warnings


WARNING_SCRIPT = """
import asyncio, os, sys
impl = sys.argv[1]
if impl == "asyncio_c":
    import asyncio_c
    run, factory, install = asyncio_c.run, asyncio_c.new_event_loop, asyncio_c.install
else:
    run, factory, install = asyncio.run, asyncio.SelectorEventLoop, lambda: None

async def agen():
    yield 1
    yield 2

async def main():
    loop = asyncio.get_running_loop()
    await asyncio.sleep(0.001)
    await loop.run_in_executor(None, int, "1")
    async for _ in agen():
        break
    t = asyncio.ensure_future(asyncio.sleep(10))
    await asyncio.sleep(0)
    r, w = os.pipe()
    loop.add_reader(r, print)
    loop.remove_reader(r)
    os.close(r)
    os.close(w)
    asyncio.get_event_loop()
    t.cancel()
    await asyncio.sleep(0)
    return "ok"

print(run(main()))
print(run(main(), debug=True))
with asyncio.Runner(loop_factory=factory) as runner:
    print(runner.run(main()))
if sys.version_info >= (3, 12):
    print(asyncio.run(main(), loop_factory=factory))
loop = factory()
print(loop.run_until_complete(main()))
loop.run_until_complete(loop.shutdown_asyncgens())
loop.close()
install()
print(asyncio.run(main()))
"""


@pytest.mark.parametrize("impl", ["asyncio", "asyncio_c"])
def test_no_warnings_with_warnings_as_errors(impl):
    proc = subprocess.run(
        [sys.executable, "-W", "error", "-c", WARNING_SCRIPT, impl],
        capture_output=True, text=True, timeout=60, cwd=REPO, env=child_env())
    assert proc.returncode == 0, proc.stderr
    n = 6 if PY >= (3, 12) else 5
    assert proc.stdout.split() == ["ok"] * n
    assert proc.stderr == ""


# --------------------------------------------------------------------------------------
# Ctrl-C


CTRL_C_SCRIPT = """
import asyncio, sys
impl, mode = sys.argv[1], sys.argv[2]

async def main():
    try:
        print("ready", flush=True)
        if mode == "future":        # nothing scheduled at all: blocked in the poller
            await asyncio.get_running_loop().create_future()
        else:
            await asyncio.sleep(30)
    except asyncio.CancelledError:
        print("cancelled", flush=True)
        if mode == "swallow":
            return "swallowed"
        raise
    finally:
        print("finally ran", flush=True)

if impl == "asyncio_c":
    import asyncio_c
    print(asyncio_c.run(main()), flush=True)
else:
    print(asyncio.run(main()), flush=True)
"""


def _ctrl_c(impl, mode):
    proc = subprocess.Popen(
        [sys.executable, "-c", CTRL_C_SCRIPT, impl, mode],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO, env=child_env())
    try:
        assert proc.stdout.readline() == "ready\n"
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    return proc.returncode, out.split("\n"), err


@pytest.mark.parametrize("mode", ["sleep", "future"])
@pytest.mark.parametrize("impl", ["asyncio", "asyncio_c"])
def test_ctrl_c_ends_with_keyboard_interrupt(impl, mode):
    rc, out, err = _ctrl_c(impl, mode)
    assert out[:2] == ["cancelled", "finally ran"]
    assert out[2:] == [""]
    assert err.rstrip().endswith("KeyboardInterrupt")
    assert rc == -signal.SIGINT          # the interpreter re-raises SIGINT to die of it


@pytest.mark.parametrize("impl", ["asyncio", "asyncio_c"])
def test_ctrl_c_swallowed_by_main(impl):
    rc, out, err = _ctrl_c(impl, "swallow")
    assert out == ["cancelled", "finally ran", "swallowed", ""]
    assert rc == 0, err
