#!/usr/bin/env bash
# The names the common library shows the linker. Each global one it defines starts with ms_
# (public: common/include/ms/) or msi_ (internal: shared by files of common/src through a
# private header; docs/style.md, Names), and every ms_/msi_ name it uses it defines itself, so
# common/ links without anything a service defines (such as its migrations table).
#   check.sh LIB.a...                       fails naming each violation
#   check.sh --planted NAME... -- LIB.a...  passes only if the check fails on LIB.a... naming
#                                           every NAME: proof that it catches them
set -euo pipefail

# Prints one line per violation in the archives, taken as one library.
violations()
{
    local defined used
    defined=$(nm -g --defined-only "$@" | awk 'NF == 3 { print $3 }' | sort -u)
    used=$(nm -u "$@" | awk '$1 == "U" { print $2 }' | sort -u)
    # A leading __ is the compiler's (sanitizer instrumentation), never ours (docs/style.md).
    grep -vE '^(ms_|msi_|__)' <<<"$defined" | sed 's/^/exported without ms_ or msi_: /' || true
    comm -23 <(grep -E '^msi?_' <<<"$used" || true) <(printf '%s\n' "$defined") |
        sed 's/^/used but not defined by the library: /'
}

check()
{
    local found
    found=$(violations "$@")
    if [[ -n $found ]]; then
        printf '%s\n' "$found" >&2
        return 1
    fi
    echo "common exports: $(nm -g --defined-only "$@" | awk 'NF == 3' | wc -l) global names, all ms_ or msi_"
}

planted()
{
    local want=() found name
    while [[ $# -gt 0 && $1 != -- ]]; do
        want+=("$1")
        shift
    done
    shift
    if found=$(check "$@" 2>&1); then
        echo "the check passed a library with planted violations (${want[*]})" >&2
        return 1
    fi
    for name in "${want[@]}"; do
        if ! grep -qw -- "$name" <<<"$found"; then
            printf 'the check did not name %s; it said:\n%s\n' "$name" "$found" >&2
            return 1
        fi
    done
    echo "planted violations caught: ${want[*]}"
}

if [[ ${1:-} == --planted ]]; then
    planted "${@:2}"
else
    check "$@"
fi
