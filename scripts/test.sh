#!/usr/bin/env bash
# The test command: for every supported interpreter (3.11, 3.12, 3.13), one after another,
# build asyncio_c._core in place with -Werror, then run `python -m pytest tests/ -q`
# (the conformance suite included).  Ends with a per-interpreter summary; exits non-zero
# if anything failed.
#
#   scripts/test.sh [pytest args]     e.g.  scripts/test.sh -x -k future
#
# ASYNCIO_C_PYTHONS="3.12"       test only these versions
# ASYNCIO_C_ALLOW_MISSING=1      a supported interpreter that is not installed is not a failure
# ASYNCIO_C_STANDIN=1            if the extension does not build, test asyncio's own C types
# ASYNCIO_C_TEST_CASE_TIMEOUT=60 seconds one test may take before it fails (pytest-timeout)
# ASYNCIO_C_TEST_TIMEOUT=900     seconds per interpreter before pytest is aborted (tracebacks dumped)
# ASYNCIO_C_REFLEAK_TEST=0       skip the refleak run of the core files on the debug interpreter
#                                (scripts/refleak.sh, `make refleak`; on by default)
set -uo pipefail
source "$(dirname "$0")/lib.sh"
cd "$AC_TOP" || exit 2

SUPPORTED=${ASYNCIO_C_PYTHONS:-"3.11 3.12 3.13"}
TIMEOUT=${ASYNCIO_C_TEST_TIMEOUT:-900}
CASE_TIMEOUT=${ASYNCIO_C_TEST_CASE_TIMEOUT:-60}
logdir=$(mktemp -d)
trap 'rm -rf "$logdir"' EXIT

ac_header "setting up venvs: $SUPPORTED"
ASYNCIO_C_PYTHONS=$SUPPORTED bash scripts/venvs.sh 2>&1 >"$logdir/venvs.out" | tee "$logdir/venvs.err" >&2
venvs_rc=${PIPESTATUS[0]}
venvs=$(cat "$logdir/venvs.out")

# pytest_summary LOG: pytest's last line, e.g. "3 failed, 120 passed, 2 skipped in 41.20s"
pytest_summary() {
    grep -E '^(=+ )?([0-9]+ [a-z]+.*|no tests ran) in [0-9.]+s( \([0-9:]+\))?( =+)?$' "$1" |
        tail -n 1 | sed -E 's/^=+ *//; s/ *=+$//'
}

declare -A result detail
failed=0
for v in $SUPPORTED; do
    if ! grep -qx "$AC_TOP/.venv/$v" <<<"$venvs"; then
        if grep -q "MISSING SUPPORTED INTERPRETER: Python $v " "$logdir/venvs.err"; then
            if [ "${ASYNCIO_C_ALLOW_MISSING:-0}" != 0 ]; then
                result[$v]="missing"; detail[$v]="not installed (allowed: ASYNCIO_C_ALLOW_MISSING=1)"
            else
                result[$v]="FAIL"; detail[$v]="PYTHON $v IS NOT INSTALLED (install it with pyenv, or set ASYNCIO_C_ALLOW_MISSING=1)"
                failed=1
            fi
        else
            result[$v]="FAIL"; detail[$v]="could not set up .venv/$v (see the pip output above)"
            failed=1
        fi
        ac_loud "Python $v: ${detail[$v]}"
        continue
    fi
    py="$AC_TOP/.venv/$v/bin/python"
    start=$SECONDS

    ac_header "Python $v: build (ASYNCIO_C_WERROR=1)"
    if ! ASYNCIO_C_WERROR=1 ac_build "$v"; then
        result[$v]="FAIL"; detail[$v]="extension build failed (see compiler output above)"
        failed=1
        continue
    fi
    if ! impl=$(ac_impl "$py"); then
        ac_loud "Python $v: $impl"
        result[$v]="FAIL"; detail[$v]="$impl"
        failed=1
        continue
    fi
    # Make sure the tests import what was just built, not some other copy of the package.
    if [[ $impl == real:* ]]; then
        export ASYNCIO_C_EXPECT_BUILD="$AC_TOP/asyncio_c"
    else
        unset ASYNCIO_C_EXPECT_BUILD
    fi

    ac_header "Python $v: pytest ($impl)"
    # A test hung in Python fails alone (pytest-timeout); one hung in C (GIL held) gets its
    # tracebacks dumped (faulthandler_timeout); a hung run is aborted with tracebacks
    # (SIGABRT -> faulthandler).  --foreground keeps Ctrl-C working.
    timeout --foreground -s ABRT -k 15 "$TIMEOUT" \
        "$py" -m pytest -q --timeout="$CASE_TIMEOUT" -o faulthandler_timeout=$((CASE_TIMEOUT + 30)) \
        "${@:-tests/}" </dev/null 2>&1 |
        tee "$logdir/pytest-$v.log"
    rc=${PIPESTATUS[0]}
    last=$(pytest_summary "$logdir/pytest-$v.log")
    took="$((SECONDS - start))s"
    case $rc in
        0) result[$v]="ok" ;;
        5) result[$v]="FAIL"; last="NO TESTS WERE COLLECTED (pytest exit 5)" ;;
        124) result[$v]="FAIL"; last="TIMED OUT after ${TIMEOUT}s (tracebacks above)" ;;
        *) result[$v]="FAIL"; last="pytest exit $rc: $last" ;;
    esac
    [ "${result[$v]}" = ok ] || failed=1
    [[ $impl == real:* ]] || last="$last [STAND-IN, not our extension]"
    detail[$v]="$last ($took)"
done

# The refleak run of the C core's own test files (every test 3 + 3 times on Debian's debug
# interpreter, failing on refcount, memory-block or fd growth); the whole suite is `make refleak`.
refleak_line=""
if [ "${ASYNCIO_C_REFLEAK_TEST:-1}" != 0 ] && [ $# = 0 ]; then
    start=$SECONDS
    bash scripts/refleak.sh tests/test_future.py tests/test_task.py tests/test_task_wakeup.py \
        tests/test_gather.py tests/test_shield.py tests/test_wait.py tests/test_wait_for.py \
        tests/test_sleep.py tests/test_gc_cycles.py -p no:cacheprovider 2>&1 </dev/null |
        tee "$logdir/refleak.log"
    rc=${PIPESTATUS[0]}
    last=$(pytest_summary "$logdir/refleak.log")
    if [ "$rc" = 0 ]; then
        refleak_line=$(printf '  %-12s %-8s %s' "refleak" "ok" "$last ($((SECONDS - start))s)")
    else
        refleak_line=$(printf '  %-12s %-8s %s' "refleak" "FAIL" \
                       "exit $rc: ${last:-see the output above} ($((SECONDS - start))s)")
        failed=1
    fi
fi
ac_header "asyncio_c test summary"
for v in $SUPPORTED; do
    printf '  Python %-5s %-8s %s\n' "$v" "${result[$v]}" "${detail[$v]}"
done
[ -z "$refleak_line" ] || echo "$refleak_line"
if [ "$venvs_rc" != 0 ]; then
    echo "  (scripts/venvs.sh failed with status $venvs_rc)"
    failed=1
fi
if [ $failed != 0 ]; then
    echo "RESULT: FAILED"
    exit 1
fi
echo "RESULT: all passed"
