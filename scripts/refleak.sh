#!/usr/bin/env bash
# Reference-leak run of the test suite on a debug interpreter (one with sys.gettotalrefcount:
# Debian's python3.11-dbg).  Every test runs several times (tests/_refleak.py, the pytest
# plugin); a test whose total refcount, allocated blocks or open fds grow on every run fails
# with the deltas.
#
#   scripts/refleak.sh [pytest args]      e.g.  scripts/refleak.sh tests/test_future.py -k cancel
#
# Without a test path among the arguments, the default set runs: tests/ minus the conformance
# layer (CPython's own suite against our loop) and the two benchmark-timing files.
#
# ASYNCIO_C_REFLEAK_PYTHON=/path/python   the debug interpreter to use (default: python3.11-dbg,
#                                         or python3.X-dbg / python3-dbg, the first found)
# ASYNCIO_C_REFLEAK=3:3                   warm-up runs : measured runs of each test
# ASYNCIO_C_TEST_CASE_TIMEOUT=300         seconds one test (all its runs) may take
#
# The venv is .venv/3.11d (made once, like scripts/venvs.sh's); the extension is built in
# place with -Werror: a debug build's suffix (.cpython-311d-*.so) never clashes with the
# normal 3.11 build.  If no debug interpreter is found and we are root with apt-get, the
# Debian packages are installed (said so); otherwise the run fails loudly.
set -uo pipefail
source "$(dirname "$0")/lib.sh"
cd "$AC_TOP" || exit 2

REFLEAK=${ASYNCIO_C_REFLEAK:-3:3}
CASE_TIMEOUT=${ASYNCIO_C_TEST_CASE_TIMEOUT:-300}
DEB_PKGS="python3.11-dbg python3.11-dev python3.11-venv libpython3.11-testsuite"
PKGS="pip setuptools wheel pytest pytest-asyncio pytest-timeout hypothesis"
# The default set: everything in tests/ except the conformance layer (CPython's own suite,
# minutes per run, its own caches) and the tests that time or benchmark the examples.
DEFAULT_ARGS=(tests/ --ignore=tests/conformance --ignore=tests/test_bench_echo.py
              --ignore=tests/test_bench_workloads.py)

is_debug_python() {  # is_debug_python PATH: a CPython with sys.gettotalrefcount
    [ -n "$1" ] && [ -x "$1" ] &&
        "$1" -c 'import sys; sys.exit(not hasattr(sys, "gettotalrefcount"))' 2>/dev/null
}

find_debug_python() {
    local cand
    if [ -n "${ASYNCIO_C_REFLEAK_PYTHON:-}" ]; then
        is_debug_python "$ASYNCIO_C_REFLEAK_PYTHON" && { echo "$ASYNCIO_C_REFLEAK_PYTHON"; return 0; }
        ac_loud "ASYNCIO_C_REFLEAK_PYTHON=$ASYNCIO_C_REFLEAK_PYTHON is not a debug interpreter (no sys.gettotalrefcount)"
        return 1
    fi
    for cand in python3.11-dbg python3.12-dbg python3.13-dbg python3-dbg python3.11d python3d; do
        cand=$(command -v "$cand" 2>/dev/null) || continue
        is_debug_python "$cand" && { echo "$cand"; return 0; }
    done
    return 1
}

