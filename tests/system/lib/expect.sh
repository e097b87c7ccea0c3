# shellcheck shell=bash
# What the command-line tool tests share (tests/system/lab-tool.test.sh,
# tests/deploy/doctor.test.sh): a verdict on one command's exit status and output. Source it
# with T set to the test's scratch directory; it sets no shell options.

fail()
{
    echo "FAIL: $*" >&2
    exit 1
}

# expect RC PATTERN COMMAND...: COMMAND exits RC and prints a line matching PATTERN (grep -E);
# its output stays in $T/out for further checks.
expect()
{
    local want="$1" pattern="$2" rc=0
    shift 2
    "$@" >"$T/out" 2>&1 || rc=$?
    if [[ $rc != "$want" ]] || ! grep -qE -- "$pattern" "$T/out"; then
        cat "$T/out" >&2
        fail "\`$*\` exited $rc (want $want) or printed no line matching: $pattern"
    fi
}
