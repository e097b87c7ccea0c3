#!/usr/bin/env bash
# `make fuzz`: builds every libFuzzer target (tests/fuzz/fuzz_<name>.c) with clang and
# -fsanitize=fuzzer,address,undefined, runs each for FUZZ_SECONDS on a copy of its seed corpus
# (tests/fuzz/corpus/<name>/), and prints per target the executions, exec/s and coverage
# (libFuzzer's final cov: and ft:). Exits non-zero when any target crashed, leaked, timed out or
# failed an invariant; the input that did it is kept in build-fuzz/artifacts/<name>/.
#
#   scripts/fuzz.sh [--build-only] [--merge] [NAME...]   NAMEs: only these targets (e.g. router)
#   --build-only     build the targets, run nothing
#   --merge          afterwards, add to each seed corpus the inputs of the run that reach new
#                    code (libFuzzer -merge=1 on edges alone, -use_counters=0, which keeps the
#                    corpora small); review them before committing
#   FUZZ_SECONDS     per target, default 60
#   FUZZ_JOBS        targets fuzzed at once, default 1 (each takes a core)
#   FUZZ_TARGETS     names, as the NAME arguments (for make: make fuzz FUZZ_TARGETS="query router")
#   FUZZ_BUILD_DIR   default build-fuzz/ in the repository
#
# The build directory holds obj/ and libms_common.a (common/ built with coverage
# instrumentation), bin/fuzz_<name>, corpus/<name>/ (the working copy a run grows; rebuilt from
# the seeds every run), artifacts/<name>/ (crash-*, leak-*, timeout-*, oom-* inputs) and
# logs/<name>.log (libFuzzer's output). Replay a finding with
#   build-fuzz/bin/fuzz_<name> build-fuzz/artifacts/<name>/crash-<sha1>
# Without libFuzzer, `make test` replays every seed corpus as the ctest tests fuzz/<name>.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname -- "${BASH_SOURCE[0]}")/lib.sh"
cd "$MS_ROOT"

FUZZ_SECONDS="${FUZZ_SECONDS:-60}"
FUZZ_JOBS="${FUZZ_JOBS:-1}"
FUZZ_DIR="$(ms_abspath "${FUZZ_BUILD_DIR:-$MS_ROOT/build-fuzz}")"
FUZZ_SRC=tests/fuzz
PKGS=(libmicrohttpd jansson hiredis libpq libcurl)
# The suite's warnings (CMakeLists.txt) plus the sanitizers; common/ gets the coverage
# instrumentation without libFuzzer's main, the targets get both. clang's -Wformat=2 also flags
# the vsnprintf calls in common/'s static va_list helpers, which gcc accepts: not for this build.
CFLAGS=(-std=c17 -D_GNU_SOURCE -g -O1 -fno-omit-frame-pointer
    '-fsanitize=address,undefined' -fno-sanitize-recover=undefined
    -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wformat=2
    -Wno-format-nonliteral -I "$MS_ROOT/common/include")

BUILD_ONLY=0
MERGE=0
TARGETS=()

usage()
{
    sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//' >&2
    exit 2
}

