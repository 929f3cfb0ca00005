"""Loops in threads under cross-thread storms, on asyncio's loop and on asyncio_c's.

Eight threads each run their own loop (run_forever); several producer threads pour
call_soon_threadsafe callbacks and run_coroutine_threadsafe coroutines into them, while
other threads stop the loops and, at the end, the loops get closed with producers still
racing.

What asyncio guarantees, and so what is asserted on both loops:
- call_soon_threadsafe either returns a handle (accepted) or raises RuntimeError("Event
  loop is closed") once close() has marked the loop closed; never anything else.
- An accepted callback runs at most once, in FIFO order per producer: what ran of one
  producer's callbacks is a prefix of what it had accepted.  Accepted callbacks that
  had not run when the loop stopped for good are dropped by close() (asyncio clears
  its ready queue), never run later; and a producer that passed the closed-check just
  before close() may leave its handle in a closed loop's queue where it never runs
  either.  Either way the callback and its arguments are freed with the loop (weakref
  proof below).
- Every thread joins; no fd is left open (/proc/self/fd before and after).
"""
import asyncio
import concurrent.futures
import gc
import os
import threading
import time
import weakref

import pytest

from _loop_helpers import collect, limpl  # noqa: F401  (fixture)

N_LOOPS = 8
N_PRODUCERS = 4
JOIN = 60.0


def fd_count():
    return len(os.listdir("/proc/self/fd"))


class LoopThread:
    """A loop created, run (run_forever, possibly several rounds) and closed in a thread."""

    def __init__(self, impl, rounds=1):
        self.impl = impl
        self.rounds = rounds
        self.ready = threading.Event()
        self.loop = None
        self.runs = 0
        self.error = None
        self.th = threading.Thread(target=self._main)
        self.th.start()
        assert self.ready.wait(JOIN)

    def _main(self):
        try:
            self.loop = self.impl.new_loop()
            self.ready.set()
            for _ in range(self.rounds):
                self.loop.run_forever()
                self.runs += 1
            self.loop.close()
        except BaseException as e:  # reported by join()
            self.error = e
            self.ready.set()

    def join(self):
        self.th.join(JOIN)
        assert not self.th.is_alive()
        assert self.error is None, repr(self.error)


def test_storm_nothing_lost_no_duplicates_fifo(limpl):
    fds = fd_count()
    lts = [LoopThread(limpl) for _ in range(N_LOOPS)]
    per = 300
    got = [[] for _ in lts]
    done = [threading.Event() for _ in lts]
    total = N_PRODUCERS * per

    wrong_loop = []

    def record(i, item):
        if asyncio.get_running_loop() is not lts[i].loop:   # per-thread running loop
            wrong_loop.append(i)
        got[i].append(item)
        if len(got[i]) == total:
            done[i].set()

    def producer(k):
        for n in range(per):
            for i, lt in enumerate(lts):
                lt.loop.call_soon_threadsafe(record, i, (k, n))

    prods = [threading.Thread(target=producer, args=(k,)) for k in range(N_PRODUCERS)]
    for p in prods:
        p.start()
    for p in prods:
        p.join(JOIN)
        assert not p.is_alive()
    for ev in done:
        assert ev.wait(JOIN)
    for lt in lts:
        lt.loop.call_soon_threadsafe(lt.loop.stop)
    for lt in lts:
        lt.join()
        assert lt.loop.is_closed()
    assert wrong_loop == []
    for i in range(N_LOOPS):
        assert len(got[i]) == total
        assert len(set(got[i])) == total                       # no duplicates
        for k in range(N_PRODUCERS):
            assert [n for kk, n in got[i] if kk == k] == list(range(per))  # FIFO
    del lts
    collect()
    assert fd_count() == fds


