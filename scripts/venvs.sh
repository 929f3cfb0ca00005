#!/usr/bin/env bash
# Creates (once) one virtual environment per supported interpreter under .venv/<X.Y>
# and installs the test and benchmark tools into it.  Prints the venv dirs it made ready.
# A supported interpreter that cannot be found is reported loudly on stderr.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
SUPPORTED=${ASYNCIO_C_PYTHONS:-"3.11 3.12 3.13"}
PKGS="pip setuptools wheel pytest pytest-asyncio hypothesis uvloop pyperf"

find_python() {
    local v=$1 cand root
    root=$(pyenv root 2>/dev/null || echo "$HOME/.pyenv")
    for cand in "$root"/versions/"$v".*/bin/python"$v"; do
        [ -x "$cand" ] && { echo "$cand"; return 0; }
    done
    cand=$(command -v "python$v" 2>/dev/null) && { echo "$cand"; return 0; }
    return 1
}

missing=0
for v in $SUPPORTED; do
    if ! py=$(find_python "$v"); then
        echo "!!!!!!!! MISSING SUPPORTED INTERPRETER: Python $v was not found (pyenv or PATH) !!!!!!!!" >&2
        missing=1
        continue
    fi
    venv="$top/.venv/$v"
    if [ ! -x "$venv/bin/python" ] || [ ! -f "$venv/.ready" ] || [ "$venv/.ready" -ot "$0" ]; then
        echo "setting up $venv from $py" >&2
        "$py" -m venv "$venv"
        "$venv/bin/python" -m pip install -q --disable-pip-version-check -U $PKGS >&2
        touch "$venv/.ready"
    fi
    echo "$venv"
done
exit 0
