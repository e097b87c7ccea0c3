# shellcheck shell=bash
# What the chaos and rolling-restart system tests share: their verdict helpers. Source it after
# setting START=$SECONDS; it sets no shell options.

fail()
{
    echo "FAIL: $*" >&2
    exit 1
}

ok()
{
    echo "ok [$((SECONDS - START))s]: $*"
}
