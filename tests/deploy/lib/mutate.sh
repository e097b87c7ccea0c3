# shellcheck shell=bash
# The planted violations' edit, for the deploy checks (k8s.test.sh, class.test.sh). Source it; it
# sets no shell options.

# mutate FILE OLD NEW: replaces the first occurrence of OLD (may span lines, \n) in FILE; fails,
# naming OLD, when FILE does not hold it (so a plant that no longer applies is not a silent pass).
mutate()
{
    python3 - "$@" <<'PY'
import sys
path, old, new = sys.argv[1], sys.argv[2].replace("\\n", "\n"), sys.argv[3].replace("\\n", "\n")
text = open(path).read()
if old not in text:
    sys.exit(f"mutate: '{old}' not found in {path}")
open(path, "w").write(text.replace(old, new, 1))
PY
}

# plant_check NAME FILE OLD NEW EXPECTED CHECK...: plants OLD -> NEW in FILE (in a copy the caller
# made), runs CHECK..., and prints "caught NAME: <its line>" when CHECK fails printing EXPECTED;
# otherwise a line starting with FAIL (not planted, not caught, or caught for another reason).
plant_check()
{
    local name="$1" file="$2" old="$3" new="$4" expected="$5" out
    shift 5
    mutate "$file" "$old" "$new" || { echo "FAIL: planted '$name': could not plant it"; return 0; }
    if out="$("$@" 2>&1)"; then
        echo "FAIL: planted '$name' (${file##*/}: $old -> $new) was not caught"
    elif ! grep -qF -- "$expected" <<<"$out"; then
        echo "FAIL: planted '$name' failed, but without '$expected':"$'\n'"$out"
    else
        echo "caught $name: $(grep -F -- "$expected" <<<"$out" | head -n 1 | sed 's/^ *//')"
    fi
}
