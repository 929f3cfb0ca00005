# Front door to scripts/: every target is one script call, so the scripts work without make too.
# PY=3.X picks the interpreter of the single-interpreter targets (default 3.11; valgrind 3.12).

.PHONY: help main test debug refleak valgrind bench bench-echo instructions soak build venvs clean

help:
	@echo "make main       examples + side-by-side benchmarks (run, scaling, echo) on Python \$$PY (default 3.11)"
	@echo "make test       build with -Werror and run tests/ on 3.11, 3.12 and 3.13"
	@echo "make debug      run tests/ on an AddressSanitizer build (PY=...)"
	@echo "make refleak    run tests/ (not conformance) repeatedly on a debug interpreter (python3.11-dbg), fail on refcount/block/fd growth (ARGS=...)"
	@echo "make valgrind [TEST=tests/test_x.py]   run the core test files (or TEST) under valgrind (PY=..., default 3.12)"
	@echo "make bench      build, then bench/run.py on Python \$$PY"
	@echo "make bench-echo build, then the echo server benchmark bench/echo.py on Python \$$PY (ARGS=\"--quick\" ...)"
	@echo "make instructions  build, then bench/instructions.py (callgrind instructions per operation, ~4 min) on Python \$$PY (ARGS=...)"
	@echo "make soak       build, then bench/soak.py (echo server under 1,000 clients + 1M tasks in waves, ~4 min) on Python \$$PY (ARGS=\"--loop asyncio\" ...)"
	@echo "make build      build the extension in place for Python \$$PY"
	@echo "make venvs      create/update .venv/3.11 .venv/3.12 .venv/3.13"
	@echo "make clean      remove build/ and the in-place extension modules"
	@echo "(ARGS=\"...\" passes extra pytest arguments to test, debug and valgrind)"

main:
	@bash scripts/main.sh

test:
	@bash scripts/test.sh $(ARGS)

debug:
	@bash scripts/debug.sh $(ARGS)

refleak:
	@bash scripts/refleak.sh $(ARGS)

valgrind:
	@bash scripts/debug.sh --valgrind $(TEST) $(ARGS)

bench:
	@bash scripts/main.sh bench

bench-echo:
	@bash -c 'source scripts/lib.sh && v=$${PY:-3.11} && py=$$(ac_python $$v) && ac_build $$v && cd "$$AC_TOP" && "$$py" bench/echo.py $(ARGS)'

instructions:
	@bash -c 'source scripts/lib.sh && v=$${PY:-3.11} && py=$$(ac_python $$v) && ac_build $$v && cd "$$AC_TOP" && "$$py" bench/instructions.py $(ARGS)'

soak:
	@bash -c 'source scripts/lib.sh && v=$${PY:-3.11} && py=$$(ac_python $$v) && ac_build $$v && cd "$$AC_TOP" && "$$py" bench/soak.py $(ARGS)'

build:
	@bash -c 'source scripts/lib.sh && v=$${PY:-3.11} && ac_python $$v >/dev/null && ac_build $$v'

venvs:
	@bash scripts/venvs.sh

clean:
	rm -rf build asyncio_c/_core.*.so
