"""Benchmark workloads for bench/run.py.

Each workload is a coroutine function taking one argument, its size ``n``.
It runs on whatever loop the child process (bench/_child.py) made, and uses
only the running loop's own ``create_future()`` / ``create_task()`` plus
asyncio's public combinators, so the loop under test decides which Future
and Task types are exercised.

The combinators are called the way a user calls them: ``asyncio.gather``,
``asyncio.wait``, ``asyncio.wait_for``, ``asyncio.sleep``, looked up on the
asyncio module each time a workload starts.  In the child's
``asyncio_c+native`` flavour asyncio_c's native functions are patched into
asyncio (asyncio_c._patch.patch(), as ``asyncio_c.install(patch=True)`` or
``python -m asyncio_c --patch`` would), so the same workload code then calls
them; the workloads flagged ``native`` in WORKLOADS (those that call a
combinator) are the ones run in that flavour too.  ``sleep0_native`` calls
asyncio_c's sleep directly (no patching) where the loop is asyncio_c's.

A workload returns one of:

* ``None``: the child times the whole ``loop.run_until_complete()`` call;
* ``Elapsed(seconds)``: the workload timed a section itself (the rest is
  set-up or tear-down that must not count);
* ``Bytes(nbytes)``: a memory measurement, not a time.

The child divides the result by ``ops(n)`` and scales it to ``unit``.

Memory method (``pending_bytes``): resident set size read from
``/proc/self/statm`` (pages * page size), with tracemalloc off, taken
right before the tasks are created and again after their first step ran
(every task is then suspended on the shared future with its coroutine frame
alive).  RSS sees everything the process really holds, including memory a C
extension takes with plain ``malloc`` (which tracemalloc would miss) and
memory freed during the pass but kept in pymalloc arenas (a genuine cost of
spawning that many tasks at once).  The delta is hundreds of MB, so page
granularity is noise; the runner starts a fresh process for every
measurement so no earlier work has left reusable free arenas behind.
"""
import asyncio
import builtins
import contextlib
import glob
import io
import os
import re
import shutil
import sys
import threading
import time
import types
import warnings
from collections import namedtuple

__all__ = ["WORKLOADS", "SCALING", "ALL", "Workload", "Elapsed", "Bytes", "rss_bytes"]


class Elapsed(float):
    """Seconds measured by the workload itself."""


class Bytes(float):
    """A memory measurement in bytes."""


_PAGE = os.sysconf("SC_PAGE_SIZE")


def rss_bytes():
    """Resident set size of this process in bytes, from /proc/self/statm."""
    with open("/proc/self/statm", "rb") as f:
        return int(f.read().split()[1]) * _PAGE


async def _noop():
    return None


def _asyncio_c_sleep():
    """asyncio_c's native sleep if the running loop is asyncio_c's and the build has it."""
    mod = sys.modules.get("asyncio_c")
    if mod is None:
        return None
    core_loop = getattr(mod._core, "Loop", None)
    if not (isinstance(core_loop, type)
            and isinstance(asyncio.get_running_loop(), core_loop)):
        return None
    return getattr(mod, "sleep", None) or getattr(mod._core, "sleep", None)


# ---------------------------------------------------------------- workloads

async def sleep0(n):
    """One task yielding to the loop n times with ``await asyncio.sleep(0)``."""
    sleep = asyncio.sleep
    for _ in range(n):
        await sleep(0)


async def sleep0_native(n):
    """``sleep0`` with the sleep a user of asyncio_c would import: asyncio_c's
    native sleep on asyncio_c's loop (asyncio.sleep where the build has none),
    asyncio.sleep on the other loops."""
    sleep = _asyncio_c_sleep() or asyncio.sleep
    for _ in range(n):
        await sleep(0)


async def create_task(n):
    """n times: create a task for a trivial coroutine and await it."""
    loop = asyncio.get_running_loop()
    create = loop.create_task
    for _ in range(n):
        await create(_noop())


async def gather(n):
    """``asyncio.gather`` of n trivial coroutines (each becomes a task)."""
    await asyncio.gather(*[_noop() for _ in range(n)])


async def gather_100k(n):
    """``asyncio.gather`` of n tasks that already exist (created with
    ``loop.create_task``, each awaiting a shared future set after gather
    was called): gather's own cost per child, no coroutine wrapping."""
    loop = asyncio.get_running_loop()
    gate = loop.create_future()

    async def child(i):
        await gate
        return i

    create = loop.create_task
    tasks = [create(child(i)) for i in range(n)]
    fut = asyncio.gather(*tasks)
    gate.set_result(None)
    res = await fut
    assert len(res) == n and res[-1] == n - 1


