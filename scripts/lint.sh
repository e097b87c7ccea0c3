#!/usr/bin/env bash
# `make lint`: clang-format, cppcheck, shellcheck, the shell's size limits and clang-tidy over the suite's own files. Every
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

# Fills the caller's scripts with every shell script of the suite, tracked or new: by name
# (*.sh) or by its #! line (bin/lab, .ci/run), as shfmt recognises them.
shell_files()
{
    if ! command -v shfmt >/dev/null; then
        echo "error: shfmt is missing (scripts/install-deps.sh installs it)" >&2
        return 1
    fi
    mapfile -t scripts < <(git ls-files --cached --others --exclude-standard | grep -v node_modules |
        xargs -r shfmt -f)
    ((${#scripts[@]})) || { echo "error: no shell scripts found" >&2 && return 1; }
}

lint_shellcheck()
{
    local scripts=()
    shell_files || return 1
    shellcheck -x "${scripts[@]}"
}

# The C's function-size limit for the shell too (the rules: scripts/shell-size.mjs).
lint_shellsize()
{
    local scripts=()
    shell_files || return 1
    node scripts/shell-size.mjs "${scripts[@]}"
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

# main [STEP...]: the named steps (default: all of them).
main()
{
    local step steps=("$@") failed=()
    ((${#steps[@]})) || steps=(format cppcheck shellcheck shellsize tidy)
    for step in "${steps[@]}"; do
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
