# Shared helpers of scripts/main.sh, test.sh and debug.sh (sourced, not run).
# Knobs read here: ASYNCIO_C_STANDIN=1 (a failed build falls back to asyncio's own C
# Future/Task, loudly), ASYNCIO_C_WERROR / ASYNCIO_C_DEBUG / ASYNCIO_C_ASAN (passed to setup.py).

AC_TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

ac_loud() {  # ac_loud MESSAGE...: a line nobody scrolls past, on stderr
    echo "!!!!!!!! $* !!!!!!!!" >&2
}

ac_header() {  # ac_header TITLE
    printf '\n==================== %s ====================\n' "$*"
}

ac_python() {  # ac_python X.Y: prints the venv interpreter, creating the venv if needed
    local venv
    venv=$(ASYNCIO_C_PYTHONS=$1 bash "$AC_TOP/scripts/venvs.sh")
    if [ $? != 0 ] || [ -z "$venv" ]; then
        ac_loud "Python $1: no venv (interpreter missing or set-up failed, see above)"
        return 1
    fi
    echo "$venv/bin/python"
}

# ac_make_venv PYTHON VENV X.Y PKG...: creates VENV from PYTHON with the packages, once: a stamp
# (.ready) records interpreter and package list, and a change reinstalls.  Then a .pth file puts
# this checkout on the venv's sys.path: like an editable install, minus the build, so
# `python examples/NAME.py` and a bare `pytest` find the package.  Fails (1) if venv or pip
# failed (their output is on stderr).  Callers hold the .venv/.lock.
ac_make_venv() {
    local py=$1 venv=$2 v=$3
    shift 3
    local want="$py | $*"
    if [ ! -x "$venv/bin/python" ] || [ "$(cat "$venv/.ready" 2>/dev/null)" != "$want" ]; then
        echo "setting up $venv from $py" >&2
        rm -f "$venv/.ready"
        { "$py" -m venv "$venv" >&2 &&
          "$venv/bin/python" -m pip install -q --disable-pip-version-check -U "$@" >&2; } ||
            return 1
        echo "$want" >"$venv/.ready"
    fi
    echo "$AC_TOP" >"$venv/lib/python$v/site-packages/asyncio_c_checkout.pth"
}

ac_standin() {
    [ -n "${ASYNCIO_C_STANDIN:-}" ] && [ "${ASYNCIO_C_STANDIN}" != 0 ]
}

# ac_setup_py X.Y ARGS...: runs setup.py with the venv's interpreter, one build per
# version at a time (other engineers may build the same tree concurrently).
ac_setup_py() {
    local v=$1
    shift
    if ! compgen -G "$AC_TOP/src/*.c" >/dev/null; then
        ac_loud "no C sources in src/: nothing to build"
        return 1
    fi
    mkdir -p "$AC_TOP/build"
    (cd "$AC_TOP" && flock "build/.lock-$v" "$AC_TOP/.venv/$v/bin/python" setup.py -q "$@")
}

# ac_build X.Y: builds asyncio_c._core in place (asyncio_c/_core.cpython-3XY-*.so), always
# recompiling (--force), so the ASYNCIO_C_* flags of this run are the ones that count, with
# object files in build/temp-X.Y so that versions never share them.
ac_build() {
    local v=$1 py="$AC_TOP/.venv/$1/bin/python" so
    if ac_setup_py "$v" build_ext --inplace --force --build-temp "build/temp-$v"; then
        return 0
    fi
    if ac_standin; then
        so=$("$py" -c 'import sysconfig; print("asyncio_c/_core" + sysconfig.get_config_var("EXT_SUFFIX"))')
        rm -f "$AC_TOP/$so"   # a stale build would be imported instead of the stand-in
        ac_loud "Python $v: the extension did not build; ASYNCIO_C_STANDIN is set, so asyncio's own C Future/Task STAND IN for it"
        return 0
    fi
    ac_loud "Python $v: BUILDING THE EXTENSION FAILED (set ASYNCIO_C_STANDIN=1 to run against the stand-in)"
    return 1
}

# ac_build_tree X.Y FLAVOR: builds the whole package out of tree into build/FLAVOR-X.Y/lib
# (for sanitizer/valgrind builds, which must not replace the in-place .so others are using)
# and prints that directory.  Put it first with PYTHONPATH and run python with -P.
ac_build_tree() {
    local v=$1 dest="build/$2-$1"
    rm -rf "$AC_TOP/$dest/lib"
    ac_setup_py "$v" build_py -d "$dest/lib" build_ext -b "$dest/lib" -t "$dest/temp" --force >&2 ||
        return 1
    echo "$AC_TOP/$dest/lib"
}

# ac_impl PYTHON: says what `import asyncio_c` gives with the current environment;
# fails (status 1) if it does not import at all.
ac_impl() {
    local out
    if out=$("$1" -c '
import asyncio_c
f = getattr(asyncio_c._core, "__file__", None)
print("real: " + f if f else "STAND-IN (asyncio own C Future/Task)")' 2>&1); then
        echo "$out"
        return 0
    fi
    echo "import asyncio_c FAILED: $(tail -n 1 <<<"$out")"
    return 1
}
