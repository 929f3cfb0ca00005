"""Signals: add_signal_handler / remove_signal_handler with real signals sent to this
process (os.kill / pthread_kill), bad signals, other threads, signals that arrive while
the loop is not running, SIGINT without a handler.

Every case runs on asyncio's selector loop and on asyncio_c's loop (fixture ``limpl``)
with the same expectations.
"""
import asyncio
import os
import signal
import threading
import time

import pytest

from _loop_helpers import lenv, limpl  # noqa: F401

SIG = signal.SIGUSR1
SIG2 = signal.SIGUSR2


@pytest.fixture(autouse=True)
def restore_signals():
    saved = {s: signal.getsignal(s) for s in (SIG, SIG2, signal.SIGINT, signal.SIGALRM)}
    wakeup = signal.set_wakeup_fd(-1)
    signal.set_wakeup_fd(wakeup)
    yield
    for s, h in saved.items():
        signal.signal(s, h)
    assert signal.set_wakeup_fd(wakeup) in (-1, wakeup)


def kill_self(sig):
    os.kill(os.getpid(), sig)


def test_handler_called_with_args(lenv):
    loop = lenv.loop
    got = []
    loop.add_signal_handler(SIG, lambda *a: got.append((a, threading.get_ident())), 1, "x")
    loop.call_soon(kill_self, SIG)
    lenv.run_until(lambda: got)
    assert got == [((1, "x"), threading.get_ident())]
    assert loop.remove_signal_handler(SIG) is True
    assert loop.remove_signal_handler(SIG) is False


def test_handler_per_signal_and_replacement(lenv):
    loop = lenv.loop
    got = []
    loop.add_signal_handler(SIG, got.append, "first")
    loop.add_signal_handler(SIG, got.append, "usr1")       # replaces the first
    loop.add_signal_handler(SIG2, got.append, "usr2")
    loop.call_soon(kill_self, SIG)
    lenv.run_until(lambda: "usr1" in got)
    loop.call_soon(kill_self, SIG2)
    lenv.run_until(lambda: "usr2" in got)
    assert got == ["usr1", "usr2"]
    assert loop.remove_signal_handler(SIG) and loop.remove_signal_handler(SIG2)


def test_signal_wakes_a_blocked_loop(lenv):
    loop = lenv.loop
    got = []
    loop.add_signal_handler(SIG, got.append, "sig")
    loop.add_signal_handler(SIG2, loop.stop)

    def sender():
        time.sleep(0.1)
        kill_self(SIG)
        time.sleep(0.05)
        kill_self(SIG2)

    th = threading.Thread(target=sender)
    t0 = time.monotonic()
    th.start()
    try:
        loop.run_forever()               # no timers, nothing ready: blocks in the poller
    finally:
        th.join()
    assert got == ["sig"]
    assert time.monotonic() - t0 < 1.0


def test_signal_while_not_running_is_delivered_when_it_runs(lenv):
    loop = lenv.loop
    got = []
    loop.add_signal_handler(SIG, got.append, "late")
    kill_self(SIG)
    time.sleep(0.01)
    assert got == []
    lenv.run_until(lambda: got)
    lenv.run(asyncio.sleep(0.02))
    assert got == ["late"]               # exactly once


def test_handler_exception_goes_to_the_exception_handler(lenv):
    loop = lenv.loop

    def bad():
        raise ValueError("in signal handler")

    loop.add_signal_handler(SIG, bad)
    loop.call_soon(kill_self, SIG)
    lenv.run_until(lambda: lenv.errors)
    (ctx,) = lenv.take_errors()
    assert isinstance(ctx["exception"], ValueError)
    assert ctx["message"].startswith("Exception in callback ")
    # the loop goes on
    assert lenv.run(asyncio.sleep(0, 1)) == 1


def test_invalid_signal(lenv):
    loop = lenv.loop
    for bad in (0, 1000, -1):
        with pytest.raises(ValueError, match=f"invalid signal number {bad}"):
            loop.add_signal_handler(bad, print)
        with pytest.raises(ValueError, match=f"invalid signal number {bad}"):
            loop.remove_signal_handler(bad)
    with pytest.raises(TypeError):
        loop.add_signal_handler("SIGUSR1", print)


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGSTOP])
def test_uncatchable_signal(lenv, sig):
    with pytest.raises(RuntimeError, match=f"sig {int(sig)} cannot be caught"):
        lenv.loop.add_signal_handler(sig, print)
    assert lenv.loop.remove_signal_handler(sig) is False


