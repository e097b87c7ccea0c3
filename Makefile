# Entry points; the logic lives in scripts/ (scripts/lib.sh holds the cmake invocations).
LIB := . scripts/lib.sh &&
MAKEFLAGS += --no-print-directory

.PHONY: build up down test lint asan clean format fuzz
.DEFAULT_GOAL := build

build:
	@bash -c '$(LIB) ms_build "$$MS_BUILD_DIR"'

up:
	@bash scripts/up.sh

down:
	@bash scripts/down.sh

test:
	@bash scripts/test.sh

lint:
	@bash scripts/lint.sh

asan:
	@bash -c '$(LIB) ms_build_asan'

fuzz:
	@bash scripts/fuzz.sh

clean:
	rm -rf build build-asan

format:
	@bash -c '$(LIB) ms_c_files | (cd "$$MS_ROOT" && xargs -r clang-format -i)'
