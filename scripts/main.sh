#!/usr/bin/env bash
# The main job: on one interpreter (PY=3.11 unless told otherwise) set up the venv, build
# asyncio_c._core in place, run every example in examples/ (examples/run_all.py: a header
# and the output per example) and then the side-by-side benchmarks: bench/run.py (Task,
# Future, loop and combinator workloads; its chart is written to docs/bench-$PY.png),
# bench/scaling.py (cost per operation from 1k to 1M; chart docs/scaling-$PY.png) and
# bench/echo.py (echo server and client in separate processes on loopback).
#
#   scripts/main.sh              examples, then the three benchmarks
#   scripts/main.sh examples     only the examples
#   scripts/main.sh bench        only bench/run.py
#   scripts/main.sh scaling      only bench/scaling.py
#   scripts/main.sh echo         only bench/echo.py
#
# PY=3.12                 use another interpreter
# ASYNCIO_C_STANDIN=1     if the extension does not build, run on asyncio's own C types
set -uo pipefail
source "$(dirname "$0")/lib.sh"
cd "$AC_TOP" || exit 2

PY=${PY:-3.11}
steps=${*:-examples bench scaling echo}
for s in $steps; do
    case $s in
    examples | bench | scaling | echo) ;;
    *) echo "usage: $0 [examples] [bench] [scaling] [echo]" >&2; exit 2 ;;
    esac
done

ac_header "Python $PY: venv and build"
py=$(ac_python "$PY") || exit 1
ac_build "$PY" || exit 1
impl=$(ac_impl "$py") || { ac_loud "Python $PY: $impl"; exit 1; }
echo "asyncio_c: $impl"

failures=()
for s in $steps; do
    if [ "$s" = examples ]; then
        ac_header "examples"
        # The examples' own runner: a header and the output of each example, in order.
        if [ ! -f examples/run_all.py ]; then
            ac_loud "examples/run_all.py is missing: cannot run the examples"
            failures+=("examples/run_all.py missing")
        elif ! "$py" examples/run_all.py </dev/null; then
            ac_loud "examples failed (see above)"
            failures+=("examples")
        fi
    else
        case $s in
        bench) script=bench/run.py args=(--png "docs/bench-$PY.png") ;;
        scaling) script=bench/scaling.py args=(--png "docs/scaling-$PY.png") ;;
        *) script=bench/echo.py args=() ;;
        esac
        ac_header "benchmark: $script"
        if [ ! -f $script ]; then
            ac_loud "$script is missing: there is no benchmark to run"
            failures+=("$script missing")
        elif ! "$py" $script "${args[@]}" </dev/null; then
            ac_loud "$script failed"
            failures+=("$script failed")
        fi
    fi
done

ac_header "main job summary (Python $PY)"
if [ ${#failures[@]} != 0 ]; then
    printf '  FAILED: %s\n' "${failures[@]}"
    exit 1
fi
echo "  all steps passed: $steps"
