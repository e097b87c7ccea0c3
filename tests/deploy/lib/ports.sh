# shellcheck shell=bash
# Free loopback ports for the deploy checks. Source it; it sets no shell options.

MS_PORTS_GIVEN=" "

# ms_free_port VAR: sets VAR to a TCP port on 127.0.0.1 that no socket uses now and that this
# shell has not handed out before. It assigns rather than prints, because a $(...) subshell
# would forget what it handed out. Ports come from below the kernel's ephemeral range
# (32768..), where the outgoing connections of tests running alongside take their ports and
# would race us for the bind.
ms_free_port()
{
    local _ms_var="$1" _ms_port _ms_tries=0
    while ((_ms_tries++ < 500)); do
        _ms_port=$((20000 + RANDOM % 12000))
        [[ $MS_PORTS_GIVEN == *" $_ms_port "* ]] && continue
        if [[ -z "$(ss -Htan "sport = :$_ms_port" 2>/dev/null)" ]]; then
            MS_PORTS_GIVEN+="$_ms_port "
            printf -v "$_ms_var" '%s' "$_ms_port"
            return 0
        fi
    done
    echo "error: no free port found" >&2
    return 1
}