def test_run_coroutine_threadsafe_into_many_loops(limpl):
    fds = fd_count()
    lts = [LoopThread(limpl) for _ in range(N_LOOPS)]

    async def work(i, n):
        me = asyncio.current_task()
        await asyncio.sleep(0)
        # the running loop, the current task and the task registry are per thread/loop
        # while eight loops switch threads under the GIL
        loop = asyncio.get_running_loop()
        assert loop is lts[i].loop
        assert asyncio.current_task() is me and me.get_loop() is loop
        assert all(t.get_loop() is loop for t in asyncio.all_tasks())
        await asyncio.sleep(0.0005 * (n % 3))
        assert asyncio.current_task() is me
        if n % 7 == 3:
            raise ValueError(n)
        return (i, n)

    async def forever():
        await asyncio.sleep(3600)

    results = {}
    errors = []

    def submitter(k):
        futs = []
        for n in range(40):
            for i, lt in enumerate(lts):
                futs.append(((i, n), asyncio.run_coroutine_threadsafe(work(i, n), lt.loop)))
        for key, f in futs:
            try:
                results[(k,) + key] = f.result(JOIN)
            except ValueError as e:
                results[(k,) + key] = ("ValueError", e.args[0])
            except BaseException as e:  # noqa: BLE001
                errors.append(e)

    ths = [threading.Thread(target=submitter, args=(k,)) for k in range(3)]
    for t in ths:
        t.start()
    # cancelling the concurrent future from outside cancels the task in its loop
    blockers = [asyncio.run_coroutine_threadsafe(forever(), lt.loop) for lt in lts]
    time.sleep(0.05)
    for b in blockers:
        b.cancel()
    for t in ths:
        t.join(JOIN)
        assert not t.is_alive()
    assert errors == []
    for k in range(3):
        for i in range(N_LOOPS):
            for n in range(40):
                want = ("ValueError", n) if n % 7 == 3 else (i, n)
                assert results[(k, i, n)] == want
    for b in blockers:
        assert b.cancelled()
        with pytest.raises(concurrent.futures.CancelledError):
            b.result(JOIN)

    # the loops' tasks: none left pending once the cancellations went through
    async def pending():
        return [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]

    for lt in lts:
        deadline = time.monotonic() + JOIN
        while asyncio.run_coroutine_threadsafe(pending(), lt.loop).result(JOIN):
            assert time.monotonic() < deadline
            time.sleep(0.01)
        lt.loop.call_soon_threadsafe(lt.loop.stop)
    for lt in lts:
        lt.join()
    # a closed loop refuses: the coroutine is never scheduled (and closed, not leaked)
    coro = work(0, 0)
    with pytest.raises(RuntimeError, match="is closed"):
        asyncio.run_coroutine_threadsafe(coro, lts[0].loop)
    coro.close()
    del lts
    collect()
    assert fd_count() == fds


class Token:
    """A weakref-able argument: proves the handles of dropped callbacks are freed."""
    __slots__ = ("k", "n", "__weakref__")

    def __init__(self, k, n):
        self.k, self.n = k, n


