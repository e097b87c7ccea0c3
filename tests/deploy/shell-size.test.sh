#!/usr/bin/env bash
# The shell's size limits (scripts/shell-size.mjs, the `shellsize` step of `make lint`):
#   - every shell script of this tree is within them; `scripts/lint.sh shellsize` fails on a
#     checkout with a long function in a script known only by its #! line;
#   - planted scripts: a 40-line body passes and a 41-line one fails, counted as clang-tidy counts
#     a C body; a brace in a here-document or a string does not end a function; a nested
#     function is held to the limit; 41 lines of top-level code fail, literal data does not
#     count, a test's sections count one by one; no file is exempt (a long function in
#     scripts/lib.sh fails like any other); a file shfmt cannot parse fails.
set -euo pipefail

ROOT="$(cd -P -- "${MS_SOURCE_DIR:-$(dirname -- "${BASH_SOURCE[0]}")/../..}" && pwd -P)"
# shellcheck source=scripts/lib.sh
. "$ROOT/scripts/lib.sh"
T="$(mktemp -d /tmp/ms-shell-size.XXXXXX)"
trap 'rm -rf "$T"' EXIT
# shellcheck source=tests/system/lib/expect.sh
. "$ROOT/tests/system/lib/expect.sh"
CHECK=(node "$ROOT/scripts/shell-size.mjs")

# lines N [TEXT]: N lines of one command each.
lines()
{
    local i
    for ((i = 1; i <= $1; i++)); do
        echo "    ${2:-echo} $i"
    done
}

# function_of NAME N: a function whose body is N lines, braces on lines of their own.
function_of()
{
    printf '%s()\n{\n' "$1"
    lines "$(($2 - 1))"
    printf '}\n'
}

ms_section "this tree, and make lint on a planted one"
expect 0 '^shell-size: [0-9]+ files' bash "$ROOT/scripts/lint.sh" shellsize
echo "ok: every shell function and script body of the tree is within 40 lines"
# A checkout of the lint scripts with a new script that has no .sh name, only its #! line.
git init -q "$T/tree"
mkdir -p "$T/tree/scripts" "$T/tree/bin"
cp "$ROOT/scripts/lint.sh" "$ROOT/scripts/lib.sh" "$ROOT/scripts/services.gen.sh" "$ROOT/scripts/shell-size.mjs" "$T/tree/scripts/"
{
    printf '#!/usr/bin/env bash\n'
    function_of tool_main 41
} >"$T/tree/bin/tool"
expect 1 '^bin/tool:2: function tool_main is 41 lines' bash "$T/tree/scripts/lint.sh" shellsize
echo "ok: make lint's shellsize step finds a script by its #! line and fails on it"

ms_section "planted: functions"
cd "$T"
function_of at_limit 40 >at.sh
expect 0 '^shell-size: 1 files' "${CHECK[@]}" at.sh
function_of too_long 41 >long.sh
expect 1 '^long\.sh:1: function too_long is 41 lines \(limit 40\)' "${CHECK[@]}" long.sh
echo "ok: 40 lines from brace to brace pass, 41 fail"
{
    printf 'hidden()\n{\n    cat <<EOF\n}\nEOF\n    echo "}"\n'
    lines 40
    printf '}\none() { :; }\n'
} >heredoc.sh
expect 1 '^heredoc\.sh:1: function hidden is 45 lines' "${CHECK[@]}" heredoc.sh
grep -q 'function one' "$T/out" && fail "a one-line function was flagged: $(cat "$T/out")"
echo "ok: a brace in a here-document or a string does not end a function"
{
    printf 'outer()\n{\n'
    function_of inner 41
    printf '}\n'
} >nested.sh
expect 1 '^nested\.sh:3: function inner is 41 lines' "${CHECK[@]}" nested.sh
grep -q 'function outer is 44' "$T/out" || fail "the outer function was not flagged: $(cat "$T/out")"
echo "ok: a nested function and the one holding it are both held to the limit"

ms_section "planted: top-level code"
lines 41 >top.sh
expect 1 '^top\.sh:1: top-level code is 41 lines' "${CHECK[@]}" top.sh
{
    printf 'DATA=(\n'
    lines 60 a
    printf ')\nX=1\nY="literal"\n'
    lines 40
} >data.sh
expect 0 '^shell-size' "${CHECK[@]}" data.sh
# shellcheck disable=SC2016 # a command substitution written into the planted script
printf 'Z="$(date)"\n' >>data.sh
expect 1 '^data\.sh:1: top-level code is 41 lines' "${CHECK[@]}" data.sh
echo "ok: top-level code over 40 lines fails; literal data does not count, a command substitution does"
{
    printf 'ms_section one\n'
    lines 39
    printf 'ms_section two\n'
    lines 39
} >sections.sh
expect 0 '^shell-size' "${CHECK[@]}" sections.sh
echo echo >>sections.sh
expect 1 '^sections\.sh:41: top-level code of the section here is 41 lines' "${CHECK[@]}" sections.sh
echo "ok: a test's sections are held to the limit one by one"

ms_section "planted: no exemption, a parse error"
mkdir -p scripts
function_of ms_gateway_render 41 >scripts/lib.sh
expect 1 '^scripts/lib\.sh:1: function ms_gateway_render is 41 lines' "${CHECK[@]}" scripts/lib.sh
echo "ok: no function is exempt (the allowance for the old ms_gateway_render is gone with it)"
printf 'broken()\n{\n    if true; then\n}\n' >broken.sh
expect 1 '^broken\.sh: cannot parse' "${CHECK[@]}" broken.sh
echo "ok: a script shfmt cannot parse fails"
echo "shell-size.test.sh: all checks passed"