async def future_pingpong(n):
    """Two tasks hand control back and forth n times through fresh futures
    from ``loop.create_future()`` (one round trip = two switches)."""
    loop = asyncio.get_running_loop()
    new = loop.create_future
    ping = new()
    pong = None

    async def ponger():
        nonlocal ping
        for _ in range(n):
            await ping
            ping = new()        # made before pong is set: pinger is waiting
            pong.set_result(None)

    other = loop.create_task(ponger())
    for _ in range(n):
        pong = new()            # made before ping is set: ponger is waiting
        ping.set_result(None)
        await pong
    await other


TREE_WIDTH = 6


async def _tree(depth):
    if depth == 0:
        return 1
    counts = await asyncio.gather(*[_tree(depth - 1) for _ in range(TREE_WIDTH)])
    return sum(counts)


async def gather_tree(depth):
    """Recursive gather, ``TREE_WIDTH`` wide and ``depth`` deep: every inner
    node gathers TREE_WIDTH child coroutines (6 ** 6 = 46656 leaves)."""
    leaves = await _tree(depth)
    assert leaves == TREE_WIDTH ** depth, leaves


WAIT_WIDTH = 100       # tasks pending in every asyncio.wait() of wait_first_churn


async def wait_first_churn(n):
    """n rounds of ``asyncio.wait(pending, return_when=FIRST_COMPLETED)`` over
    WAIT_WIDTH pending tasks: each round releases the oldest task (its gate
    future is set), wait returns it alone, and a fresh task takes its place."""
    loop = asyncio.get_running_loop()
    new = loop.create_future
    create = loop.create_task
    wait = asyncio.wait
    first = asyncio.FIRST_COMPLETED

    async def worker(gate):
        return await gate

    gates = {}                          # task -> its gate, oldest first

    def spawn():
        g = new()
        gates[create(worker(g))] = g

    for _ in range(WAIT_WIDTH):
        spawn()
    pending = set(gates)
    for i in range(n):
        oldest = next(iter(gates))
        gates.pop(oldest).set_result(i)
        done, pending = await wait(pending, return_when=first)
        assert done == {oldest}, (done, oldest)
        spawn()
        pending.add(next(reversed(gates)))
    for g in gates.values():
        g.set_result(None)
    await wait(pending)


async def wait_for_fast(n):
    """n times ``await asyncio.wait_for(coro(), 10)`` on a coroutine that
    yields once (``sleep(0)``) and returns long before the timeout."""
    wait_for = asyncio.wait_for
    sleep = asyncio.sleep

    async def quick(i):
        await sleep(0)
        return i

    for i in range(n):
        r = await wait_for(quick(i), 10.0)
        assert r == i


async def _spawn(n, measure, through_done=False):
    """n tasks awaiting one shared future.  measure() is taken before they are
    created and after their first scheduling pass, or (through_done) after the
    future was set and every task ran to completion."""
    loop = asyncio.get_running_loop()
    gate = loop.create_future()

    async def waiter():
        await gate

    create = loop.create_task
    before = measure()
    tasks = [create(waiter()) for _ in range(n)]
    # One pass of the loop: every new task was queued before this task's own
    # wake-up, so when we resume, each has run up to ``await gate``.
    await asyncio.sleep(0)
    if not through_done:
        after = measure()
    assert not gate.done() and not any(t.done() for t in tasks[:100])
    # Tear down (measured only if through_done).  set_result queues every
    # waiter's wake-up ahead of ours, so one more pass finishes them all.
    gate.set_result(None)
    await asyncio.sleep(0)
    if through_done:
        after = measure()
    assert all(t.done() for t in tasks)
    return after - before


async def pending_spawn(n):
    """Create n tasks that all await one shared future; timed: creation plus
    the first scheduling pass (each task runs to its await)."""
    return Elapsed(await _spawn(n, time.perf_counter))


async def pending_bytes(n):
    """Same as pending_spawn, but measures RSS growth per pending task
    (see the module docstring for the method)."""
    return Bytes(await _spawn(n, rss_bytes))


# ------------------------------------------------------- loop scheduling
#
# These exercise the event loop itself rather than Future/Task: its ready
# queue (call_soon), its timer heap (call_later, cancel) and its self-pipe
# wake-up (call_soon_threadsafe).  The callbacks are trivial Python functions
# (one ``nonlocal`` increment), the same on every loop.

