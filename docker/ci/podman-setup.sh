#!/usr/bin/env bash
# Makes rootful podman usable on a Debian 12 machine without a registry (see CONTAINERS.md):
#  1. /etc/containers/containers.conf: runc (crun cannot set rlimits in the sandbox), ulimits
#     the sandbox allows, and the netavark network backend (its aardvark-dns lets compose
#     containers resolve each other by service name; Debian's CNI default cannot);
#  2. docker.io/library/debian:bookworm-slim, when missing, from debootstrap --variant=minbase,
#     trimmed the way the official slim image is (no docs, man pages, locales, apt lists). The
#     rootfs tarball is cached in MS_CI_CACHE_DIR (/var/cache/microshop-ci), so only the first
#     run on a machine pays for debootstrap.
# Idempotent; safe to run concurrently (one lock). Needs root, podman, runc, netavark,
# aardvark-dns and debootstrap.
set -euo pipefail

CACHE_DIR="${MS_CI_CACHE_DIR:-/var/cache/microshop-ci}"
BASE_IMAGE="docker.io/library/debian:bookworm-slim"
MIRROR="${MS_DEBIAN_MIRROR:-http://deb.debian.org}"
CONF=/etc/containers/containers.conf

die()
{
    echo "podman-setup: $*" >&2
    exit 1
}

write_containers_conf()
{
    local want
    want='[containers]
default_ulimits = ["nofile=20000:20000", "nproc=4096:4096"]
[engine]
runtime = "runc"
[network]
network_backend = "netavark"'
    if [[ -f $CONF && "$(<"$CONF")" == "$want" ]]; then
        return 0
    fi
    if [[ -f $CONF ]]; then
        cp "$CONF" "$CONF.bak.$(date +%s)"
    fi
    mkdir -p "$(dirname "$CONF")"
    printf '%s\n' "$want" >"$CONF"
    echo "podman-setup: wrote $CONF (runc, ulimits, netavark)"
}

# Compose relies on containers finding each other by service name: only netavark with
# aardvark-dns gives that here (Debian's default CNI stack has no DNS plugin).
check_network_backend()
{
    local backend
    backend="$(podman info --format '{{.Host.NetworkBackend}}')"
    [[ $backend == netavark ]] ||
        die "podman uses the '$backend' network backend, not netavark; containers created" \
            "before the switch keep it: remove them (podman rm -af) and run this again"
    # A bridge left by the CNI backend keeps the route of podman's default subnet (10.88/16),
    # which netavark uses too: containers on it (image builds) would get no answers from
    # outside. Nothing uses it once netavark is the backend.
    if ip link show cni-podman0 >/dev/null 2>&1; then
        ip link delete cni-podman0
        echo "podman-setup: removed the stale CNI bridge cni-podman0"
    fi
}

# slim_apt_config ROOT: dpkg and apt in ROOT keep no documentation, caches or translations,
# install no recommendations, and fetch from MIRROR.
slim_apt_config()
{
    local root="$1"
    cat >"$root/etc/dpkg/dpkg.cfg.d/docker" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/lintian/*
path-exclude /usr/share/linda/*
path-exclude /usr/share/locale/*
EOF
    cat >"$root/etc/apt/apt.conf.d/docker-clean" <<'EOF'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
EOF
    printf 'Acquire::Languages "none";\n' >"$root/etc/apt/apt.conf.d/docker-no-languages"
    printf 'APT::Install-Recommends "false";\nAPT::Install-Suggests "false";\n' \
        >"$root/etc/apt/apt.conf.d/docker-no-recommends"
    rm -f "$root/etc/apt/sources.list"
    cat >"$root/etc/apt/sources.list.d/debian.sources" <<EOF
Types: deb
URIs: $MIRROR/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: $MIRROR/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
}

# Trims a debootstrapped tree $1 to what debian:bookworm-slim holds, and keeps it that way for
# packages installed later (the same dpkg and apt settings as the official image).
slim_rootfs()
{
    local root="$1"
    slim_apt_config "$root"
    find "$root/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete
    find "$root/usr/share/doc" -mindepth 1 -type d -empty -delete
    rm -rf "$root"/usr/share/{man,groff,info,lintian,linda,locale}/* \
        "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/archives/*.deb \
        "$root"/var/cache/apt/*.bin "$root"/var/log/*.log "$root"/var/log/apt/* \
        "$root"/var/cache/debconf/*-old "$root"/var/lib/dpkg/*-old
}

# Builds the rootfs tarball into the cache (about 45 s), unless it is there already.
cached_rootfs()
{
    local tarball="$CACHE_DIR/bookworm-slim-rootfs.tar" tmp
    if [[ -s $tarball ]]; then
        echo "$tarball"
        return 0
    fi
    command -v debootstrap >/dev/null || die "debootstrap is missing (apt-get install debootstrap)"
    tmp="$(mktemp -d "$CACHE_DIR/rootfs.XXXXXX")"
    echo "podman-setup: debootstrap bookworm minbase into $tmp (once per machine)" >&2
    if ! debootstrap --variant=minbase bookworm "$tmp/root" "$MIRROR/debian" \
        >"$tmp/debootstrap.log" 2>&1; then
        tail -n 20 "$tmp/debootstrap.log" >&2
        rm -rf "$tmp"
        die "debootstrap failed"
    fi
    slim_rootfs "$tmp/root"
    tar --numeric-owner -C "$tmp/root" -cf "$tmp/rootfs.tar" .
    mv "$tmp/rootfs.tar" "$tarball"
    rm -rf "$tmp"
    echo "$tarball"
}

ensure_base_image()
{
    local tarball
    if podman image exists "$BASE_IMAGE"; then
        return 0
    fi
    tarball="$(cached_rootfs)"
    podman import -q --change 'CMD ["bash"]' "$tarball" "$BASE_IMAGE" >/dev/null
    echo "podman-setup: imported $BASE_IMAGE from $tarball"
}

main()
{
    [[ $EUID -eq 0 ]] || die "run as root (rootful podman, debootstrap)"
    local tool
    for tool in podman runc; do
        command -v "$tool" >/dev/null || die "$tool is missing (scripts/install-deps.sh installs it)"
    done
    for tool in netavark aardvark-dns; do
        [[ -x /usr/lib/podman/$tool ]] ||
            die "$tool is missing (apt-get install netavark aardvark-dns): without it, compose" \
                "containers cannot resolve each other's names"
    done
    mkdir -p "$CACHE_DIR"
    exec 9>"$CACHE_DIR/.lock"
    flock -w 600 9 || die "another setup holds $CACHE_DIR/.lock"
    write_containers_conf
    check_network_backend
    ensure_base_image
}

main "$@"
