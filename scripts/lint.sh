#!/usr/bin/env bash
# `make lint`: clang-format, cppcheck, shellcheck and clang-tidy over the suite's own files. Every
# step runs; the exit status is non-zero when any failed, and the failed steps are named at the end.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname -- "${BASH_SOURCE[0]}")/lib.sh"
cd "$MS_ROOT"

C_FILES=()   # sources and headers in common/ services/ tests/
C_SOURCES=() # the .c files among them
TIDY_SOURCES=()
mapfile -t C_FILES < <(ms_c_files common services tests tools bench)
mapfile -t C_SOURCES < <(printf '%s\n' "${C_FILES[@]}" | grep '\.c$' || true)
# Tests are long Check suites: clang-tidy's function-size limits are for common/ and services/.
mapfile -t TIDY_SOURCES < <(printf '%s\n' "${C_SOURCES[@]}" | grep -E '^(common|services|tools|bench)/' || true)

lint_format()
{
    ((${#C_FILES[@]})) || return 0
    clang-format --dry-run --Werror "${C_FILES[@]}"
}

lint_cppcheck()
{
    ((${#C_SOURCES[@]})) || return 0
    cppcheck --enable=warning,performance,portability --error-exitcode=1 --inline-suppr -q \
        --suppress=missingIncludeSystem -I common/include -I tests/support -j "$(nproc)" \
        "${C_SOURCES[@]}"
}

lint_shellcheck()
{
    # every shell script of the suite: scripts/, the lab and chaos scripts, the deploy checks
    local scripts=()
    mapfile -t scripts < <(git ls-files --cached --others --exclude-standard '*.sh' | grep -v node_modules)
    [[ -f .ci/run ]] && scripts+=(.ci/run)
    shellcheck -x "${scripts[@]}"
}

lint_tidy()
{
    ((${#TIDY_SOURCES[@]})) || return 0
    # compile_commands.json must list every current file, so configure first (cheap when clean).
    # Functions called from `if` run without errexit: check each step.
    if ! ms_configure "$MS_BUILD_DIR" >/dev/null; then
        echo "error: cmake configure of $MS_BUILD_DIR failed; clang-tidy needs its database" >&2
        return 1
    fi
    # One file per process: clang-tidy 14 given several files reports false
    # clang-analyzer-valist.Uninitialized on every vsnprintf after the first file.
    # "N warnings generated." counts warnings in system headers that clang-tidy then drops.
    printf '%s\0' "${TIDY_SOURCES[@]}" |
        xargs -0 -n 1 -P "$(nproc)" clang-tidy -p "$MS_BUILD_DIR" --quiet \
            --warnings-as-errors='*' --extra-arg=-Wno-unknown-warning-option \
            2> >(grep -vE '^[0-9]+ warnings? generated\.$' >&2)
}

main()
{
    local step failed=()
    for step in format cppcheck shellcheck tidy; do
        ms_section "lint: $step"
        if "lint_$step"; then
            echo "lint: $step ok"
        else
            echo "lint: $step FAILED" >&2
            failed+=("$step")
        fi
    done
    echo
    if ((${#failed[@]})); then
        echo "lint FAILED in: ${failed[*]}" >&2
        return 1
    fi
    echo "lint: all steps ok"
}

main "$@"