BATCH = 1000        # callbacks or timers scheduled per loop iteration


async def call_soon(n):
    """n ``loop.call_soon(cb)``, 1000 per batch: a task schedules a batch,
    then yields one loop iteration (``sleep(0)``), in which the batch runs."""
    loop = asyncio.get_running_loop()
    soon = loop.call_soon
    sleep = asyncio.sleep
    ran = 0

    def cb():
        nonlocal ran
        ran += 1

    full, rest = divmod(n, BATCH)
    for _ in range(full):
        for _ in range(BATCH):
            soon(cb)
        await sleep(0)      # queued after the batch: resumes once it ran
    for _ in range(rest):
        soon(cb)
    await sleep(0)
    assert ran == n, (ran, n)


TIMER_SPREAD = 0.001    # seconds: deadlines spread over [now, now + 1 ms)


async def timers(n):
    """n ``loop.call_later(delay, cb)`` with distinct delays spread over
    0-1 ms in shuffled order, then wait until all n fired.  Timed: from the
    first call_later to the last callback (the delays are precomputed)."""
    return await _timers(n, 0.0)


async def _timers(n, offset):
    loop = asyncio.get_running_loop()
    later = loop.call_later
    done = loop.create_future()
    ran = 0

    def cb():
        nonlocal ran
        ran += 1
        if ran == n:
            done.set_result(None)

    # A fixed permutation (stride 7919, a prime not dividing n) so that the
    # heap sees deadlines out of order, as with timers from many sources.
    stride = 7919 if n % 7919 else 7907
    delays = [offset + TIMER_SPREAD * (i * stride % n) / n for i in range(n)]
    t0 = time.perf_counter()
    for d in delays:
        later(d, cb)
    await done
    return Elapsed(time.perf_counter() - t0)


async def timer_cancel(n):
    """n schedule-then-cancel pairs: 1000 ``loop.call_later(60, cb)``
    (timeouts that never fire), then ``cancel()`` on each, then one loop
    iteration (which may purge the cancelled timers), and again."""
    loop = asyncio.get_running_loop()
    later = loop.call_later
    sleep = asyncio.sleep

    def cb():
        raise AssertionError("a cancelled timer fired")

    left = n
    while left:
        k = min(left, BATCH)
        left -= k
        handles = [later(60.0, cb) for _ in range(k)]
        for h in handles:
            h.cancel()
        await sleep(0)


async def call_soon_threadsafe(n):
    """Another thread posts n ``loop.call_soon_threadsafe(cb)`` (then one
    more that resolves a future); timed: from starting that thread until
    the loop has run all n callbacks."""
    loop = asyncio.get_running_loop()
    done = loop.create_future()
    ran = 0

    def cb():
        nonlocal ran
        ran += 1

    def poster():
        post = loop.call_soon_threadsafe
        for _ in range(n):
            post(cb)
        post(done.set_result, None)     # FIFO: runs after all n

    thread = threading.Thread(target=poster, name="bench-poster")
    t0 = time.perf_counter()
    thread.start()
    await done
    elapsed = time.perf_counter() - t0
    thread.join()
    assert ran == n, (ran, n)
    return Elapsed(elapsed)


# ------------------------------------------------------------ subprocesses
#
# Real child processes through ``asyncio.create_subprocess_exec`` (issue #6):
# the loop's subprocess transport, its pipe transports and the way it learns
# that a child exited.  The programs are looked up once (absolute paths), so
# no loop pays for a PATH search the others skip.

def _program(name):
    path = shutil.which(name)
    if path is None:
        raise RuntimeError(f"{name!r} not found on PATH")
    return path


MiB = 1 << 20
PIPE_CHUNK = 256 * 1024     # bytes per write() and per read() in cat_pipe


async def spawn_true(n):
    """n ``true`` children started concurrently with
    ``asyncio.create_subprocess_exec`` (no pipes), then every one awaited
    with ``proc.wait()``; per child, spawn to exit reported."""
    true = _program("true")
    create = asyncio.create_subprocess_exec
    procs = await asyncio.gather(*[create(true) for _ in range(n)])
    codes = await asyncio.gather(*[p.wait() for p in procs])
    assert codes == [0] * n, codes


