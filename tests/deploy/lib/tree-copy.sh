# shellcheck shell=bash
# A scratch copy of the repository, for the deploy checks that change or extend it
# (new-service.test.sh, class.test.sh). Source it; it sets no shell options.

# copy_tree ROOT DEST: the files of ROOT as git sees them (tracked and untracked, not ignored;
# deleted ones left out) into DEST, without node_modules, which is linked to ROOT's instead.
copy_tree()
{
    local root="$1" dest="$2"
    mkdir -p "$dest"
    (cd "$root" && git ls-files -z --cached --others --exclude-standard | grep -zv '/node_modules/' |
        while IFS= read -r -d '' f; do [[ -e $f ]] && printf '%s\0' "$f"; done |
        xargs -0 cp --parents -t "$dest")
    ln -s "$root/tests/deploy/node_modules" "$dest/tests/deploy/node_modules"
}
