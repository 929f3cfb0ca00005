"""Executor and resolver, exception handlers, debug mode, async generators, subprocesses,
and schedule/cancel churn at scale.

Every case runs on asyncio's selector loop and on asyncio_c's loop (fixture ``limpl``)
with the same expectations; known differences are strict xfails that name them.
"""
import asyncio
import concurrent.futures
import contextvars
import gc
import logging
import re
import socket
import sys
import threading
import time
import warnings

import pytest

from _loop_helpers import (  # noqa: F401
    skip_under_memcheck,
    PY, callback_source, collect, lenv, limpl, rss_bytes, run_python,
)

var = contextvars.ContextVar("var", default="unset")


class LogRecorder(logging.Handler):
    def __init__(self):
        super().__init__(logging.DEBUG)
        self.records = []

    def emit(self, record):
        self.records.append(record)

    def messages(self, level=None):
        return [r.getMessage() for r in self.records if level is None or r.levelno == level]


@pytest.fixture
def asyncio_log():
    """Records of the 'asyncio' logger (the default exception handler, slow callbacks)."""
    logger = logging.getLogger("asyncio")
    rec = LogRecorder()
    old_level, old_propagate = logger.level, logger.propagate
    logger.addHandler(rec)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    try:
        yield rec
    finally:
        logger.removeHandler(rec)
        logger.setLevel(old_level)
        logger.propagate = old_propagate


def boom():
    raise ZeroDivisionError("boom")


# --------------------------------------------------------------------------------------
# executor


def test_run_in_executor_default(lenv):
    loop = lenv.loop

    def work(a, b):
        return a + b, threading.get_ident()

    fut = loop.run_in_executor(None, work, 2, 3)
    assert isinstance(fut, lenv.impl.Future)
    result, tid = lenv.run(fut)
    assert result == 5
    assert tid != threading.get_ident()


def test_run_in_executor_exception(lenv):
    def fail():
        raise KeyError("in executor")

    with pytest.raises(KeyError, match="in executor"):
        lenv.run(lenv.loop.run_in_executor(None, fail))


def test_run_in_executor_custom_executor(lenv):
    with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="custom") as ex:
        name = lenv.run(lenv.loop.run_in_executor(ex, lambda: threading.current_thread().name))
    assert name.startswith("custom")


def test_set_default_executor(lenv):
    loop = lenv.loop
    ex = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="default-one")
    loop.set_default_executor(ex)
    name = lenv.run(loop.run_in_executor(None, lambda: threading.current_thread().name))
    assert name.startswith("default-one")
    with pytest.raises(TypeError, match="executor must be ThreadPoolExecutor instance"):
        loop.set_default_executor(object())


def test_shutdown_default_executor(lenv):
    loop = lenv.loop
    assert lenv.run(loop.run_in_executor(None, int, "7")) == 7
    lenv.run(loop.shutdown_default_executor())
    with pytest.raises(RuntimeError, match="^Executor shutdown has been called$"):
        loop.run_in_executor(None, int, "8")


def test_run_in_executor_refuses_coroutine_functions_in_debug(lenv):
    lenv.loop.set_debug(True)

    async def coro_fn():
        pass

    with pytest.raises(TypeError, match="coroutines cannot be used with run_in_executor"):
        lenv.loop.run_in_executor(None, coro_fn)


def test_run_in_executor_closed_loop(lenv):
    lenv.loop.close()
    with pytest.raises(RuntimeError, match="^Event loop is closed$"):
        lenv.loop.run_in_executor(None, print)


# --------------------------------------------------------------------------------------
# resolver


def test_getaddrinfo_localhost(lenv):
    got = lenv.run(lenv.loop.getaddrinfo("localhost", 80, type=socket.SOCK_STREAM))
    assert got == socket.getaddrinfo("localhost", 80, type=socket.SOCK_STREAM)
    assert any(ai[4][0] == "127.0.0.1" for ai in got)