ac_header "refleak: finding a debug interpreter"
if ! dbg=$(find_debug_python); then
    if [ -z "${ASYNCIO_C_REFLEAK_PYTHON:-}" ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        echo "no debug interpreter found; we are root with apt-get: installing $DEB_PKGS" >&2
        apt-get update -q >&2 &&
            DEBIAN_FRONTEND=noninteractive apt-get install -y -q $DEB_PKGS >&2 ||
            ac_loud "apt-get could not install $DEB_PKGS"
        dbg=$(find_debug_python)
    fi
    if [ -z "${dbg:-}" ]; then
        ac_loud "NO DEBUG INTERPRETER: the refleak run needs a CPython built with --with-pydebug (sys.gettotalrefcount). On Debian: apt-get install $DEB_PKGS, or point ASYNCIO_C_REFLEAK_PYTHON at one"
        exit 1
    fi
fi
ver=$("$dbg" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
echo "debug interpreter: $dbg ($("$dbg" -c 'import sys; print(sys.version.split()[0])'))"

# The venv, once, made as scripts/venvs.sh makes the others.
venv="$AC_TOP/.venv/${ver}d"
mkdir -p "$AC_TOP/.venv"
(
    flock 9
    ac_make_venv "$dbg" "$venv" "$ver" $PKGS ||
        { ac_loud "FAILED to set up $venv (no venv module? apt-get install python$ver-venv; or pip's output above)"; exit 1; }
) 9>"$AC_TOP/.venv/.lock" || exit 1
py="$venv/bin/python"

ac_header "Python $ver debug: build (ASYNCIO_C_WERROR=1)"
# ac_build X.Y uses .venv/X.Y; ours is .venv/X.Yd, so the same call with that name.
if ! ASYNCIO_C_WERROR=1 ac_build "${ver}d"; then
    ac_loud "the extension did not build for the debug interpreter (headers: apt-get install python$ver-dev)"
    exit 1
fi
if ! impl=$(ac_impl "$py") || [[ $impl != real:* ]]; then
    ac_loud "Python $ver debug: $impl"
    exit 1
fi
export ASYNCIO_C_EXPECT_BUILD="$AC_TOP/asyncio_c"

# Tests that fail on Debian's debug interpreter WITHOUT the plugin, for reasons of that
# interpreter, not of asyncio_c (checked with --refleak=0): deselected, listed in the output.
#  - 3.11.2's asyncio.timeout() does not chain the CancelledError as __cause__ (3.11.7 does)
#  - a --with-pydebug build does not freeze the stdlib: runpy's frames print as a file, not
#    as <frozen runpy>, so python -m's traceback differs from the one the test expects
#  - 3.11.2's own datagram/pipe transports lack is_reading() and the later ResourceWarning
#    fixes: the [asyncio] oracle cases below fail there (the [asyncio_c] ones run); its read
#    pipe transport has no is_reading() at all (NotImplementedError: test_transport_pipes)
#  - 3.11.2's socket transports lack _SelectorTransport._add_reader (3.11.7 has it), which
#    skips registering the reader when the protocol paused reading in connection_made: the
#    [asyncio] case of test_pause_reading_in_connection_made gets the data anyway
#  - for the same reasons the bad-argument matrix of those two transports finds asyncio's
#    NotImplementedError where ours (and 3.11.7's) answer (it runs in child interpreters: the
#    refleak plugin measures nothing there anyway), and 3.11.2's read pipe transport closed in
#    connection_made stays alive (the [asyncio] case of test_faults_freed's pipe test)
ENV_DESELECT=(tests/test_task.py::test_timeout_expires
              tests/test_cli.py::test_module_exit_and_exception
              "tests/test_net_dgram_pipes.py::test_dgram_pause_resume_reading[asyncio]"
              "tests/test_net_dgram_pipes.py::test_dgram_unclosed_resource_warning[asyncio]"
              "tests/test_net_dgram_pipes.py::test_read_pipe_pause_resume[asyncio]"
              "tests/test_net_dgram_pipes.py::test_read_pipe_close[asyncio]"
              "tests/test_transport_dgram.py::test_types[asyncio]"
              "tests/test_transport_dgram.py::test_pause_and_resume_reading[asyncio]"
              "tests/test_transport_dgram.py::test_unclosed_transport_warns[asyncio]"
              "tests/test_transport_pipes.py::test_read_pipe_data_then_eof[asyncio]"
              "tests/test_transport_pipes.py::test_read_pipe_close[asyncio]"
              "tests/test_transport_pipes.py::test_read_pipe_pause_resume[asyncio]"
              "tests/test_transport_pipes.py::test_read_pipe_data_received_error[asyncio]"
              "tests/test_transport_pipes.py::test_read_pipe_with_streams[asyncio]"
              "tests/test_net_transports.py::test_pause_reading_in_connection_made[asyncio-tcp]"
              "tests/test_net_transports.py::test_pause_reading_in_connection_made[asyncio-unix]"
              "tests/test_faults_types.py::test_bad_arguments_matrix[DatagramTransport]"
              "tests/test_faults_types.py::test_bad_arguments_matrix[ReadPipeTransport]"
              "tests/test_faults_freed.py::test_pipe_transport_closed_and_dropped_from_its_callback[asyncio-connection_made]")
deselect=()
for t in "${ENV_DESELECT[@]}"; do
    deselect+=(--deselect "$t")
done
echo "deselected (they fail on this debug interpreter without the plugin, see scripts/refleak.sh): ${ENV_DESELECT[*]}"

# Paths given? Otherwise the default set (options alone, e.g. -x -k future, keep it).
args=("$@")
has_path=0
for a in "$@"; do
    [[ $a != -* ]] && [ -e "${a%%::*}" ] && has_path=1
done
[ $has_path = 1 ] || args=("${DEFAULT_ARGS[@]}" "$@")

ac_header "Python $ver debug: pytest, each test ${REFLEAK/:/ warm-up + } measured runs ($impl)"
start=$SECONDS
# -p _refleak: the plugin is tests/_refleak.py; PYTHONPATH=tests makes it importable before
# collection starts.
PYTHONPATH="$AC_TOP/tests${PYTHONPATH:+:$PYTHONPATH}" \
    "$py" -m pytest -q -p _refleak --refleak="$REFLEAK" -p no:cacheprovider \
    --timeout="$CASE_TIMEOUT" -o faulthandler_timeout=$((CASE_TIMEOUT + 30)) \
    "${deselect[@]}" "${args[@]}" </dev/null
rc=$?
if [ $rc = 0 ]; then
    echo "refleak run: ok ($((SECONDS - start))s)"
else
    ac_loud "refleak run FAILED (pytest exit $rc, $((SECONDS - start))s)"
fi
exit $rc
