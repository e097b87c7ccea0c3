# Entry points; the logic lives in scripts/ (scripts/lib.sh holds the cmake invocations).
LIB := . scripts/lib.sh &&
MAKEFLAGS += --no-print-directory

.PHONY: build up down test lint asan clean format fuzz load bench chaos
.DEFAULT_GOAL := build

build:
	@bash -c '$(LIB) ms_build "$$MS_BUILD_DIR"'

up:
	@bash scripts/up.sh

down:
	@bash scripts/down.sh

# The local chaos experiments on a stack of their own (chaos/README.md); CHAOS_ARGS=--short for
# the CI-sized run, CHAOS_ARGS=--use-running against `make up`'s stack.
chaos:
	@bash chaos/local/run.sh $(CHAOS_ARGS)

test:
	@bash scripts/test.sh

lint:
	@bash scripts/lint.sh

asan:
	@bash -c '$(LIB) ms_build_asan'

fuzz:
	@bash scripts/fuzz.sh

# A wrk scenario against the running shop (make up): LOAD_SCENARIO, LOAD_CONNECTIONS, LOAD_RATE,
# LOAD_DURATION, LOAD_TARGET, ... (see load-test/run.sh).
load:
	@bash load-test/run.sh

# The benchmark table: its own stack on free ports, ceilings, endpoints, RSS, time to ready; then
# checkouts with 1 % of the stores' answers lost (bench/lost-answers.sh, BENCH_NO_BUILD=1 there).
bench:
	@bash bench/run.sh && BENCH_NO_BUILD=1 bash bench/lost-answers.sh

clean:
	rm -rf build build-asan

format:
	@bash -c '$(LIB) ms_c_files | (cd "$$MS_ROOT" && xargs -r clang-format -i)'