async def cat_pipe(n):
    """n MiB through ``cat`` (``create_subprocess_exec`` with stdin and
    stdout pipes): a writer task writes 256 KiB chunks, each followed by
    ``await drain()``, then closes stdin; the reader does
    ``stdout.read(256 KiB)`` until EOF.  Timed from the first write to EOF
    (not the spawn nor the final ``wait()``)."""
    from asyncio.subprocess import PIPE
    proc = await asyncio.create_subprocess_exec(
        _program("cat"), stdin=PIPE, stdout=PIPE)
    chunk = b"x" * PIPE_CHUNK
    total = n * MiB

    async def writer():
        w = proc.stdin
        for _ in range(total // PIPE_CHUNK):
            w.write(chunk)
            await w.drain()
        w.close()

    t0 = time.perf_counter()
    wtask = asyncio.get_running_loop().create_task(writer())
    read = proc.stdout.read
    got = 0
    while True:
        data = await read(PIPE_CHUNK)
        if not data:
            break
        got += len(data)
    elapsed = time.perf_counter() - t0
    await wtask
    assert got == total, (got, total)
    assert await proc.wait() == 0
    return Elapsed(elapsed)


async def cat_communicate(n):
    """n MiB through ``cat`` with ``proc.communicate(input)`` (one write of
    the whole input, stdout read to EOF).  Timed: the communicate() call
    (the input is made and the child spawned before)."""
    from asyncio.subprocess import PIPE
    data = b"x" * (n * MiB)
    proc = await asyncio.create_subprocess_exec(
        _program("cat"), stdin=PIPE, stdout=PIPE)
    t0 = time.perf_counter()
    out, _ = await proc.communicate(data)
    elapsed = time.perf_counter() - t0
    assert len(out) == len(data) and proc.returncode == 0
    return Elapsed(elapsed)


# ------------------------------------------------------------------ programs
#
# Code written the ordinary way: asyncio.Queue, and the seeds' tutorial
# examples (examples/seed*.py) with their delays set to zero.

QUEUE_MAXSIZE = 100
QUEUE_CONSUMERS = 3


async def queue_pc(n):
    """One producer ``await q.put(i)`` n items into an ``asyncio.Queue(100)``;
    three consumer tasks ``await q.get()`` and ``q.task_done()`` each; then
    one sentinel per consumer, ``await q.join()`` and the consumers awaited."""
    loop = asyncio.get_running_loop()
    q = asyncio.Queue(QUEUE_MAXSIZE)
    total = 0

    async def consumer():
        nonlocal total
        get = q.get
        done = q.task_done
        while True:
            item = await get()
            done()
            if item is None:
                return
            total += item

    workers = [loop.create_task(consumer()) for _ in range(QUEUE_CONSUMERS)]
    put = q.put
    for i in range(n):
        await put(i)
    for _ in workers:
        await put(None)
    await q.join()
    for w in workers:
        await w
    assert total == n * (n - 1) // 2, (total, n)


EXAMPLES_DIR = os.path.join(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))), "examples")
_SEED_CODE = {}         # path -> compiled example (compiled once per process)


def example_paths():
    """The seeds' examples, in order: examples/seedNN_*.py."""
    return sorted(glob.glob(os.path.join(EXAMPLES_DIR, "seed[0-9][0-9]_*.py")))


def _no_sleep(secs):
    """time.sleep for seeds_zero: the example's blocking delay set to 0."""


def load_seeds():
    """[(example name, its main coroutine function)], for seeds_zero.

    Each example ends with ``asyncio_c.run(main())`` at module level.  Its
    source is executed in a fresh namespace whose ``import`` statements get
    stand-ins: ``asyncio_c`` whose ``run(coro)`` only notes which coroutine
    function made ``coro`` (and closes it), ``asyncio`` (a copy of asyncio's
    namespace as it is now, so with asyncio_c's functions if they were
    patched in) whose ``sleep(delay, result)`` is asyncio's ``sleep(0,
    result)``, and ``time`` whose ``sleep`` returns at once.  The module-level
    code's own output is discarded.  No loop runs here."""
    real_sleep = asyncio.sleep

    def zero_sleep(delay, result=None):
        return real_sleep(0, result)

    fake_asyncio = types.ModuleType("asyncio")
    vars(fake_asyncio).update(vars(asyncio))
    fake_asyncio.sleep = zero_sleep
    fake_time = types.ModuleType("time")
    vars(fake_time).update(vars(time))
    fake_time.sleep = _no_sleep
    seeds = []
    for path in example_paths():
        code = _SEED_CODE.get(path)
        if code is None:
            with open(path, encoding="utf-8") as f:
                code = _SEED_CODE[path] = compile(f.read(), path, "exec")
        made = []

        def run(coro, *, debug=None, made=made):
            made.append(coro.cr_code)
            coro.close()

        fake_ac = types.ModuleType("asyncio_c")
        fake_ac.run = run
        fakes = {"asyncio": fake_asyncio, "time": fake_time,
                 "asyncio_c": fake_ac}

        def imp(name, globals=None, locals=None, fromlist=(), level=0,
                fakes=fakes):
            if level == 0 and name in fakes:
                return fakes[name]
            return __import__(name, globals, locals, fromlist, level)

        bi = dict(vars(builtins))
        bi["__import__"] = imp
        name = os.path.basename(path)[:-3]
        ns = {"__name__": name, "__file__": path, "__builtins__": bi}
        with contextlib.redirect_stdout(io.StringIO()):
            exec(code, ns)
        (cr_code,) = made
        main = ns[cr_code.co_name]
        assert main.__code__ is cr_code, name
        seeds.append((name, main))
    assert seeds, f"no examples in {EXAMPLES_DIR}"
    return seeds


