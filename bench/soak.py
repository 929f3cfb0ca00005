#!/usr/bin/env python3
"""Soak run: an echo server under 1,000 churning clients; 1M tasks in waves.

    python bench/soak.py                    # both parts on asyncio_c, ~4 min
    python bench/soak.py --loop asyncio     # the same on asyncio's loop
    python bench/soak.py --what waves --waves 20 --wave-size 50000
    python bench/soak.py --what echo --duration 600 --clients 2000
    python bench/soak.py --what echo --flavour streams    # a streams server
    python bench/soak.py --what echo --clients 400 --server-nofile 256
    python bench/soak.py --duration 3 --interval 0.25 --clients 40 \\
        --waves 3 --wave-size 2000          # smoke test, seconds

Echo: a server process (bench/_soak_server.py) serves an echo protocol on
the selected loop; --client-procs client processes (bench/_soak_client.py,
plain epoll, no loop) keep --clients connections on loopback busy for
--duration seconds with request/response of 1 byte to 64 KiB, every reply
verified byte for byte, while connections are churned (closed with FIN,
with a half-close after or right behind a request, or reset; some requests
cut short by an RST; a quarter with a 4 KiB receive buffer and every other
server connection with a 4 KiB send buffer and a 16 KiB high-water mark,
so writes buffer and pause).  The server samples itself every second (RSS,
open fds, live connections, bytes echoed, sys.getallocatedblocks(), bytes
malloc() has out).  When the clients are done and gone, the server is asked
for its figures after gc.collect(), then stopped.  RLIMIT_NOFILE's soft
limit is raised to the hard one if --clients needs it (said so); a hard
limit too low is an error.  --server-nofile N lowers the server's own limit
instead, below --clients: accept() then fails with EMFILE, asyncio's
back-off (stop accepting for a second) is soaked and connections wait in
the backlog.

Waves: a fresh process (bench/_soak_waves.py) creates and finishes
--waves x --wave-size tasks on the selected loop (sleep(0), futures set by
other tasks, gather, cancellations, exceptions, wait_for timeouts, wait),
sampling after each wave.

Output: a table of the samples (every --every seconds; all of them in the
JSON), the verdict per criterion, JSON (default
bench/results/soak-X.Y-LOOP.json) and a PNG of memory and fds over time
next to it.  The exit status is 1 if any criterion fails.

Criteria.  Exact ones: every reply verified and no client error; no server
error (a connection lost to anything but a reset, or a call of the loop's
exception handler); after the clients, no connection, transport or protocol
object left (gc.collect()) and the server's open fds back to their number
before the clients; after each wave all_tasks() is just the driver, and on
asyncio_c _core._live_tasks() is empty once the loop is done; fds flat.
The 1 s sampling timer never late by 5 s or more (a stuck loop; not
tighter, the machine is shared).

Memory, three measures: sys.getallocatedblocks() (Python's small objects,
exact), malloc() in use (mallinfo2: C buffers and large objects' storage,
exact) and RSS (what the system sees, but also allocator fragmentation, the
heap's high-water mark and cyclic garbage not yet collected).

Blocks and malloc are compared after gc.collect() with the figures before
the clients (echo), or over the last quarter of the waves with the wave
after warm-up (the first fifth).  Allowed growth: echo max(5,000 blocks,
0.05 per connection) and max(2 MiB, 16 B per connection); waves max(1,000,
0.001 per task made since) objects or blocks, and max(2 MiB, 64 B x tasks
per wave) malloc'd (containers sized to a wave's peak, like the all-tasks
set's table, stay allocated: asyncio's loop keeps 2 MiB so).  Caches that
fill once (free lists, the selector's tables, deque blocks) stay far below
(observed: a few hundred blocks, +0.3-0.6 MiB), while a leak of one object
per 20 connections or per 1,000 tasks, or of a C buffer per connection or
per 5 tasks, fails.

Echo RSS: warm-up is the first third of the client run; the median of the
last third may exceed the middle third's by max(4 MiB, 5%), and a line
fitted through both may climb by at most 2 MiB/min (judged only if fitted
over 60 s or more: shorter, it is noise).  At this churn (~300-450
connections/s, ~13-21k requests/s) a leak of 100 bytes per connection
climbs ~2.6 MiB/min, 16 bytes per request ~14 MiB/min.  What is observed
without a leak (blocks and malloc back at the end): RSS climbs in steps
each time malloc's in-use memory reaches a new peak (more write buffers at
once; glibc's heap keeps its high-water mark), a creep that flattens out:
+0.2-0.9 MiB/min on asyncio_c, +1.2-1.7 MiB/min on asyncio's loop (whose
Python transports also leave cycles for the collector: its allocated
blocks swing 67k-220k between collections, asyncio_c's stay at ~84k).
Waves RSS: the last quarter at most max(4 MiB, 10%) above the wave after
warm-up; asyncio's loop fails it (+9-10 MiB over 16 waves, RSS swinging
50-72 MiB between waves, blocks flat: pymalloc arenas kept by
fragmentation), asyncio_c's stays within +-1 MiB.  The streams server
(--flavour streams) fails the echo RSS criterion on both loops (+10-15
MiB/min over 90 s, blocks and malloc back at the end: streams leave
garbage cycles, freed in batches by the collector, and the heap fragments).
"""
import argparse
import os
import resource
import signal
import statistics
import sys
import time

