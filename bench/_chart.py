"""PNG charts of bench/run.py's and bench/scaling.py's results (matplotlib, Agg).

matplotlib is optional: without it the runners print a loud note and write no
chart (their tables are unaffected).
"""
import os
import sys
import textwrap

# Issue #7's targets against uvloop: 2x written the ordinary way, 3x with
# asyncio_c's native combinators.
TARGETS = (2.0, 3.0)

# The bars of one workload in the speedup chart, top to bottom:
# (label, numerator loop, denominator loop, colour).
SERIES = (
    ("asyncio_c vs asyncio", "asyncio", "asyncio_c", "#9ecae1"),
    ("asyncio_c vs uvloop", "uvloop", "asyncio_c", "#fdae6b"),
    ("asyncio_c+native vs asyncio", "asyncio", "asyncio_c+native", "#3182bd"),
    ("asyncio_c+native vs uvloop", "uvloop", "asyncio_c+native", "#e6550d"),
)
LOOP_COLOURS = {"asyncio": "#3182bd", "uvloop": "#e6550d",
                "asyncio_c": "#31a354", "asyncio_c+native": "#756bb1"}


def pyplot():
    """matplotlib.pyplot on the Agg backend, or None after a loud note on
    stderr if matplotlib cannot be imported."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as exc:
        print(f"!!!!!!!! no chart: matplotlib is not importable ({exc}); "
              f"install it (scripts/venvs.sh does) !!!!!!!!", file=sys.stderr,
              flush=True)
        return None
    return plt


def machine_line(info, extra=""):
    """'Python 3.11.7 · CPU · N cores · date' for a chart's title."""
    py = info["python"].split()[0]
    date = info["date"].split()[0]
    return (f"Python {py} · {info['cpu']} · {info['usable_cores']} cores · "
            f"{date}{extra}")


def _save(plt, fig, path):
    d = os.path.dirname(os.path.abspath(path))
    os.makedirs(d, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    print(f"Chart saved to {path}")


def speedup_chart(path, rows, info, note="", reps=None):
    """Horizontal grouped bars, one group per workload, drawn from 1x (right:
    asyncio_c ahead, left: behind) on a log scale.

    rows: [(label, {"X/Y": median(X) / median(Y)})] in display order (top
    first), with the keys of run.ratios().  note: text for under the chart.
    Returns True if written."""
    plt = pyplot()
    if plt is None:
        return False
    groups = []
    for label, ratio in rows:
        bars = [(s, ratio[f"{s[1]}/{s[2]}"]) for s in SERIES
                if f"{s[1]}/{s[2]}" in ratio]
        if bars:
            groups.append((label, bars))
    if not groups:
        print("no ratios to chart", file=sys.stderr)
        return False
    values = [v for _, bars in groups for _, v in bars]
    lo = min(0.5, min(values) / 1.4)
    hi = max(4.0, max(values) * 1.5)
    bar_h = 0.2
    heights = [len(bars) * bar_h + 0.3 for _, bars in groups]
    foot = "Dotted: issue #7's targets against uvloop (2x for ordinary " \
           "code, 3x with the native combinators)."
    if note:
        foot += "\n" + "\n".join(textwrap.wrap(note, 150))
    top_in, bottom_in = 0.75, 1.0 + 0.13 * (foot.count("\n") + 1)
    plot_in = sum(heights) * 0.62
    fig_h = top_in + plot_in + bottom_in
    fig, ax = plt.subplots(figsize=(11, fig_h))
    fig.subplots_adjust(left=0.17, right=0.97, top=1 - top_in / fig_h,
                        bottom=bottom_in / fig_h)
    y = 0.0
    ticks, seen = [], set()
    for (label, bars), h in zip(groups, heights):
        ticks.append((y + (len(bars) - 1) * bar_h / 2, label))
        for i, ((name, _, _, colour), v) in enumerate(bars):
            pos = y + i * bar_h
            ax.barh(pos, v - 1.0, left=1.0, height=bar_h * 0.9,
                    color=colour, label=name if name not in seen else None)
            seen.add(name)
            ax.text(v * (1.03 if v >= 1 else 0.97), pos, f"{v:.2f}x",
                    va="center", ha="left" if v >= 1 else "right",
                    fontsize=7)
        y += h
    ax.set_xscale("log")
    ax.set_xlim(lo, hi)
    ax.set_ylim(y - bar_h, -bar_h * 1.5)
    ax.set_yticks([t for t, _ in ticks], [lbl for _, lbl in ticks],
                  fontsize=9)
    ax.axvline(1.0, color="black", linewidth=1)
    for t in TARGETS:
        ax.axvline(t, color="grey", linewidth=0.8, linestyle=":")
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator
    marks = [m for m in (0.25, 0.5, 1, 2, 3, 5, 10, 20, 50) if lo <= m <= hi]
    ax.xaxis.set_major_locator(FixedLocator(marks))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}x"))
    ax.set_xlabel("X's median / asyncio_c's (time per operation; bytes for "
                  "pending_bytes): right of 1x asyncio_c is faster "
                  "(smaller), left slower; log scale", fontsize=8)
    runs = (f" · median of {reps} run{'s' if reps != 1 else ''}"
            if reps else "")
    ax.set_title("asyncio_c's speed-up over asyncio and uvloop (bench/run.py)"
                 f"\n{machine_line(info, runs)}", fontsize=10)
    ax.grid(axis="x", color="#dddddd", linewidth=0.5)
    ax.set_axisbelow(True)
    fig.legend(loc="lower center", ncol=4, fontsize=8, frameon=False,
               bbox_to_anchor=(0.5, (0.13 * (foot.count("\n") + 1) + 0.1)
                               / fig_h))
    fig.text(0.01, 0.08 / fig_h, foot, fontsize=7, va="bottom")
    _save(plt, fig, path)
    return True