def test_getaddrinfo_error(lenv):
    with pytest.raises(socket.gaierror):
        lenv.run(lenv.loop.getaddrinfo("no-such-host.invalid", 80))


def test_getnameinfo_localhost(lenv):
    loop = lenv.loop
    flags = socket.NI_NUMERICHOST | socket.NI_NUMERICSERV
    assert lenv.run(loop.getnameinfo(("127.0.0.1", 8080), flags)) == ("127.0.0.1", "8080")
    assert lenv.run(loop.getnameinfo(("127.0.0.1", 80))) == socket.getnameinfo(
        ("127.0.0.1", 80), 0)


# --------------------------------------------------------------------------------------
# exception handlers


def test_get_and_set_exception_handler():
    from _loop_helpers import LOOP_IMPLS
    for impl in LOOP_IMPLS:
        loop = impl.new_loop()
        try:
            assert loop.get_exception_handler() is None

            def handler(loop, context):
                pass

            loop.set_exception_handler(handler)
            assert loop.get_exception_handler() is handler
            with pytest.raises(TypeError, match="A callable object or None is expected, got 42"):
                loop.set_exception_handler(42)
            assert loop.get_exception_handler() is handler
            loop.set_exception_handler(None)
            assert loop.get_exception_handler() is None
        finally:
            loop.close()


def test_call_exception_handler_passes_loop_and_context(lenv):
    ctx = {"message": "hello", "extra": 1}
    lenv.loop.call_exception_handler(ctx)
    (got,) = lenv.take_errors()
    assert got is ctx


def test_exception_handler_runs_in_the_handle_context(lenv):
    loop = lenv.loop
    seen = []
    loop.set_exception_handler(lambda lp, c: seen.append(var.get()))
    ctx = contextvars.Context()
    ctx.run(var.set, "callback's")
    loop.call_soon(boom, context=ctx)
    lenv.spin()
    # 3.12's call_exception_handler runs the handler in handle.get_context()
    assert seen == (["callback's"] if PY >= (3, 12) else ["unset"])


def test_default_exception_handler_logs(lenv, asyncio_log):
    loop = lenv.loop
    loop.set_exception_handler(None)
    h = loop.call_soon(boom)
    lenv.spin()
    (rec,) = asyncio_log.records
    assert rec.levelno == logging.ERROR
    src = callback_source(boom, (), False)
    assert rec.getMessage() == f"Exception in callback {src}\nhandle: <Handle {src}>"
    assert rec.exc_info[0] is ZeroDivisionError
    del h


def test_default_exception_handler_direct(lenv, asyncio_log):
    exc = ValueError("x")
    lenv.loop.default_exception_handler({"message": "direct", "exception": exc, "b": 2, "a": 1})
    lenv.loop.default_exception_handler({})
    msgs = asyncio_log.messages(logging.ERROR)
    assert msgs == ["direct\na: 1\nb: 2", "Unhandled exception in event loop"]
    assert asyncio_log.records[0].exc_info[1] is exc
    assert not asyncio_log.records[1].exc_info


def test_failing_exception_handler(lenv, asyncio_log):
    loop = lenv.loop

    def handler(loop, context):
        raise RuntimeError("handler broke")

    loop.set_exception_handler(handler)
    loop.call_soon(boom)
    loop.call_soon(loop.call_exception_handler, {"message": "direct"})
    ran = []
    loop.call_soon(ran.append, "loop goes on")
    lenv.spin()
    assert ran == ["loop goes on"]
    msgs = asyncio_log.messages(logging.ERROR)
    assert len(msgs) == 2
    assert all(m.startswith("Unhandled error in exception handler\ncontext: ") for m in msgs)
    assert "Exception in callback" in msgs[0] and "'direct'" in msgs[1]
    assert all(r.exc_info[0] is RuntimeError for r in asyncio_log.records)