_NUMBERS = re.compile(r"0x[0-9a-f]+|\d+")


def normalize_output(text):
    """An example's output with its numbers (clock times, task numbers,
    addresses) replaced by '#', to compare runs and loops."""
    return _NUMBERS.sub("#", text)


async def run_seeds(seeds, passes, outputs=None):
    """Run every example's main() ``passes`` times in turn on the running loop
    the way asyncio.run() would: as a task, then cancelling and gathering the
    tasks it left behind.  Their stdout is captured (a fresh buffer per
    example and pass, checked non-empty), the first and last pass's kept in
    ``outputs`` {name: [text, ...]} if given.  Returns the seconds spent."""
    loop = asyncio.get_running_loop()
    me = asyncio.current_task()
    create = loop.create_task
    all_tasks = asyncio.all_tasks
    gather = asyncio.gather
    StringIO = io.StringIO
    saved = sys.stdout
    t0 = time.perf_counter()
    try:
        for i in range(passes):
            keep = outputs is not None and (i == 0 or i == passes - 1)
            for name, main in seeds:
                sys.stdout = buf = StringIO()
                await create(main())
                left = [t for t in all_tasks(loop) if t is not me]
                if left:
                    for t in left:
                        t.cancel()
                    await gather(*left, return_exceptions=True)
                out = buf.getvalue()
                assert out, f"{name} printed nothing"
                if keep:
                    outputs.setdefault(name, []).append(out)
    finally:
        sys.stdout = saved
    return time.perf_counter() - t0


async def seeds_zero(n):
    """n passes over the seeds' examples (examples/seed*.py): each example's
    ``main()`` run as asyncio.run() would on the loop under test, with
    ``asyncio.sleep`` delays set to 0 and ``time.sleep`` a no-op, stdout
    captured.  Timed: the passes (not loading the examples)."""
    seeds = load_seeds()
    outputs = {}
    with warnings.catch_warnings():
        # seed03_knights leaves a coroutine un-awaited on purpose.
        warnings.filterwarnings("ignore", "coroutine .* was never awaited",
                                RuntimeWarning)
        elapsed = await run_seeds(seeds, n, outputs)
    for name, outs in outputs.items():
        first, last = (normalize_output(o) for o in (outs[0], outs[-1]))
        assert first == last, (name, outs)
    return Elapsed(elapsed)


# --------------------------------------------------------------- the floor

class _Step:
    """An awaitable whose ``__await__`` yields once (no loop involved)."""
    __slots__ = ()

    def __await__(self):
        yield


async def _stepper(n):
    step = _Step()
    for _ in range(n):
        await step


async def coro_send(n):
    """The floor of a step: a bare coroutine awaiting n times an awaitable
    whose ``__await__`` yields once, resumed by a plain ``while`` loop calling
    ``coro.send(None)``; no event loop involved (the same on every column)."""
    coro = _stepper(n)
    send = coro.send
    steps = 0
    t0 = time.perf_counter()
    try:
        while True:
            send(None)
            steps += 1
    except StopIteration:
        pass
    elapsed = time.perf_counter() - t0
    assert steps == n, (steps, n)
    return Elapsed(elapsed)


# ------------------------------------------------------------------ scaling
#
# bench/scaling.py's operations that bench/run.py does not have (it reuses
# gather and timers as they are): every one of the n objects is alive at once.