def test_stop_restart_and_close_while_producers_race(limpl):
    """Loops stopped (from stopper threads) and re-run several times while storms run;
    then each loop closes itself with the producers still going."""
    fds = fd_count()
    rounds = 4
    lts = [LoopThread(limpl, rounds=rounds) for _ in range(N_LOOPS)]
    ran = [[[] for _ in range(N_PRODUCERS)] for _ in lts]
    accepted = [[[] for _ in range(N_PRODUCERS)] for _ in lts]
    refused = [[0] * N_PRODUCERS for _ in lts]
    weird = []
    refs = []

    def cb(i, tok):
        ran[i][tok.k].append(tok.n)

    def producer(k):
        n = 0
        live = set(range(N_LOOPS))
        while live:
            for i in list(live):
                tok = Token(k, n)
                try:
                    lts[i].loop.call_soon_threadsafe(cb, i, tok)
                except RuntimeError as e:
                    if "is closed" not in str(e) or not lts[i].loop.is_closed():
                        weird.append(e)
                    refused[i][k] += 1
                    live.discard(i)
                except BaseException as e:  # noqa: BLE001
                    weird.append(e)
                    live.discard(i)
                else:
                    accepted[i][k].append(n)
                    refs.append(weakref.ref(tok))
                del tok
            n += 1
            if n % 50 == 0:
                time.sleep(0)

    def stopper(i):
        lt = lts[i]
        # every round ends with a stop from this thread (the loop thread re-runs,
        # and closes the loop after the last round)
        while lt.th.is_alive():
            try:
                lt.loop.call_soon_threadsafe(lt.loop.stop)
            except RuntimeError:
                break
            time.sleep(0.005)

    prods = [threading.Thread(target=producer, args=(k,)) for k in range(N_PRODUCERS)]
    stops = [threading.Thread(target=stopper, args=(i,)) for i in range(N_LOOPS)]
    for t in prods + stops:
        t.start()
    for t in prods + stops:
        t.join(JOIN)
        assert not t.is_alive()
    for lt in lts:
        lt.join()
        assert lt.runs == rounds
        assert lt.loop.is_closed()
    assert weird == []
    for i, lt in enumerate(lts):
        # after close every call refuses, and nothing accepted runs any more
        with pytest.raises(RuntimeError, match="is closed"):
            lt.loop.call_soon_threadsafe(cb, i, Token(0, -1))
        for k in range(N_PRODUCERS):
            assert refused[i][k] == 1
            r = ran[i][k]
            assert r == accepted[i][k][:len(r)]        # prefix: FIFO, no dup, none invented
    snapshot = [[list(x) for x in row] for row in ran]
    time.sleep(0.05)
    assert ran == snapshot
    # the dropped handles (and their args) die with the loops at the latest
    del lts[:], lt
    collect()
    assert [r for r in refs if r() is not None] == []
    assert fd_count() == fds


def test_close_from_another_thread_after_stop(limpl):
    """A loop stopped from outside, then closed by a thread that is not its own while
    producers race; callbacks accepted before close never run afterwards."""
    fds = fd_count()
    loop = limpl.new_loop()
    ran = []
    accepted = []
    outcome = []
    go = threading.Event()

    def runner():
        asyncio.set_event_loop(None)
        loop.run_forever()

    def producer():
        go.wait(JOIN)
        n = 0
        while True:
            try:
                loop.call_soon_threadsafe(ran.append, n)
            except RuntimeError as e:
                outcome.append(str(e))
                return
            accepted.append(n)
            n += 1

    th = threading.Thread(target=runner)
    th.start()
    p = threading.Thread(target=producer)
    p.start()
    go.set()
    time.sleep(0.02)
    loop.call_soon_threadsafe(loop.stop)
    th.join(JOIN)
    assert not th.is_alive()
    loop.close()                         # from the main thread, producer still going
    p.join(JOIN)
    assert not p.is_alive()
    assert outcome == ["Event loop is closed"]
    assert ran == accepted[:len(ran)]
    n_ran = len(ran)
    time.sleep(0.02)
    assert len(ran) == n_ran
    del loop
    gc.collect()
    assert fd_count() == fds


def test_close_from_another_thread_while_running_is_refused(limpl):
    fds = fd_count()
    lt = LoopThread(limpl)
    started = concurrent.futures.Future()
    lt.loop.call_soon_threadsafe(started.set_result, None)
    started.result(JOIN)
    with pytest.raises(RuntimeError, match="Cannot close a running event loop"):
        lt.loop.close()
    assert not lt.loop.is_closed()
    # still serving
    fut = asyncio.run_coroutine_threadsafe(asyncio.sleep(0, "alive"), lt.loop)
    assert fut.result(JOIN) == "alive"
    lt.loop.call_soon_threadsafe(lt.loop.stop)
    lt.join()
    assert lt.loop.is_closed()
    del lt
    collect()
    assert fd_count() == fds
