#!/usr/bin/env bash
# Creates (once) one virtual environment per supported interpreter under .venv/<X.Y>
# and installs the test and benchmark tools into it.  Prints the venv dirs it made ready
# on stdout, one per line.
# A supported interpreter that cannot be found is reported loudly on stderr (exit status
# stays 0: the caller decides whether that is fatal).  A venv that cannot be set up
# (pip failed, PyPI unreachable) is reported on stderr, not printed, and makes the exit
# status 1.
# Each venv gets a .pth file that puts this checkout on sys.path (see below).
# ASYNCIO_C_PYTHONS="3.12" restricts the set.  Safe to run concurrently (takes a lock).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
source "$top/scripts/lib.sh"
SUPPORTED=${ASYNCIO_C_PYTHONS:-"3.11 3.12 3.13"}
PKGS="pip setuptools wheel pytest pytest-asyncio pytest-timeout hypothesis uvloop pyperf matplotlib aiohttp anyio ipykernel nbclient nbformat mypy"

find_python() {
    local v=$1 cand root
    root=$(pyenv root 2>/dev/null || echo "$HOME/.pyenv")
    for cand in "$root"/versions/"$v".*/bin/python"$v"; do
        [ -x "$cand" ] && { echo "$cand"; return 0; }
    done
    cand=$(command -v "python$v" 2>/dev/null) && { echo "$cand"; return 0; }
    return 1
}

mkdir -p "$top/.venv"
# One setup at a time: two half-made venvs racing each other is worse than waiting.
exec 9>"$top/.venv/.lock"
flock 9

status=0
for v in $SUPPORTED; do
    if ! py=$(find_python "$v"); then
        echo "!!!!!!!! MISSING SUPPORTED INTERPRETER: Python $v was not found (pyenv or PATH) !!!!!!!!" >&2
        continue
    fi
    venv="$top/.venv/$v"
    if ! ac_make_venv "$py" "$venv" "$v" $PKGS; then
        echo "!!!!!!!! FAILED to set up $venv (see pip's output above) !!!!!!!!" >&2
        status=1
        continue
    fi
    echo "$venv"
done
exit $status