_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, _HERE)

import _chart  # noqa: E402
import echo as _echo  # noqa: E402  (Child: processes in their own groups)
import run as _run  # noqa: E402  (machine info, JSON)

SERVER = os.path.join(_HERE, "_soak_server.py")
CLIENT = os.path.join(_HERE, "_soak_client.py")
WAVES = os.path.join(_HERE, "_soak_waves.py")
LOOPS = ("asyncio", "uvloop", "asyncio_c", "asyncio_c+native")
PARTS = ("echo", "waves")
FD_SLACK = 64                   # fds per process beyond its connections
AFTER_MIN = 2.0                 # s from the clients' exit to the figures

# Thresholds (the reasoning is in the docstring, "Criteria" and "Memory").
RSS_SLOPE_KIB_MIN = 2048        # echo: fitted RSS slope after warm-up
SLOPE_MIN_WINDOW = 60.0         # ... judged if fitted over this many s
RSS_GROWTH_PCT = 5.0            # echo: last third vs middle third (median)
RSS_GROWTH_MIN_KIB = 4096       # ... or this much, whichever is larger
BLOCKS_PER_CONN = 0.05          # echo: blocks kept at the end per connection
BLOCKS_MIN = 5000               # ... or this many, whichever is larger
MALLOC_PER_CONN = 16            # echo: malloc'd bytes kept per connection
MALLOC_MIN_KIB = 2048           # ... or this much, whichever is larger
WAVE_PER_TASK = 0.001           # waves: blocks/objects gained per task
WAVE_MIN = 1000                 # ... or this many, whichever is larger
WAVE_MALLOC_PER_TASK = 64       # waves: malloc'd bytes gained per task OF
                                # A WAVE (containers sized to a wave's peak)
WAVE_RSS_PCT = 10.0             # waves: RSS of the last waves vs warm-up
WAVE_RSS_MIN_KIB = 4096


class SoakError(Exception):
    pass


# ----------------------------------------------------------------- helpers

