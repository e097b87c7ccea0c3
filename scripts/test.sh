#!/usr/bin/env bash
# `make test` and CI: dependencies, lint, the build and every ctest suite, then the same suites
# built with ASan+UBSan, and the unit and integration suites built with TSan. Each section runs even when an earlier one failed (a failed build skips
# its own tests); the exit status is non-zero when any section failed.
# MS_TEST_SKIP_ASAN=1 skips the sanitizer sections, for quick local runs only; CI never sets it.
# The deploy checks (tests/deploy) and the system tests (tests/system: the whole native stack under
# load, chaos, browsers and labs) run in the first pass only: they test files, containers and
# processes working together, and the sanitizer pass re-runs every test of the C code itself.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname -- "${BASH_SOURCE[0]}")/lib.sh"
cd "$MS_ROOT"

# Integration suites start their own PostgreSQL and Redis on free ports, so two at once is safe;
# the machine has two cores.
CTEST_JOBS="${MS_CTEST_JOBS:-2}"
FAILED=()
PHASES=()
RAN=() # the build directories whose suites ran in this invocation

# run_ctest BUILD_DIR [CTEST_ARGS...]
run_ctest()
{
    local dir="$1"
    shift
    RAN+=("$dir")
    ctest --test-dir "$dir" --output-on-failure --no-tests=error -j "$CTEST_JOBS" "$@"
}

# section NAME COMMAND...: runs COMMAND under a header, records its time and any failure.
section()
{
    local name="$1" start=$SECONDS rc=0
    shift
    ms_section "$name"
    "$@" || rc=$?
    PHASES+=("$(printf '%5ds  %s' $((SECONDS - start)) "$name")")
    if ((rc == 0)); then
        echo "---- $name: ok"
        return 0
    fi
    echo "---- $name: FAILED" >&2
    FAILED+=("$name")
    return 1
}

# The fast inner loop (`make check`): lint, build, and the unit, integration and fuzz-replay
# suites; no sanitizer pass, no whole-stack checks. `make test` is the whole suite.
check()
{
    section "lint" bash scripts/lint.sh || true
    if section "build ($MS_BUILD_DIR)" ms_build "$MS_BUILD_DIR"; then
        section "unit, integration and fuzz-replay tests" \
            run_ctest "$MS_BUILD_DIR" -L 'unit|integration|fuzz' || true
    fi
}

# failure_digest BUILD_DIR: for each test that failed in BUILD_DIR's last ctest run, the lines of
# its output that say why (a FAIL line and the 6 after it, at most 30 lines a test). The summary
# ends the log, so a reader who sees only its head and its tail still learns what broke.
failure_digest()
{
    local log="$1/Testing/Temporary/LastTest.log" failed="$1/Testing/Temporary/LastTestsFailed.log"
    [[ -s $failed && -f $log ]] || return 0
    awk -v list="$failed" '
        BEGIN { while ((getline line < list) > 0) { sub(/^[0-9]+:/, "", line); bad[line] = 1 } }
        /^[0-9]+\/[0-9]+ Testing: / { name = $3; inside = 0; shown = 0; after = 0; next }
        /^Output:$/ { inside = name in bad; if (inside) print "---- why " name " failed:"; next }
        /^<end of output>$/ { inside = 0; next }
        !inside || shown >= 30 { next }
        /FAIL|not ok|\*\*\*Failed|Assertion|error:/ { after = 7 }
        after > 0 { print "  " $0; after--; shown++ }
    ' "$log"
}

# Prints each phase's time and the verdict; fails when any section failed.
summary()
{
    local dir
    for dir in "${RAN[@]}"; do failure_digest "$dir"; done
    ms_section "summary"
    printf '%s\n' "${PHASES[@]}"
    printf '%5ds  total\n' "$SECONDS"
    if ((${#FAILED[@]})); then
        printf 'FAILED: %s\n' "${FAILED[@]}" >&2
        return 1
    fi
    echo "all sections ok"
}

main()
{
    section "dependencies" bash scripts/install-deps.sh || return 1
    if [[ ${1:-} == --check ]]; then
        check
        summary
        return
    fi
    section "lint" bash scripts/lint.sh || true

    if section "build ($MS_BUILD_DIR)" ms_build "$MS_BUILD_DIR"; then
        section "tests" run_ctest "$MS_BUILD_DIR" || true
    fi

    if [[ ${MS_TEST_SKIP_ASAN:-0} == 1 ]]; then
        ms_section "sanitizers"
        echo "################################################################" >&2
        echo "# WARNING: MS_TEST_SKIP_ASAN=1: the ASan+UBSan run was SKIPPED. #" >&2
        echo "# This is not a full test run; CI always runs it.              #" >&2
        echo "################################################################" >&2
    else
        ms_export_sanitizer_options
        if section "sanitizer build ($MS_ASAN_BUILD_DIR)" ms_build_asan; then
            # the deploy and system checks test files, containers and whole stacks: once is enough
            section "tests under ASan+UBSan" run_ctest "$MS_ASAN_BUILD_DIR" -LE 'deploy|system' || true
        fi
        # the suites whose code runs threads (the services' worker pools, the tests' clients);
        # the planted race (tests/tsan) shows the pass reports and halts
        if section "ThreadSanitizer build ($MS_TSAN_BUILD_DIR)" ms_build_tsan; then
            section "tests under TSan" run_ctest "$MS_TSAN_BUILD_DIR" -L 'unit|integration' || true
        fi
    fi

    summary
}

main "$@"