@pytest.mark.parametrize("exc_type", [KeyboardInterrupt, SystemExit])
def test_exception_handler_base_exceptions_propagate(lenv, exc_type):
    def handler(loop, context):
        raise exc_type

    lenv.loop.set_exception_handler(handler)
    with pytest.raises(exc_type):
        lenv.loop.call_exception_handler({"message": "x"})


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
@pytest.mark.parametrize("exc_type", [KeyboardInterrupt, SystemExit])
def test_exception_handler_base_exceptions_propagate_out_of_the_loop(request, lenv, exc_type):
    loop = lenv.loop

    def handler(loop, context):
        raise exc_type

    loop.set_exception_handler(handler)
    loop.call_soon(boom)
    with pytest.raises(exc_type):
        lenv.spin()
    assert not loop.is_running()


# --------------------------------------------------------------------------------------
# debug mode


def test_set_debug(lenv):
    loop = lenv.loop
    assert loop.get_debug() is False
    loop.set_debug(True)
    assert loop.get_debug() is True
    loop.set_debug(False)
    assert loop.get_debug() is False


@pytest.mark.parametrize("how", ["env", "devmode", "none"])
def test_debug_from_the_environment(how):
    code = """
        import asyncio, asyncio_c
        loops = [asyncio.SelectorEventLoop(), asyncio_c.new_event_loop()]
        print(*[loop.get_debug() for loop in loops])
        for loop in loops:
            loop.close()
    """
    env = {"PYTHONASYNCIODEBUG": "1"} if how == "env" else {}
    args = ["-X", "dev"] if how == "devmode" else []
    proc = run_python(code, args=args, env=env)
    assert proc.returncode == 0, proc.stderr
    expected = "False False" if how == "none" else "True True"
    assert proc.stdout.split("\n")[0] == expected


def test_current_handle_in_debug_mode(lenv):
    loop = lenv.loop
    loop.set_debug(True)
    seen = []
    h = loop.call_soon(lambda: seen.append(loop._current_handle))
    lenv.spin()
    assert seen == [h]
    assert loop._current_handle is None


def slow_callback():
    time.sleep(0.06)


def test_slow_callback_warning(lenv, asyncio_log):
    loop = lenv.loop
    loop.set_debug(True)
    loop.slow_callback_duration = 0.05
    h = loop.call_soon(slow_callback)
    line = h._source_traceback[-1][1]
    loop.call_soon(int)                           # fast: not reported
    lenv.spin()
    (msg,) = asyncio_log.messages(logging.WARNING)
    src = callback_source(slow_callback, (), True)
    m = re.fullmatch(r"Executing (.*) took (\d+\.\d{3}) seconds", msg)
    assert m, msg
    assert m.group(1) == f"<Handle {src} created at {__file__}:{line}>"
    assert 0.05 <= float(m.group(2)) < 1.0


def test_no_slow_callback_warning_without_debug(lenv, asyncio_log):
    loop = lenv.loop
    loop.slow_callback_duration = 0.01
    loop.call_soon(time.sleep, 0.03)
    lenv.spin()
    assert asyncio_log.messages(logging.WARNING) == []


def test_slow_task_step_warning_names_the_task(request, lenv, asyncio_log):
    loop = lenv.loop
    loop.set_debug(True)
    loop.slow_callback_duration = 0.05

    async def slow_coro():
        time.sleep(0.06)

    task = loop.create_task(slow_coro(), name="the-slow-one")
    lenv.run(task)
    (msg,) = asyncio_log.messages(logging.WARNING)
    assert msg.startswith("Executing <Task ")
    assert "name='the-slow-one'" in msg and "slow_coro()" in msg


def test_default_handler_shows_where_the_handle_was_created(lenv, asyncio_log):
    loop = lenv.loop
    loop.set_debug(True)
    loop.set_exception_handler(None)
    h = loop.call_soon(boom)
    line = h._source_traceback[-1][1]
    lenv.spin()
    (msg,) = asyncio_log.messages(logging.ERROR)
    assert "\nsource_traceback: Object created at (most recent call last):\n" in msg
    assert f'File "{__file__}", line {line}, in ' in msg


