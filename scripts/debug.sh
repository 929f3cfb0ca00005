#!/usr/bin/env bash
# Memory-error runs of the test suite on one interpreter (PY=3.11 unless told otherwise).
#
#   scripts/debug.sh [pytest args]                   AddressSanitizer + UBSan build, whole suite
#   scripts/debug.sh --valgrind [TEST] [pytest args] -O0 -g3 build, TEST under valgrind (slow;
#                                                    PY=3.12 by default, more options: VALGRIND_OPTS);
#                                                    without TEST, the files of VALGRIND_CORE below
#
# Both builds go to build/<asan|debug>-X.Y/lib, out of tree, and are imported from there
# (PYTHONPATH first, python -P so the checkout's own in-place build is not picked up):
# the in-place .so stays a normal build that other runs can keep using.
# CPython leaks at exit by design, so leak detection is off; PYTHONMALLOC=malloc makes
# every Python object a real malloc block the tools can see.
set -uo pipefail
source "$(dirname "$0")/lib.sh"
cd "$AC_TOP" || exit 2

mode=asan
VALGRIND_CORE="tests/test_future.py tests/test_task.py tests/test_task_wakeup.py tests/test_gather.py
 tests/test_wait.py tests/test_wait_for.py tests/test_shield.py tests/test_sleep.py
 tests/test_loop_schedule.py tests/test_loop_fds.py tests/test_transport_stream.py tests/test_badinput.py"
if [ "${1:-}" = --valgrind ]; then
    mode=valgrind
    shift
    # Not 3.11 by default: its int.from_bytes(b"") reads an uninitialised digit (multiplied
    # by 0, so harmless), and `import random` does that; valgrind then flags every later use.
    PY=${PY:-3.12}
    if [ $# = 0 ] || [[ $1 == -* ]]; then
        # The C core's own files (Future, Task, combinators, scheduling, fds, a transport):
        # about 5 minutes under valgrind on 2 cores; TEST=tests/ runs the whole suite.
        set -- $VALGRIND_CORE "$@"
    fi
fi

PY=${PY:-3.11}
py=$(ac_python "$PY") || exit 1

export PYTHONMALLOC=malloc
# Tests that measure memory (RSS) mean nothing under a sanitizer's allocator; they can skip
# when this is set.
export ASYNCIO_C_MEMCHECK=$mode
if [ $mode = asan ]; then
    ac_header "Python $PY: AddressSanitizer build"
    lib=$(ASYNCIO_C_ASAN=1 ac_build_tree "$PY" asan) || { ac_loud "ASan build failed"; exit 1; }
    libasan=$(gcc -print-file-name=libasan.so)
    [ -e "$libasan" ] || { ac_loud "gcc has no libasan.so ($libasan)"; exit 1; }
    run=(env LD_PRELOAD="$libasan"
         ASAN_OPTIONS="detect_leaks=0:abort_on_error=0:${ASAN_OPTIONS:-}"
         UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:${UBSAN_OPTIONS:-}")
    args=(--timeout="${ASYNCIO_C_TEST_CASE_TIMEOUT:-300}" "${@:-tests/}")
else
    ac_header "Python $PY: debug build for valgrind"
    lib=$(ASYNCIO_C_DEBUG=1 ac_build_tree "$PY" debug) || { ac_loud "debug build failed"; exit 1; }
    run=(valgrind --error-exitcode=99 --leak-check=no -q
         --suppressions="$AC_TOP/scripts/valgrind-python.supp")
    args=(--timeout=0 "$@")
fi
export PYTHONPATH="$lib${PYTHONPATH:+:$PYTHONPATH}"
export ASYNCIO_C_EXPECT_BUILD="$lib/asyncio_c"

echo "asyncio_c: $("${run[@]}" "$py" -P -c 'import asyncio_c._core as c; print(c.__file__)' 2>&1 | tail -n 1)"
ac_header "Python $PY: pytest under $mode"
# --capture=sys: the sanitizer's or valgrind's report goes to fd 2; pytest's default fd
# capture would swallow it when the process dies.
"${run[@]}" "$py" -P -m pytest -q --capture=sys "${args[@]}" </dev/null
rc=$?
if [ $rc = 0 ]; then
    echo "$mode run: ok"
else
    ac_loud "$mode run FAILED (exit status $rc)"
fi
exit $rc