def test_coroutine_handler_refused(lenv):
    async def handler():
        pass

    with pytest.raises(TypeError, match="coroutines cannot be used with add_signal_handler"):
        lenv.loop.add_signal_handler(SIG, handler)
    coro = handler()
    try:
        with pytest.raises(TypeError, match="coroutines cannot be used with add_signal_handler"):
            lenv.loop.add_signal_handler(SIG, coro)
    finally:
        coro.close()


def test_closed_loop(lenv):
    lenv.loop.close()
    with pytest.raises(RuntimeError, match="^Event loop is closed$"):
        lenv.loop.add_signal_handler(SIG, print)


def test_not_in_the_main_thread(lenv):
    errors = []

    def body():
        try:
            lenv.loop.add_signal_handler(SIG, print)
        except BaseException as exc:
            errors.append(exc)

    th = threading.Thread(target=body)
    th.start()
    th.join()
    (exc,) = errors
    assert type(exc) is RuntimeError
    assert "main thread" in str(exc)
    assert signal.getsignal(SIG) is signal.SIG_DFL
    assert lenv.loop.remove_signal_handler(SIG) is False


def test_remove_restores_the_default_disposition(lenv):
    loop = lenv.loop
    loop.add_signal_handler(SIG, print)
    loop.add_signal_handler(signal.SIGINT, print)
    assert signal.getsignal(SIG) not in (signal.SIG_DFL, signal.SIG_IGN)
    assert loop.remove_signal_handler(SIG) is True
    assert signal.getsignal(SIG) is signal.SIG_DFL
    assert loop.remove_signal_handler(signal.SIGINT) is True
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    # the loop let go of the wakeup fd with its last handler
    assert signal.set_wakeup_fd(-1) == -1


def test_close_removes_the_handlers(lenv):
    loop = lenv.loop
    loop.add_signal_handler(SIG, print)
    loop.add_signal_handler(SIG2, print)
    loop.close()
    assert signal.getsignal(SIG) is signal.SIG_DFL
    assert signal.getsignal(SIG2) is signal.SIG_DFL
    assert signal.set_wakeup_fd(-1) == -1


def test_sigint_without_a_handler_interrupts_the_loop(lenv):
    loop = lenv.loop
    signal.signal(signal.SIGINT, signal.default_int_handler)
    main = threading.main_thread().ident

    def sender():
        time.sleep(0.1)
        signal.pthread_kill(main, signal.SIGINT)

    th = threading.Thread(target=sender)
    th.start()
    t0 = time.monotonic()
    try:
        with pytest.raises(KeyboardInterrupt):
            loop.run_forever()        # blocked in the poller, no timers
    finally:
        th.join()
    assert time.monotonic() - t0 < 1.0
    assert not loop.is_running()
    assert asyncio._get_running_loop() is None
    assert lenv.run(asyncio.sleep(0, "still usable")) == "still usable"


def test_sigint_handler_of_the_loop(lenv):
    loop = lenv.loop
    got = []
    loop.add_signal_handler(signal.SIGINT, got.append, "int")
    main = threading.main_thread().ident
    loop.call_soon(signal.pthread_kill, main, signal.SIGINT)
    lenv.run_until(lambda: got)
    assert got == ["int"]
    assert loop.remove_signal_handler(signal.SIGINT)


def test_many_signals(lenv):
    loop = lenv.loop
    got = []
    loop.add_signal_handler(SIG, got.append, 1)

    async def main():
        for _ in range(50):
            kill_self(SIG)
            await asyncio.sleep(0.001)

    lenv.run(main())
    lenv.run(asyncio.sleep(0.02))
    # signals of one kind may coalesce, but every one sent after the previous delivery
    # counts; at least a good part of 50 spaced-out ones arrive, and no extra ones
    assert 10 <= len(got) <= 50