# --------------------------------------------------------------------------------------
# async generators


def test_asyncgen_hooks_while_running(lenv):
    loop = lenv.loop
    before = sys.get_asyncgen_hooks()
    seen = []
    loop.call_soon(lambda: seen.append(sys.get_asyncgen_hooks()))
    lenv.spin()
    assert seen[0].firstiter == loop._asyncgen_firstiter_hook
    assert seen[0].finalizer == loop._asyncgen_finalizer_hook
    assert sys.get_asyncgen_hooks() == before


def test_asyncgen_finalized_on_the_loop(lenv):
    loop = lenv.loop
    log = []

    async def agen():
        try:
            yield 1
            yield 2
        finally:
            log.append(("finally", asyncio.get_running_loop() is loop))

    async def main():
        g = agen()
        assert await g.__anext__() == 1
        del g
        gc.collect()
        for _ in range(5):
            await asyncio.sleep(0)

    lenv.run(main())
    assert log == [("finally", True)]


def test_shutdown_asyncgens(lenv):
    loop = lenv.loop
    log = []

    async def agen(tag):
        try:
            yield tag
            yield "never"
        finally:
            log.append(tag)

    keep = []

    async def main():
        for tag in ("a", "b"):
            g = agen(tag)
            keep.append(g)
            await g.__anext__()

    lenv.run(main())
    assert log == []
    lenv.run(loop.shutdown_asyncgens())
    assert sorted(log) == ["a", "b"]

    async def late():
        g = agen("late")
        try:
            with pytest.warns(ResourceWarning, match="after loop.shutdown_asyncgens"):
                await g.__anext__()
        finally:
            await g.aclose()

    lenv.run(late())


def test_shutdown_asyncgens_reports_errors(lenv):
    loop = lenv.loop

    async def agen():
        try:
            yield 1
        finally:
            raise ValueError("while closing")

    async def main():
        g = agen()
        await g.__anext__()
        return g

    g = lenv.run(main())
    lenv.run(loop.shutdown_asyncgens())
    (ctx,) = lenv.take_errors()
    assert ctx["message"] == f"an error occurred during closing of asynchronous generator {g!r}"
    assert isinstance(ctx["exception"], ValueError)
    assert ctx["asyncgen"] is g


# --------------------------------------------------------------------------------------
# subprocesses (asyncio's own code over the loop's core)


def test_subprocess_exec(lenv):
    async def main():
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-c", "import sys; print(sys.stdin.read().upper())",
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE)
        out, _ = await proc.communicate(b"hello")
        return proc.returncode, out

    with warnings.catch_warnings():
        # 3.12 deprecates the child watchers asyncio itself still uses here
        warnings.simplefilter("ignore", DeprecationWarning)
        asyncio.set_event_loop(lenv.loop)
        try:
            rc, out = lenv.run(asyncio.wait_for(main(), 20))
        finally:
            asyncio.set_event_loop(None)
    assert (rc, out) == (0, b"HELLO\n")


# --------------------------------------------------------------------------------------
# scale: schedule+cancel churn keeps memory flat


@skip_under_memcheck
def test_schedule_cancel_churn_keeps_memory_flat(lenv):
    n = 1_000_000

    def noop():
        pass

    async def churn():
        loop = asyncio.get_running_loop()
        marks = []
        for i in range(n):
            loop.call_later(10, noop).cancel()
            if i % 1000 == 999:
                await asyncio.sleep(0)
            if i % 250_000 == 249_999:
                marks.append(rss_bytes())
        return marks

    marks = lenv.run(churn())
    collect()
    assert len(marks) == 4
    # after the first quarter (warm caches, arenas), nothing more is kept
    assert max(marks) - marks[0] < 4 * 2**20, [m / 2**20 for m in marks]
    # and the loop still keeps time
    fired = []
    lenv.loop.call_later(0.001, fired.append, 1)
    lenv.run_until(lambda: fired)


