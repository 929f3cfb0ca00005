"""Build of the C extension asyncio_c._core (metadata lives in pyproject.toml).

Environment knobs (all optional):
  ASYNCIO_C_WERROR=1   add -Werror (CI and the test command set it)
  ASYNCIO_C_DEBUG=1    -O0 -g3, asserts on (no -DNDEBUG), no handle freelists (so that
                       ASan and valgrind see every freed handle's memory)
  ASYNCIO_C_ASAN=1     AddressSanitizer + UBSan (implies ASYNCIO_C_DEBUG)
"""
import glob
import os

from setuptools import Extension, setup


def _flag(name):
    return os.environ.get(name, "") not in ("", "0")


extra_compile = ["-std=c11", "-Wall", "-Wextra", "-Wno-unused-parameter",
                 "-Wno-missing-field-initializers", "-fvisibility=hidden", "-pthread"]
extra_link = ["-pthread"]                 # src/process.c's reaper threads
undef = []
if _flag("ASYNCIO_C_WERROR"):
    extra_compile.append("-Werror")
if _flag("ASYNCIO_C_DEBUG") or _flag("ASYNCIO_C_ASAN"):
    extra_compile += ["-O0", "-g3", "-UNDEBUG", "-DAC_HANDLE_FREELIST_MAX=0",
                      "-DAC_FUTURE_FREELIST_MAX=0"]
    undef.append("NDEBUG")
else:
    extra_compile += ["-O2"]
if _flag("ASYNCIO_C_ASAN"):
    san = ["-fsanitize=address,undefined", "-fno-omit-frame-pointer"]
    extra_compile += san
    extra_link += san

setup(
    ext_modules=[
        Extension(
            "asyncio_c._core",
            sources=sorted(glob.glob("src/*.c")),
            depends=sorted(glob.glob("src/*.h")),
            include_dirs=["src"],
            extra_compile_args=extra_compile,
            extra_link_args=extra_link,
            undef_macros=undef,
        )
    ],
)