def raise_nofile(need):
    """Raise RLIMIT_NOFILE's soft limit to the hard one if it is below need
    (children inherit it).  Returns a note, or raises SoakError."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft >= need:
        return f"RLIMIT_NOFILE {soft} (need {need})"
    if hard != resource.RLIM_INFINITY and hard < need:
        raise SoakError(f"RLIMIT_NOFILE hard limit is {hard}, below the "
                        f"{need} descriptors this run needs: raise it "
                        f"(ulimit -Hn) or use fewer --clients")
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return (f"RLIMIT_NOFILE soft limit raised from {soft} to {hard} "
            f"(need {need})")


def slope_per_min(points):
    """Least-squares slope of [(t seconds, y)] in y per minute."""
    if len(points) < 2:
        return 0.0
    mt = statistics.fmean(t for t, _ in points)
    my = statistics.fmean(y for _, y in points)
    den = sum((t - mt) ** 2 for t, _ in points)
    if not den:
        return 0.0
    return sum((t - mt) * (y - my) for t, y in points) / den * 60


def mib(kib):
    return f"{kib / 1024:.1f}"


def _mib(kib):
    return "-" if kib is None else mib(kib)


def verdict(name, ok, detail):
    return dict(criterion=name, ok=bool(ok), detail=detail)


def print_verdicts(verdicts):
    w = max(len(v["criterion"]) for v in verdicts)
    for v in verdicts:
        print(f"  {'PASS' if v['ok'] else 'FAIL'}  {v['criterion']:{w}}  "
              f"{v['detail']}")


# -------------------------------------------------------------------- echo

def run_echo(args):
    """The echo soak; returns its section of the results."""
    note = raise_nofile(max(args.clients // args.client_procs + 1,
                            args.clients) + FD_SLACK)
    print(note)
    server = None
    clients = []
    samples = []
    sec = dict(loop=args.loop, flavour=args.flavour,
               duration=args.duration, clients=args.clients,
               client_procs=args.client_procs, rlimit=note)
    t_wall = time.monotonic()

    def read_server(deadline, want=None):
        """Server lines until one of event `want` (samples are kept)."""
        while True:
            msg = server.readline(deadline)
            if msg.get("event") == "sample":
                msg["phase"] = phase
                samples.append(msg)
            if want is None or msg.get("event") == want:
                return msg

    try:
        phase = "baseline"
        server = _echo.Child([SERVER, args.loop, "--interval",
                              str(args.interval), "--flavour", args.flavour,
                              "--nofile", str(args.server_nofile)],
                             f"{args.loop} server")
        hello = server.readline(time.monotonic() + 30)
        if not isinstance(hello.get("port"), int):
            raise SoakError(f"server: unexpected output {hello!r}")
        sec["server_facts"] = hello
        for _ in range(2):
            base = read_server(time.monotonic() + 10, "sample")
        sec["baseline"] = base

        phase = "run"
        per = [args.clients // args.client_procs] * args.client_procs
        for i in range(args.clients % args.client_procs):
            per[i] += 1
        for i, n in enumerate(per):
            cargs = [CLIENT, str(hello["port"]), "--conns", str(n),
                     "--duration", str(args.duration), "--seed", str(i + 1),
                     "--max-size", str(args.max_size),
                     "--churn", str(args.churn), "--rst", str(args.rst),
                     "--abort-mid", str(args.abort_mid),
                     "--small-rcvbuf", str(args.small_rcvbuf)]
            clients.append(_echo.Child(cargs, f"client {i + 1}"))
        t_run0 = samples[-1]["t"]
        print(f"{args.flavour} server; "
              f"{args.clients} connections from {args.client_procs} client "
              f"process(es) for {args.duration:g} s; samples every "
              f"{args.every:g} s shown:\n", flush=True)
        shown = [None]
        print(f"{'t s':>6}  {'phase':8}  {'live':>5}  {'accepted':>8}  "
              f"{'resets':>6}  {'echoed MiB':>10}  {'MiB/s':>6}  "
              f"{'RSS MiB':>7}  {'malloc MiB':>10}  {'fds':>5}  "
              f"{'blocks k':>8}", flush=True)

        def show(s, force=False):
            prev = shown[0]
            if not force and prev is not None and s["t"] - prev["t"] < \
                    args.every * 0.95:
                return
            dt = s["t"] - prev["t"] if prev else 0
            rate = (s["bytes"] - prev["bytes"]) / dt / 2**20 if dt else 0
            print(f"{s['t']:6.0f}  {s['phase']:8}  {s['live']:5}  "
                  f"{s['accepted']:8}  {s['resets']:6}  "
                  f"{s['bytes'] / 2**20:10.0f}  {rate:6.1f}  "
                  f"{mib(s['rss_kib']):>7}  {_mib(s['malloc_kib']):>10}  "
                  f"{s['fds']:5}  "
                  f"{s['blocks'] / 1000:8.1f}", flush=True)
            shown[0] = s

        show(base, True)
        hard_end = time.monotonic() + args.duration + 120
        results = {}
        while len(results) < len(clients):
            s = read_server(time.monotonic() + 10, "sample")
            show(s)
            for i, c in enumerate(clients):
                if i not in results and c.proc.poll() is not None:
                    try:
                        results[i] = c.readline(time.monotonic() + 5)
                    except _echo.ChildError as exc:
                        results[i] = dict(error=str(exc), errors=[str(exc)])
                    results[i]["exit_status"] = c.proc.returncode
            if time.monotonic() > hard_end:
                raise SoakError("the clients did not finish in time")
        t_run1 = samples[-1]["t"]

        # The clients are gone: every connection must close on the server.
        phase = "after"
        deadline = time.monotonic() + 30
        # Two samples taken after they were gone, and AFTER_MIN seconds
        # (asyncio's accept back-off timers, up to a second, have run).
        fresh, t_gone = 0, time.monotonic()
        while True:
            s = read_server(time.monotonic() + 10, "sample")
            fresh += 1
            if (s["live"] == 0 and fresh >= 2 and
                    time.monotonic() - t_gone >= AFTER_MIN) or \
                    time.monotonic() > deadline:
                break
        show(s, True)
        server.proc.stdin.write(b"idle\n")
        server.proc.stdin.flush()
        idle = read_server(time.monotonic() + 30, "idle")
        server.close_stdin()
        stopped = read_server(time.monotonic() + 30, "stopped")
        rc = server.wait(30)
    except _echo.ChildError as exc:
        raise SoakError(str(exc))
    finally:
        for c in clients + ([server] if server else []):
            c.kill()

    sec.update(samples=samples, idle=idle, stopped=stopped,
               server_exit_status=rc,
               client_results=[results[i] for i in range(len(clients))],
               client_pids=[c.pid for c in clients],
               wall_s=time.monotonic() - t_wall)
    sec["verdicts"] = echo_verdicts(sec, base, idle, stopped, rc, samples,
                                    t_run0, t_run1, args)
    return sec


def echo_verdicts(sec, base, idle, stopped, rc, samples, t0, t1, args):
    res = sec["client_results"]
    tot = {k: sum(r.get(k, 0) for r in res)
           for k in ("requests", "bytes_sent", "bytes_verified", "connects",
                     "closes_fin", "closes_shutdown", "closes_eof_early",
                     "closes_rst",
                     "aborts_mid", "partial_sends", "small_rcvbuf")}
    sec["client_totals"] = tot
    v = []
    cerr = [e for r in res for e in r.get("errors", [])]
    bad_rc = [r["exit_status"] for r in res if r.get("exit_status")]
    v.append(verdict(
        "every reply verified", not cerr and not bad_rc and tot["requests"],
        f"{tot['requests']:,} requests, {tot['bytes_verified'] / 2**20:,.0f} "
        f"MiB echoed and verified, {tot['connects']:,} connections "
        f"({tot['closes_fin']:,} FIN, {tot['closes_shutdown']:,} half-close, "
        f"{tot['closes_eof_early']:,} half-close behind a request, "
        f"{tot['closes_rst']:,} RST, {tot['aborts_mid']:,} RST mid-request, "
        f"{tot['small_rcvbuf']:,} with a 4 KiB receive buffer); "
        f"client errors: {len(cerr)}"
        + (f" ({'; '.join(cerr[:3])})" if cerr else "")
        + (f"; client exit status {bad_rc}" if bad_rc else "")))
    serr = stopped.get("errors", [])
    v.append(verdict(
        "server: no error, clean exit", not serr and rc == 0,
        f"{stopped['accepted']:,} accepted, {stopped['resets']:,} lost to "
        f"resets, {stopped['pauses']:,} write pauses, "
        f"{stopped['accept_pauses']:,} accept back-offs (fd limit), "
        f"exit status {rc}, errors: {len(serr)}"
        + (f" ({'; '.join(serr[:3])})" if serr else "")))
    gaps = [b["t"] - a["t"] for a, b in zip(samples, samples[1:])]
    stall = max(5.0, 5 * args.interval)
    v.append(verdict(
        "server loop never stalled", max(gaps, default=0) < stall,
        f"longest gap between {args.interval:g} s samples "
        f"{max(gaps, default=0):.1f} s (limit {stall:g} s)"))
    v.append(verdict(
        "all connections closed", idle["live"] == 0 and
        idle["transports"] == 0 and idle["protocols"] == 0,
        f"after the clients: {idle['live']} live, {idle['transports']} "
        f"transport and {idle['protocols']} protocol objects alive after "
        "gc.collect()"))
    v.append(verdict(
        "fds back to baseline", idle["fds"] <= base["fds"],
        f"{base['fds']} before the clients (listening socket, epoll, pipes), "
        f"peak {max(s['fds'] for s in samples)}, {idle['fds']} after"))
    extra = idle["blocks"] - base["blocks"]
    limit = max(BLOCKS_MIN, int(BLOCKS_PER_CONN * stopped["accepted"]))
    v.append(verdict(
        "allocated blocks back", extra < limit,
        f"sys.getallocatedblocks() {base['blocks']:,} before, "
        f"{max(s['blocks'] for s in samples):,} peak, {idle['blocks']:,} "
        f"after gc.collect(): {extra:+,} (limit {limit:,}: "
        f"max({BLOCKS_MIN:,}, {BLOCKS_PER_CONN} x connections))"))
    if base.get("malloc_kib") is not None:
        extra = idle["malloc_kib"] - base["malloc_kib"]
        limit = max(MALLOC_MIN_KIB,
                    MALLOC_PER_CONN * stopped["accepted"] / 1024)
        v.append(verdict(
            "malloc'd memory back", extra < limit,
            f"in use {mib(base['malloc_kib'])} MiB before, "
            f"{mib(max(s['malloc_kib'] for s in samples))} peak, "
            f"{mib(idle['malloc_kib'])} after: {extra / 1024:+.2f} MiB (limit "
            f"{limit / 1024:.1f}: max({MALLOC_MIN_KIB // 1024} MiB, "
            f"{MALLOC_PER_CONN} B x connections))"))
    # RSS: warm-up is the first third of the client run; then compare the
    # middle and last thirds and fit a line through both.
    span = t1 - t0
    run = [s for s in samples if s["phase"] == "run" and t0 < s["t"] <= t1]
    mid = [s["rss_kib"] for s in run
           if t0 + span / 3 < s["t"] <= t0 + 2 * span / 3]
    last = [s["rss_kib"] for s in run if s["t"] > t0 + 2 * span / 3]
    if len(mid) >= 2 and len(last) >= 2:
        slope = slope_per_min([(s["t"], s["rss_kib"]) for s in run
                               if s["t"] > t0 + span / 3])
        m2, m3 = statistics.median(mid), statistics.median(last)
        allowed = max(RSS_GROWTH_MIN_KIB, m2 * RSS_GROWTH_PCT / 100)
        # A slope fitted over less than a minute is mostly noise: shown,
        # judged only on longer windows.
        judged = span * 2 / 3 >= SLOPE_MIN_WINDOW
        ok = m3 - m2 < allowed and (slope < RSS_SLOPE_KIB_MIN or not judged)
        detail = (f"median {mib(m2)} MiB (middle third) -> {mib(m3)} MiB "
                  f"(last third): {(m3 - m2) / 1024:+.1f} MiB (limit "
                  f"{allowed / 1024:.1f}); slope {slope:+,.0f} KiB/min ("
                  + (f"limit {RSS_SLOPE_KIB_MIN:,})" if judged else
                     f"not judged: window under {SLOPE_MIN_WINDOW:g} s)"))
    else:
        slope = m2 = m3 = None
        ok, detail = False, ("run too short for the RSS criterion (fewer "
                             "than 6 samples)")
    rss = [s["rss_kib"] for s in samples]
    sec["rss"] = dict(start_kib=base["rss_kib"], peak_kib=max(rss),
                      end_run_kib=run[-1]["rss_kib"] if run else None,
                      idle_kib=idle["rss_kib"], median_mid_kib=m2,
                      median_last_kib=m3, slope_kib_per_min=slope)
    v.append(verdict("RSS flat after warm-up", ok, detail))
    return v


# ------------------------------------------------------------------- waves

def run_waves(args):
    child = _echo.Child([WAVES, args.loop, "--waves", str(args.waves),
                         "--size", str(args.wave_size)],
                        f"{args.loop} waves")
    rows = []
    try:
        start = child.readline(time.monotonic() + 60)
        print(f"{args.waves} waves of {start['size']:,} tasks on "
              f"{args.loop}:\n")
        print(f"{'wave':>5}  {'tasks':>9}  {'t s':>6}  {'RSS MiB':>7}  "
              f"{'fds':>3}  {'all_tasks':>9}  {'_live_tasks':>11}  "
              f"{'gc objects':>10}  {'blocks':>9}  {'malloc MiB':>10}")
        print(_wave_line(dict(start, wave="start", total=0, t=0.0,
                              all_tasks="-")), flush=True)
        while True:
            msg = child.readline(time.monotonic() + args.wave_timeout)
            if msg.get("event") != "wave":
                break
            rows.append(msg)
            print(_wave_line(msg), flush=True)
        end = msg
        rc = child.wait(30)
    except _echo.ChildError as exc:
        raise SoakError(str(exc))
    finally:
        child.kill()
    sec = dict(loop=args.loop, waves=args.waves, size=start["size"],
               start=start, rows=rows, end=end, exit_status=rc)
    sec["verdicts"] = wave_verdicts(sec, args)
    return sec


def _na(x):
    return "-" if x is None else x


def _wave_line(m):
    return (f"{m['wave']:>5}  {m['total']:>9,}  {m['t']:6.1f}  "
            f"{mib(m['rss_kib']):>7}  {m['fds']:3}  {m['all_tasks']:>9}  "
            f"{_na(m['live_tasks']):>11}  {m['objects']:>10,}  "
            f"{m['blocks']:>9,}  {_mib(m.get('malloc_kib')):>10}")


def wave_verdicts(sec, args):
    rows, end, start = sec["rows"], sec["end"], sec["start"]
    v = []
    probs = [p for r in rows for p in r["problems"]]
    errs = end.get("errors", []) if end.get("event") == "end" else \
        [f"unexpected output {end!r}"]
    v.append(verdict(
        "every task's outcome as expected",
        not probs and not errs and sec["exit_status"] == 0 and
        len(rows) == args.waves,
        f"{end.get('total', 0):,} tasks in {len(rows)} waves, "
        f"{end.get('seconds', 0):.1f} s; wrong outcomes: {len(probs)}, "
        f"exception handler calls: {len(errs)}, exit status "
        f"{sec['exit_status']}"
        + (f" ({'; '.join((probs + errs)[:3])})" if probs or errs else "")))
    v.append(verdict(
        "no task left after a wave",
        all(r["all_tasks"] == 1 for r in rows) and
        all(r["live_tasks"] in (None, 1) for r in rows),
        "all_tasks() = {driver} after every wave"
        + (", _live_tasks() too" if rows and rows[0]["live_tasks"] is not None
           else "")))
    if end.get("live_tasks") is not None or \
            args.loop.startswith("asyncio_c"):
        v.append(verdict(
            "_live_tasks() empty at the end", end.get("live_tasks") == 0,
            f"asyncio_c._core._live_tasks(): {end.get('live_tasks')} after "
            "the loop finished"))
    v.append(verdict(
        "fds flat", len({r["fds"] for r in rows}) <= 1 and
        rows and rows[-1]["fds"] == start["fds"],
        f"{start['fds']} at start, {sorted({r['fds'] for r in rows})} "
        "after the waves"))
    if len(rows) >= 3:
        w = max(1, len(rows) // 5)      # warm-up: the first fifth
        ref = rows[w - 1]
        tail = rows[-max(1, len(rows) // 4):]
        tasks_since = rows[-1]["total"] - ref["total"]
        lim = max(WAVE_MIN, int(WAVE_PER_TASK * tasks_since))
        for key, name in (("objects", "gc objects"),
                          ("blocks", "allocated blocks")):
            grow = max(r[key] for r in tail) - ref[key]
            v.append(verdict(
                f"{name} flat", grow < lim,
                f"wave {ref['wave']}: {ref[key]:,}, last {len(tail)} waves "
                f"at most {max(r[key] for r in tail):,}: {grow:+,} (limit "
                f"{lim:,}: max({WAVE_MIN:,}, {WAVE_PER_TASK} per task made "
                f"since))"))
        if ref.get("malloc_kib") is not None:
            top = max(r["malloc_kib"] for r in tail)
            lim = max(MALLOC_MIN_KIB,
                      WAVE_MALLOC_PER_TASK * sec["size"] / 1024)
            v.append(verdict(
                "malloc'd memory flat", top - ref["malloc_kib"] < lim,
                f"wave {ref['wave']}: {mib(ref['malloc_kib'])} MiB in use, "
                f"last {len(tail)} waves at most {mib(top)} MiB: "
                f"{(top - ref['malloc_kib']) / 1024:+.2f} MiB (limit "
                f"{lim / 1024:.1f}: max({MALLOC_MIN_KIB // 1024} MiB, "
                f"{WAVE_MALLOC_PER_TASK} B x tasks per wave))"))
        top = max(r["rss_kib"] for r in tail)
        lim = max(WAVE_RSS_MIN_KIB, ref["rss_kib"] * WAVE_RSS_PCT / 100)
        v.append(verdict(
            "RSS flat", top - ref["rss_kib"] < lim,
            f"wave {ref['wave']}: {mib(ref['rss_kib'])} MiB, last "
            f"{len(tail)} waves at most {mib(top)} MiB: "
            f"{(top - ref['rss_kib']) / 1024:+.1f} MiB (limit "
            f"{lim / 1024:.1f})"))
    else:
        v.append(verdict("flat after warm-up", False,
                         "fewer than 3 waves: nothing to compare"))
    return v


# ------------------------------------------------------------------- chart

def write_png(path, doc):
    plt = _chart.pyplot()
    if plt is None:
        return False
    parts = [p for p in ("echo", "waves") if p in doc]
    fig, axes = plt.subplots(len(parts), 2,
                             figsize=(11, 3.4 * len(parts) + 0.6),
                             squeeze=False)
    colour = _chart.LOOP_COLOURS.get(doc["loop"], "#31a354")
    for row, part in zip(axes, parts):
        sec = doc[part]
        if part == "echo":
            ss = sec["samples"]
            xs = [s["t"] for s in ss]
            row[0].plot(xs, [s["rss_kib"] / 1024 for s in ss], color=colour,
                        label="RSS")
            if ss and ss[0].get("malloc_kib") is not None:
                row[0].plot(xs, [s["malloc_kib"] / 1024 for s in ss],
                            color="#999999", linestyle="--",
                            label="malloc() in use")
            row[0].legend(fontsize=7)
            row[0].set_ylabel("server memory (MiB)", fontsize=8)
            row[1].plot(xs, [s["fds"] for s in ss], color=colour, label="fds")
            row[1].plot(xs, [s["live"] for s in ss], color="#999999",
                        linestyle="--", label="live connections")
            row[1].legend(fontsize=7)
            row[1].set_ylabel("count", fontsize=8)
            for ax in row:
                ax.set_xlabel("seconds", fontsize=8)
                ax.set_title(f"echo soak: {sec['clients']} connections, "
                             f"{sec['duration']:g} s", fontsize=9)
        else:
            rs = sec["rows"]
            xs = [r["wave"] for r in rs]
            row[0].plot(xs, [r["rss_kib"] / 1024 for r in rs], marker="o",
                        color=colour, label="RSS")
            if rs and rs[0].get("malloc_kib") is not None:
                row[0].plot(xs, [r["malloc_kib"] / 1024 for r in rs],
                            marker="s", color="#999999",
                            label="malloc() in use")
            row[0].legend(fontsize=7)
            row[0].set_ylabel("memory (MiB)", fontsize=8)
            row[1].plot(xs, [r["blocks"] / 1000 for r in rs], marker="o",
                        color=colour, label="allocated blocks (k)")
            row[1].plot(xs, [r["objects"] / 1000 for r in rs], marker="s",
                        color="#999999", label="gc objects (k)")
            row[1].legend(fontsize=7)
            for ax in row:
                ax.xaxis.get_major_locator().set_params(integer=True)
                ax.set_xlabel("wave", fontsize=8)
                ax.set_title(f"task waves: {sec['waves']} x {sec['size']:,}",
                             fontsize=9)
        for ax in row:
            top = max((max(ln.get_ydata(), default=0) for ln in ax.lines),
                      default=0)
            ax.set_ylim(0, top * 1.15 or 1)
            ax.grid(color="#dddddd", linewidth=0.5)
    fig.suptitle(f"Soak on {doc['loop']} (bench/soak.py; flat is good)\n"
                 + _chart.machine_line(doc["machine"]), fontsize=10)
    fig.tight_layout()
    _chart._save(plt, fig, path)
    return True


# -------------------------------------------------------------------- main

def parse_args(argv):
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split("\n\n", 1)[1])
    p.add_argument("--loop", choices=LOOPS, default="asyncio_c",
                   help="the loop under test (default asyncio_c; "
                        "asyncio_c+native: with asyncio_c's native gather, "
                        "wait, wait_for, shield and sleep patched into "
                        "asyncio, as bench/_child.py makes it)")
    p.add_argument("--flavour", choices=("protocol", "streams"),
                   default="protocol",
                   help="echo server: an asyncio.Protocol (default) or "
                        "asyncio streams (start_server, read/write/drain)")
    p.add_argument("--what", default=",".join(PARTS),
                   help="comma-separated subset of echo,waves (default both)")
    p.add_argument("--duration", type=float, default=180.0,
                   help="seconds of client traffic (default 180)")
    p.add_argument("--clients", type=int, default=1000,
                   help="concurrent connections (default 1000)")
    p.add_argument("--client-procs", type=int, default=2,
                   help="client processes sharing them (default 2)")
    p.add_argument("--max-size", type=int, default=64 * 1024,
                   help="largest request in bytes (default 65536)")
    p.add_argument("--churn", type=float, default=0.02,
                   help="probability a connection ends after a reply "
                        "(default 0.02)")
    p.add_argument("--rst", type=float, default=0.2,
                   help="fraction of those ends that are RSTs (default 0.2)")
    p.add_argument("--abort-mid", type=float, default=0.002,
                   help="probability a request is cut short by an RST "
                        "(default 0.002)")
    p.add_argument("--interval", type=float, default=1.0,
                   help="seconds between the server's samples (default 1)")
    p.add_argument("--small-rcvbuf", type=float, default=0.25,
                   help="fraction of connections with a 4 KiB receive "
                        "buffer, so the server's writes buffer and pause "
                        "(default 0.25)")
    p.add_argument("--server-nofile", type=int, default=0, metavar="N",
                   help="the server's RLIMIT_NOFILE soft limit: below "
                        "--clients, accept() runs out of fds and asyncio's "
                        "accept back-off is soaked (default: not lowered)")
    p.add_argument("--every", type=float, default=10.0,
                   help="seconds between the samples shown (default 10; "
                        "all are in the JSON)")
    p.add_argument("--waves", type=int, default=20,
                   help="task waves (default 20)")
    p.add_argument("--wave-size", type=int, default=50_000,
                   help="tasks per wave (default 50000)")
    p.add_argument("--wave-timeout", type=float, default=300.0,
                   help="seconds one wave may take (default 300)")
    p.add_argument("--json", metavar="PATH",
                   help="results (default "
                        "bench/results/soak-X.Y-LOOP[-streams].json)")
    p.add_argument("--png", metavar="PATH",
                   help="chart (default: the JSON's path with .png)")
    p.add_argument("--no-png", action="store_true", help="write no chart")
    args = p.parse_args(argv)
    args.parts = [w.strip() for w in args.what.split(",") if w.strip()]
    if not args.parts or any(w not in PARTS for w in args.parts):
        p.error("--what: choose from echo,waves")
    if args.duration <= 0 or args.interval <= 0 or args.clients < 1 or \
            args.waves < 1 or args.wave_size < 10 or \
            not 1 <= args.client_procs <= args.clients:
        p.error("--duration, --interval, --clients, --waves must be positive, "
                "--wave-size at least 10, 1 <= --client-procs <= --clients")
    v = sys.version_info
    if args.json is None:
        fl = "" if args.flavour == "protocol" else f"-{args.flavour}"
        args.json = os.path.join(
            _HERE, "results", f"soak-{v.major}.{v.minor}-{args.loop}{fl}.json")
    if args.png is None:
        args.png = os.path.splitext(args.json)[0] + ".png"
    return args


def _on_sigterm(signum, frame):
    raise KeyboardInterrupt


def main(argv=None):
    args = parse_args(argv)
    old = signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        return _main(args)
    except SoakError as exc:
        print(f"\nsoak FAILED: {exc}", file=sys.stderr, flush=True)
        return 1
    finally:
        _echo.Child.kill_all()
        signal.signal(signal.SIGTERM, old)


def _main(args):
    t0 = time.monotonic()
    info = _run.print_machine()
    facts, err = _run.probe(args.loop, 60)
    if err:
        raise SoakError(f"loop {args.loop} cannot be made here: {err}")
    print(f"Loop under test: {args.loop} ({facts['loop_type']}"
          + (", STAND-IN: extension not loaded" if facts.get("standin")
             else "") + ")\n", flush=True)
    doc = dict(machine=info, loop=args.loop, loop_facts=facts,
               args={k: v for k, v in vars(args).items()})
    if "echo" in args.parts:
        print("==== echo soak ====")
        doc["echo"] = run_echo(args)
        e = doc["echo"]
        print(f"\nEcho figures: RSS {mib(e['rss']['start_kib'])} MiB at "
              f"start, {mib(e['rss']['peak_kib'])} peak, "
              f"{mib(e['rss']['end_run_kib'] or 0)} at the end of the run, "
              f"{mib(e['rss']['idle_kib'])} idle after; {e['wall_s']:.0f} s")
        print_verdicts(e["verdicts"])
        print()
    if "waves" in args.parts:
        print("==== task waves ====")
        doc["waves"] = run_waves(args)
        print()
        print_verdicts(doc["waves"]["verdicts"])
        print()
    doc["wall_s"] = time.monotonic() - t0
    verdicts = [v for p in PARTS if p in doc for v in doc[p]["verdicts"]]
    failed = [v["criterion"] for v in verdicts if not v["ok"]]
    _run.save_json(args.json, doc)
    if not args.no_png:
        write_png(args.png, doc)
    print(f"\nSoak on {args.loop}: "
          + (f"FAILED ({', '.join(failed)})" if failed else
             f"all {len(verdicts)} criteria held")
          + f"; {doc['wall_s']:.0f} s in all", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