# --------------------------------------------------------------------------------------
# create_future, create_task and the task factory


def test_create_future_and_task_types(lenv):
    loop = lenv.loop
    assert type(loop.create_future()) is lenv.impl.Future

    async def coro():
        return 1

    task = loop.create_task(coro())
    assert type(task) is lenv.impl.Task
    assert task.get_loop() is loop
    assert lenv.run(task) == 1


def test_create_task_name_and_context(lenv):
    loop = lenv.loop
    ctx = contextvars.Context()
    ctx.run(var.set, "task ctx")

    async def read():
        return var.get()

    task = loop.create_task(read(), name="named", context=ctx)
    assert task.get_name() == "named"
    assert lenv.run(task) == "task ctx"
    task = loop.create_task(read())
    assert task.get_name().startswith("Task-")
    assert lenv.run(task) == "unset"


def test_create_task_refuses_non_coroutines(lenv):
    with pytest.raises(TypeError, match="a coroutine was expected"):
        lenv.loop.create_task(42)
    with pytest.raises(TypeError):
        lenv.loop.create_task()


def test_create_task_arguments_as_asyncio(lenv):
    """create_task(coro, *, name=None, context=None): coro by keyword too;
    the same TypeErrors as asyncio's Python signature."""
    loop = lenv.loop

    async def one():
        return 1

    task = loop.create_task(coro=one(), name="kw")
    assert task.get_name() == "kw"
    assert lenv.run(task) == 1
    cases = [
        ((), {}, "missing 1 required positional argument: 'coro'"),
        ((1, 2), {}, r"takes \d positional arguments? but \d were given"),
        ((1,), {"foo": 1}, "unexpected keyword argument 'foo'"),
        ((1,), {"coro": 1}, "multiple values for argument 'coro'"),
    ]
    for args, kwargs, msg in cases:
        with pytest.raises(TypeError, match=msg):
            loop.create_task(*args, **kwargs)


def test_task_factory_calls_match_asyncio():
    """What the factory receives, per call shape, is asyncio's: compare both loops."""
    from _loop_helpers import ASYNCIO, ASYNCIO_C

    def scenario(impl):
        loop = impl.new_loop()
        calls = []

        def factory(loop_, coro, **kwargs):
            calls.append((loop_ is loop, sorted(kwargs)))
            return impl.Task(coro, loop=loop_, **kwargs)

        async def coro():
            return asyncio.current_task().get_name()

        try:
            assert loop.get_task_factory() is None
            loop.set_task_factory(factory)
            assert loop.get_task_factory() is factory
            names = [
                loop.run_until_complete(loop.create_task(coro())),
                loop.run_until_complete(loop.create_task(coro(), name="n1")),
                loop.run_until_complete(
                    loop.create_task(coro(), name="n2", context=contextvars.copy_context())),
                loop.run_until_complete(coro()),       # run_until_complete's own task
            ]
            with pytest.raises(TypeError, match="task factory must be a callable or None"):
                loop.set_task_factory(42)
            loop.set_task_factory(None)
            assert loop.get_task_factory() is None
            return calls, [n if not n.startswith("Task-") else "Task-N" for n in names]
        finally:
            loop.close()

    assert scenario(ASYNCIO_C) == scenario(ASYNCIO)


@pytest.mark.skipif(PY < (3, 12), reason="eager tasks are 3.12+")
def test_eager_task_factory(lenv):
    import asyncio_c
    loop = lenv.loop
    eager = asyncio_c.eager_task_factory if lenv.impl.is_c else asyncio.eager_task_factory
    loop.set_task_factory(eager)
    log = []

    async def child():
        log.append("child started")
        await asyncio.sleep(0)
        return "child done"

    async def main():
        task = loop.create_task(child())
        log.append("after create_task")
        return await task

    assert lenv.run(main()) == "child done"
    assert log == ["child started", "after create_task"]
