"""The pure-C layers under the event loop -- timer heap, ready queue, poller -- tested alone, in C.

Each ``tests/c/test_<layer>.c`` is compiled together with the one ``src/`` file it tests
(no Python involved), with the extension's warning flags plus ``-Werror``, under AddressSanitizer
+ UBSan (``-fno-sanitize-recover``, leak checking on) when the compiler and the machine support
them, and run: it must exit 0 and end with ``N passed, 0 failed``.  The C output (one line per
test function, and the million-timers ns/op figures) shows with ``pytest -s`` or on failure.

Run alone: ``python -m pytest tests/test_c_layers.py -q``.  ``CC`` picks the compiler (gcc).
"""
import os
import pathlib
import re
import shlex
import subprocess

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
SRC = ROOT / "src"
CDIR = ROOT / "tests" / "c"

# layer -> the src/ files it is made of
LAYERS = {
    "timerheap": ["timerheap.c"],
    "readyq": ["readyq.c"],
    "poller": ["poller_epoll.c"],
}
HEADERS = ["timerheap.h", "readyq.h", "poller.h"]

WARN = ["-std=c11", "-Wall", "-Wextra", "-Werror", "-Wno-unused-parameter"]
SANITIZE = ["-O1", "-g", "-fsanitize=address,undefined", "-fno-sanitize-recover=all",
            "-fno-omit-frame-pointer"]
PLAIN = ["-O1", "-g"]
RUN_TIMEOUT = 300


def _cc():
    return shlex.split(os.environ.get("CC") or "gcc")


def _child_env(asan_options):
    env = dict(os.environ)
    # scripts/debug.sh preloads libasan into the interpreter; the test programs link
    # their own runtime (or none) and get their own options.
    env.pop("LD_PRELOAD", None)
    env["ASAN_OPTIONS"] = asan_options
    env["UBSAN_OPTIONS"] = "print_stacktrace=1:halt_on_error=1"
    return env


@pytest.fixture(scope="module")
def build_mode(tmp_path_factory):
    """(compile flags, ASAN_OPTIONS, description): sanitizers if a probe program builds and
    runs with them (with leak checking if LeakSanitizer works here), else plain -O1 -g."""
    d = tmp_path_factory.mktemp("probe")
    probe = d / "probe.c"
    probe.write_text("#include <stdlib.h>\n"
                     "int main(void) { char *p = malloc(8); p[0] = 1; free(p); return 0; }\n")
    exe = d / "probe"
    res = subprocess.run([*_cc(), *WARN, *SANITIZE, str(probe), "-o", str(exe)],
                         capture_output=True, text=True)
    if res.returncode == 0:
        for opts, what in (("detect_leaks=1:abort_on_error=0", "ASan+UBSan+LSan"),
                           ("detect_leaks=0:abort_on_error=0", "ASan+UBSan, no leak check")):
            if subprocess.run([str(exe)], env=_child_env(opts),
                              capture_output=True).returncode == 0:
                return SANITIZE, opts, what
    return PLAIN, "", "no sanitizers (the compiler or the machine lacks them)"


@pytest.mark.parametrize("layer", sorted(LAYERS))
def test_c_layer(layer, build_mode, tmp_path):
    flags, asan_options, what = build_mode
    exe = tmp_path / f"test_{layer}"
    cmd = [*_cc(), *WARN, *flags, f"-I{SRC}", f"-I{CDIR}", str(CDIR / f"test_{layer}.c"),
           *(str(SRC / f) for f in LAYERS[layer]), "-o", str(exe)]
    res = subprocess.run(cmd, capture_output=True, text=True)
    assert res.returncode == 0, f"compiling failed:\n{shlex.join(cmd)}\n{res.stderr}"

    res = subprocess.run([str(exe)], env=_child_env(asan_options), capture_output=True,
                         text=True, timeout=RUN_TIMEOUT, cwd=tmp_path)
    print(f"[{layer}: {what}]\n{res.stdout}{res.stderr}")
    lines = res.stdout.strip().splitlines()
    assert res.returncode == 0, f"exit status {res.returncode}\n{res.stdout}\n{res.stderr}"
    assert lines and re.fullmatch(r"[1-9]\d* passed, 0 failed", lines[-1]), res.stdout
    assert "FAIL" not in res.stdout


def test_layers_are_pure_c_and_prefixed(tmp_path):
    """No Python in these layers, and every symbol they export is ac_-prefixed (they are linked
    into the extension next to CPython's own symbols)."""
    for name in HEADERS + [f for files in LAYERS.values() for f in files]:
        # code only: comments may well talk about Python
        text = re.sub(r"/\*.*?\*/|//[^\n]*", "", (SRC / name).read_text(), flags=re.S)
        assert "Python.h" not in text, name
        assert not re.search(r"\bPy[A-Z_]\w*", text), f"{name} uses the Python C API"
    for files in LAYERS.values():
        for f in files:
            obj = tmp_path / (f + ".o")
            cmd = [*_cc(), *WARN, "-O2", "-fvisibility=hidden", f"-I{SRC}", "-c",
                   str(SRC / f), "-o", str(obj)]
            res = subprocess.run(cmd, capture_output=True, text=True)
            assert res.returncode == 0, f"{shlex.join(cmd)}\n{res.stderr}"
            res = subprocess.run(["nm", "-g", "--defined-only", str(obj)],
                                 capture_output=True, text=True, check=True)
            names = [ln.split()[-1] for ln in res.stdout.splitlines() if ln.strip()]
            assert names, f"{f} exports nothing?"
            bad = [n for n in names if not n.startswith("ac_")]
            assert not bad, f"{f} exports symbols without the ac_ prefix: {bad}"