async def spawn_run(n):
    """Create n tasks that all await one shared future, let each run to its
    await, then set the future; timed: creation to all n done."""
    return Elapsed(await _spawn(n, time.perf_counter, through_done=True))


async def timers_due(n):
    """``timers`` with the delays spread over -1-0 ms instead (deadlines in
    the last millisecond, shuffled): all due at once, so no n waits for the
    last deadline (which costs 1 ms / n per timer)."""
    return await _timers(n, -TIMER_SPREAD)


async def timer_cancel_all(n):
    """n ``loop.call_later(60, cb)`` (all pending at once), then ``cancel()``
    on each, then one loop iteration (where the loop may purge them)."""
    loop = asyncio.get_running_loop()
    later = loop.call_later

    def cb():
        raise AssertionError("a cancelled timer fired")

    t0 = time.perf_counter()
    handles = [later(60.0, cb) for _ in range(n)]
    for h in handles:
        h.cancel()
    await asyncio.sleep(0)
    return Elapsed(time.perf_counter() - t0)


# ----------------------------------------------------------------- registry

Workload = namedtuple(
    "Workload",
    "name func size quick_size ops unit scale kind warmup doc native")


def _wl(func, size, quick_size, unit, *, ops=None, kind="time", warmup=True,
        scale=None, native=False):
    """native: the workload calls asyncio's combinators, so it is also run in
    the asyncio_c+native flavour (asyncio_c's native functions patched in)."""
    if scale is None:
        scale = {"ns": 1e9, "us": 1e6, "ms": 1e3, "s": 1.0,
                 "bytes": 1.0}[unit.split("/")[0]]
    doc = " ".join((func.__doc__ or "").split())
    return Workload(func.__name__, func, size, quick_size, ops or (lambda n: n),
                    unit, scale, kind, warmup, doc, native)


# Sizes: the default run (5 reps x 3 loops x 18 workloads, plus the
# asyncio_c+native flavour of the 6 ``native`` ones, one process each) must
# stay within ~5 minutes on the 2-core dev machine (the three subprocess
# workloads within ~1 minute of that), and ``--quick --reps 1`` well under
# 30 s.
WORKLOADS = {w.name: w for w in [
    _wl(sleep0, 200_000, 10_000, "ns/op", native=True),
    _wl(sleep0_native, 200_000, 10_000, "ns/op"),
    _wl(create_task, 100_000, 5_000, "ns/op"),
    _wl(gather, 100_000, 5_000, "ns/task", native=True),
    _wl(gather_100k, 100_000, 5_000, "ns/task", native=True),
    _wl(future_pingpong, 100_000, 5_000, "ns/roundtrip"),
    _wl(gather_tree, 6, 4, "ns/leaf", ops=lambda d: TREE_WIDTH ** d,
        native=True),
    _wl(wait_first_churn, 10_000, 1_000, "ns/round", native=True),
    _wl(wait_for_fast, 50_000, 2_000, "ns/call", native=True),
    _wl(pending_spawn, 200_000, 10_000, "ns/task"),
    _wl(pending_bytes, 200_000, 20_000, "bytes/task", kind="memory",
        warmup=False),
    _wl(call_soon, 500_000, 20_000, "ns/callback"),
    _wl(timers, 200_000, 10_000, "ns/timer"),
    _wl(timer_cancel, 500_000, 20_000, "ns/pair"),
    _wl(call_soon_threadsafe, 100_000, 5_000, "ns/callback"),
    _wl(spawn_true, 200, 20, "ms/child"),
    _wl(cat_pipe, 100, 4, "ms/MiB"),
    _wl(cat_communicate, 100, 4, "ms/MiB"),
    _wl(queue_pc, 200_000, 10_000, "ns/item"),
    _wl(seeds_zero, 1_000, 20, "us/pass", native=True),
    _wl(coro_send, 1_000_000, 50_000, "ns/step"),
]}

# bench/scaling.py: operation -> workload, run at every size of SCALING_SIZES.
SCALING_SIZES = (1_000, 10_000, 100_000, 1_000_000)
SCALING = {
    "tasks": _wl(spawn_run, 1_000_000, 1_000, "ns/task"),
    "gather": WORKLOADS["gather"],
    "timers": _wl(timers_due, 1_000_000, 10_000, "ns/timer"),
    "timer_cancel": _wl(timer_cancel_all, 1_000_000, 1_000, "ns/pair"),
}

# Every workload a child can run, by name.
ALL = {**WORKLOADS, **{w.name: w for w in SCALING.values()}}
