# shellcheck shell=bash
# The start of every system test that runs a native stack of its own (scripts/up.sh on free
# ports): ROOT and BIN_DIR, scripts/lib.sh and scripts/stack.sh, fail, and a scratch directory T
# whose stack is stopped by PID when the test exits, whatever its status. Source it first, then
# call ms_test_scratch NAME. It sets no shell options.

ROOT="$(cd -P -- "${MS_SOURCE_DIR:-$(dirname -- "${BASH_SOURCE[0]}")/../../..}" && pwd -P)"
# shellcheck disable=SC2034 # read by the tests that source this
BIN_DIR="$(realpath -m -- "${MS_BINARY_DIR:-$ROOT/build}")"
# shellcheck source=scripts/lib.sh
. "$ROOT/scripts/lib.sh"
# shellcheck source=scripts/stack.sh
. "$ROOT/scripts/stack.sh"

fail()
{
    echo "FAIL: $*" >&2
    exit 1
}

# Makes T, /tmp/ms-NAME.XXXXXX, and stops what was started from it on exit (the test's status is
# kept: ms_stack_teardown prints the logs of a failed run).
ms_test_scratch()
{
    T="$(mktemp -d "/tmp/ms-$1.XXXXXX")"
    trap ms_test_cleanup EXIT
}

ms_test_cleanup()
{
    local rc=$?
    trap - EXIT
    ms_stack_teardown "$T" "$rc"
    exit "$rc"
}