def scaling_chart(path, ops, sizes, loops, medians, units, info, reps=None,
                  gc_off=False):
    """One panel per operation: cost per operation against n (log x), one
    line per loop.  medians: {(op, loop, n): value}; reps: text.  Returns
    True if written."""
    plt = pyplot()
    if plt is None:
        return False
    cols = 2
    rows = (len(ops) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(10, 3.4 * rows + 0.6),
                             squeeze=False)
    for k, op in enumerate(ops):
        ax = axes[k // cols][k % cols]
        top = 0.0
        for lp in loops:
            pts = [(n, medians[op, lp, n]) for n in sizes
                   if (op, lp, n) in medians]
            if not pts:
                continue
            xs, ys = zip(*pts)
            top = max(top, *ys)
            ax.plot(xs, ys, marker="o", label=lp,
                    color=LOOP_COLOURS.get(lp))
        ax.set_xscale("log")
        ax.set_xticks(list(sizes), [_size_label(n) for n in sizes])
        ax.minorticks_off()
        ax.set_ylim(0, top * 1.15 or 1)
        ax.set_title(op, fontsize=9)
        ax.set_ylabel(units.get(op, ""), fontsize=8)
        ax.grid(color="#dddddd", linewidth=0.5)
        ax.legend(fontsize=7)
    for k in range(len(ops), rows * cols):
        axes[k // cols][k % cols].axis("off")
    runs = f" · median of {reps} run(s)" if reps else ""
    gc = " · garbage collector OFF" if gc_off else ""
    fig.suptitle("Cost per operation against n (bench/scaling.py; flat is "
                 f"good)\n{machine_line(info, runs + gc)}", fontsize=10)
    fig.tight_layout()
    _save(plt, fig, path)
    return True


def _size_label(n):
    for div, suffix in ((1_000_000, "M"), (1_000, "k")):
        if n >= div and n % div == 0:
            return f"{n // div}{suffix}"
    return str(n)
