#!/usr/bin/env bash
# Deletes the lab's KIND cluster (everything kind-up.sh installed lives inside it) and, with
# --images, the locally built service images (:latest and the content tags).
#
#   scripts/lab/kind-down.sh [--images] [--runtime docker|podman] [--dry-run]
set -euo pipefail

# shellcheck source=scripts/lib.sh
. "$(cd -P -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd -P)/lib.sh"

CLUSTER="${KIND_CLUSTER_NAME:-microshop}"
RUNTIME=""
IMAGES=0
DRY_RUN=0

run()
{
    if ((DRY_RUN)); then
        printf '+'
        printf ' %q' "$@"
        printf '\n'
    else
        "$@"
    fi
}

# parse_args ARG...: the options into IMAGES, RUNTIME and DRY_RUN; without --runtime, docker if
# it answers, else podman.
parse_args()
{
    while (($#)); do
        case "$1" in
        --images) IMAGES=1 ;;
        --runtime)
            [[ $# -ge 2 ]] || ms_die "--runtime needs a value"
            RUNTIME="$2"
            shift
            ;;
        --runtime=*) RUNTIME="${1#*=}" ;;
        --dry-run) DRY_RUN=1 ;;
        -h | --help)
            sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed -e '/^set -euo/d' -e 's/^# \{0,1\}//'
            exit 0
            ;;
        *) ms_die "unknown option '$1' (see --help)" ;;
        esac
        shift
    done
    if [[ -z $RUNTIME ]]; then
        if ((!DRY_RUN)) && command -v docker >/dev/null && docker info >/dev/null 2>&1; then
            RUNTIME=docker
        else
            RUNTIME=podman
        fi
    fi
    case "$RUNTIME" in
    docker | podman) ;;
    *) ms_die "--runtime must be docker or podman (got '$RUNTIME')" ;;
    esac
}

# Deletes the cluster, if there is one (a dry run prints the command either way).
delete_cluster()
{
    if ((!DRY_RUN)) && ! command -v kind >/dev/null; then
        ms_die "kind is needed"
    fi
    if ((DRY_RUN)) || kind get clusters 2>/dev/null | grep -qx "$CLUSTER"; then
        run kind delete cluster --name "$CLUSTER"
    else
        echo "no KIND cluster named $CLUSTER"
    fi
}

# Removes every service's image: :latest and the content tags kind-up.sh gave it.
remove_images()
{
    local svc ref
    for svc in $(ms_services); do
        run "$RUNTIME" rmi --force "localhost/microshop/$svc:latest"
        # and the content tags kind-up.sh gave it (localhost/microshop/<service>:<image ID>)
        ((DRY_RUN)) && continue
        while read -r ref; do
            [[ $ref == *:latest || $ref == *"<none>"* ]] || run "$RUNTIME" rmi --force "$ref"
        done < <("$RUNTIME" images --format '{{.Repository}}:{{.Tag}}' "localhost/microshop/$svc" 2>/dev/null)
    done
}

main()
{
    parse_args "$@"
    [[ $RUNTIME == podman ]] && export KIND_EXPERIMENTAL_PROVIDER=podman
    delete_cluster
    if ((IMAGES)); then
        remove_images
    fi
}

main "$@"