parse_args()
{
    local arg names=()
    read -ra names <<<"${FUZZ_TARGETS:-}"
    for arg in "${names[@]}" "$@"; do
        case $arg in
            --build-only) BUILD_ONLY=1 ;;
            --merge) MERGE=1 ;;
            -h | --help) usage ;;
            -*) usage ;;
            *)
                [[ -f $FUZZ_SRC/fuzz_$arg.c ]] || ms_die "no fuzz target $FUZZ_SRC/fuzz_$arg.c"
                TARGETS+=("$arg")
                ;;
        esac
    done
    if ((${#TARGETS[@]} == 0)); then
        local src
        for src in "$FUZZ_SRC"/fuzz_*.c; do
            src="${src##*/fuzz_}"
            TARGETS+=("${src%.c}")
        done
    fi
    [[ $FUZZ_SECONDS =~ ^[1-9][0-9]*$ ]] || ms_die "FUZZ_SECONDS='$FUZZ_SECONDS' is not a positive integer"
    [[ $FUZZ_JOBS =~ ^[1-9][0-9]*$ ]] || ms_die "FUZZ_JOBS='$FUZZ_JOBS' is not a positive integer"
}

# Writes the compile flags to a response file (clang @file), so xargs can pass them whole.
write_flags()
{
    local text pkg_cflags pkg_libs
    command -v clang >/dev/null || ms_die "clang not found (make up installs it)"
    text="$(pkg-config --cflags "${PKGS[@]}")" || ms_die "pkg-config --cflags ${PKGS[*]} failed"
    read -ra pkg_cflags <<<"$text"
    text="$(pkg-config --libs "${PKGS[@]}")" || ms_die "pkg-config --libs ${PKGS[*]} failed"
    read -ra pkg_libs <<<"$text"
    mkdir -p "$FUZZ_DIR/obj" "$FUZZ_DIR/bin" "$FUZZ_DIR/logs"
    printf '%s\n' "${CFLAGS[@]}" -fsanitize=fuzzer-no-link "${pkg_cflags[@]}" >"$FUZZ_DIR/common.rsp"
    printf '%s\n' "${CFLAGS[@]}" -fsanitize=fuzzer "${pkg_cflags[@]}" >"$FUZZ_DIR/target.rsp"
    printf '%s\n' "${pkg_libs[@]}" -lpthread -lm >"$FUZZ_DIR/libs.rsp"
}

build()
{
    local jobs
    jobs="$(nproc)"
    write_flags
    ms_section "fuzz: build ($FUZZ_DIR)"
    rm -f "$FUZZ_DIR"/obj/*.o "$FUZZ_DIR/libms_common.a"
    # The library as CMake makes it (a static archive), so a target that includes a common/ source
    # (server.c, for its static helpers) takes that file's place instead of clashing with it.
    # shellcheck disable=SC2016 # the sh -c scripts expand their own arguments
    printf '%s\n' common/src/*.c | xargs -P "$jobs" -I{} sh -c \
        'clang @"$1" -c "$2" -o "$3/$(basename "$2" .c).o"' sh "$FUZZ_DIR/common.rsp" {} "$FUZZ_DIR/obj"
    ar rcs "$FUZZ_DIR/libms_common.a" "$FUZZ_DIR"/obj/*.o
    # shellcheck disable=SC2016
    printf '%s\n' "${TARGETS[@]}" | xargs -P "$jobs" -I{} sh -c \
        'clang @"$1" "$2/fuzz_$4.c" "$3/libms_common.a" @"$3/libs.rsp" -o "$3/bin/fuzz_$4" &&
            echo "built fuzz_$4"' sh "$FUZZ_DIR/target.rsp" "$FUZZ_SRC" "$FUZZ_DIR" {}
}

# Fuzzes target $1 on a fresh copy of its seeds; its exit status goes to logs/$1.rc.
run_one()
{
    local name="$1" work="$FUZZ_DIR/corpus/$1" art="$FUZZ_DIR/artifacts/$1" rc=0
    rm -rf "$work" "$art"
    mkdir -p "$work" "$art"
    cp -R "$FUZZ_SRC/corpus/$name/." "$work/"
    "$FUZZ_DIR/bin/fuzz_$name" -max_total_time="$FUZZ_SECONDS" -print_final_stats=1 -timeout=10 \
        -artifact_prefix="$art/" "$work" >"$FUZZ_DIR/logs/$name.log" 2>&1 || rc=$?
    echo "$rc" >"$FUZZ_DIR/logs/$name.rc"
    echo "fuzz_$name: done (exit $rc)"
}

run_all()
{
    local name
    ms_section "fuzz: ${#TARGETS[@]} targets, ${FUZZ_SECONDS}s each, $FUZZ_JOBS at a time"
    for name in "${TARGETS[@]}"; do
        [[ -d $FUZZ_SRC/corpus/$name ]] || ms_die "no seed corpus $FUZZ_SRC/corpus/$name"
        rm -f "$FUZZ_DIR/logs/$name.rc"
        while (($(jobs -rp | wc -l) >= FUZZ_JOBS)); do
            sleep 1
        done
        run_one "$name" &
    done
    wait
}

# The value after "$2" on the last line of log $1 that has it ("cov: 512" -> 512), or "-".
last_field()
{
    local v
    v="$(grep -oE "$2 *[0-9]+" "$1" | tail -n 1 | grep -oE '[0-9]+$')" || true
    echo "${v:--}"
}

report()
{
    local name log rc failed=() result
    ms_section "fuzz: results"
    printf '%-22s %12s %8s %6s %7s %7s %6s  %s\n' target executions exec/s cov ft corpus new result
    for name in "${TARGETS[@]}"; do
        log="$FUZZ_DIR/logs/$name.log"
        rc="$(cat "$FUZZ_DIR/logs/$name.rc" 2>/dev/null || echo missing)"
        result=ok
        if [[ $rc != 0 ]]; then
            result="FAILED (exit $rc)"
            failed+=("$name")
        fi
        printf '%-22s %12s %8s %6s %7s %7s %6s  %s\n' "$name" \
            "$(last_field "$log" 'stat::number_of_executed_units:')" \
            "$(last_field "$log" 'stat::average_exec_per_sec:')" \
            "$(last_field "$log" 'cov:')" "$(last_field "$log" 'ft:')" \
            "$(last_field "$log" 'corp:')" "$(last_field "$log" 'stat::new_units_added:')" "$result"
    done
    for name in "${failed[@]}"; do
        echo
        echo "---- fuzz_$name failed; last lines of $FUZZ_DIR/logs/$name.log:" >&2
        tail -n 40 "$FUZZ_DIR/logs/$name.log" >&2
        echo "---- inputs kept in $FUZZ_DIR/artifacts/$name/:" >&2
        ls -l "$FUZZ_DIR/artifacts/$name/" >&2
        echo "---- reproduce: $FUZZ_DIR/bin/fuzz_$name $FUZZ_DIR/artifacts/$name/<file>" >&2
    done
    ((${#failed[@]} == 0))
}

# Adds to each seed corpus the run's inputs that reach edges the seeds do not (hit counts
# ignored: they would add hundreds of near-duplicates).
merge()
{
    local name before after
    ms_section "fuzz: merge into $FUZZ_SRC/corpus/"
    for name in "${TARGETS[@]}"; do
        before="$(find "$FUZZ_SRC/corpus/$name" -type f | wc -l)"
        "$FUZZ_DIR/bin/fuzz_$name" -merge=1 -use_counters=0 "$FUZZ_SRC/corpus/$name" \
            "$FUZZ_DIR/corpus/$name" \
            >"$FUZZ_DIR/logs/$name.merge.log" 2>&1
        after="$(find "$FUZZ_SRC/corpus/$name" -type f | wc -l)"
        echo "$name: $before -> $after seed files"
    done
}

main()
{
    local status=0
    parse_args "$@"
    build
    ((BUILD_ONLY)) && return 0
    run_all
    report || status=1
    if ((MERGE && status == 0)); then
        merge
    fi
    return "$status"
}

main "$@"
