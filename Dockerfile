# Every microshop image from one file: the suite is compiled once in `build`, and each service is a
# target holding only its own binary on a small `runtime` base.
#
#   docker build --target product -t localhost/microshop/product:latest .
#   podman build --format docker --target product -t localhost/microshop/product:latest .
#   (podman needs --format docker to keep HEALTHCHECK; docker-compose.yml builds every target.)
#
# The product canary is the product image run with SERVICE_VERSION=v2.

ARG DEBIAN_IMAGE=debian:bookworm-slim

# ---- build: the compilers and -dev packages, the whole suite, the healthcheck probe --------------
# It runs on the builder's own platform and cross-compiles for the target's ($TARGETARCH, which
# buildx and `podman build --platform` set; a plain build targets the builder's): Debian's cross
# gcc and the target's -dev packages through multiarch, so an arm64 image is built on an amd64
# machine (and the other way round) at native speed, with no emulation. cmake/linux-gnu-toolchain.cmake
# serves both the native and the cross case (MS_TRIPLET names the target).
FROM --platform=$BUILDPLATFORM ${DEBIAN_IMAGE} AS build
ARG TARGETARCH
RUN host="$(dpkg --print-architecture)" && arch="${TARGETARCH:-$host}" \
    && case "$arch" in \
        amd64) triplet=x86_64-linux-gnu ;; \
        arm64) triplet=aarch64-linux-gnu ;; \
        *) echo "build: no toolchain for TARGETARCH=$arch (amd64 or arm64)" >&2; exit 1 ;; \
    esac \
    && if [ "$arch" = "$host" ]; then compiler="gcc libc6-dev"; \
    else dpkg --add-architecture "$arch" && compiler="gcc-$(echo "$triplet" | tr _ -) libc6-dev:$arch"; fi \
    && apt-get update \
    && apt-get install -y --no-install-recommends \
        $compiler make cmake pkg-config \
        libmicrohttpd-dev:$arch libjansson-dev:$arch libhiredis-dev:$arch libpq-dev:$arch \
        libcurl4-openssl-dev:$arch libunistring-dev:$arch \
    && rm -rf /var/lib/apt/lists/* \
    && echo "$triplet" >/etc/ms-triplet
WORKDIR /src
# Only what the build reads (see .dockerignore), so docs or test edits do not rebuild.
COPY CMakeLists.txt ./
COPY cmake/ cmake/
COPY common/ common/
COPY services/ services/
COPY tools/ tools/
# the frontend embeds the OpenAPI documents for its API page
COPY docs/api/ docs/api/
RUN export MS_TRIPLET="$(cat /etc/ms-triplet)" \
    && cmake -S . -B /build -DMS_TESTS=OFF -DCMAKE_BUILD_TYPE=Release \
        -DCMAKE_TOOLCHAIN_FILE=/src/cmake/linux-gnu-toolchain.cmake \
    && cmake --build /build -j "$(nproc)" \
    && mkdir /out \
    && for svc in product cart order user inventory notification frontend; do \
        cp "/build/services/$svc/$svc" "/out/$svc" || exit 1; \
    done \
    && cp /build/tools/gateway-metrics/gateway-metrics /out/gateway-metrics \
    && "$MS_TRIPLET-gcc" -O2 -std=c17 -D_GNU_SOURCE -Wall -Wextra -Werror -Wshadow \
        -Wstrict-prototypes -Wmissing-prototypes -Wformat=2 -o /out/healthcheck tools/healthcheck.c \
    && "$MS_TRIPLET-strip" /out/*

# ---- runtime: the shared base, runtime libraries only, an unprivileged user -----------------
FROM ${DEBIAN_IMAGE} AS runtime
RUN apt-get update \
    && apt-get install -y --no-install-recommends \
        libmicrohttpd12 libjansson4 libhiredis0.14 libpq5 libcurl4 libunistring2 ca-certificates \
    && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/log/apt /var/log/dpkg.log \
    && groupadd --system --gid 10001 microshop \
    && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin microshop
COPY --from=build /out/healthcheck /usr/local/bin/healthcheck
LABEL org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.vendor="microshop"
USER 10001:10001
# The services stop gracefully on SIGTERM (unready, SHUTDOWN_DELAY_MS, drain, exit 0).
STOPSIGNAL SIGTERM
# GET http://127.0.0.1:$PORT/ready with a 2 s deadline; `healthcheck /health` probes liveness.
HEALTHCHECK --interval=10s --timeout=3s --start-period=15s --retries=3 \
    CMD ["/usr/local/bin/healthcheck"]

# ---- one target per service ------------------------------------------------------------------
FROM runtime AS product
LABEL org.opencontainers.image.title="microshop product"
COPY --from=build /out/product /usr/local/bin/product
ENV PORT=3001
EXPOSE 3001
CMD ["/usr/local/bin/product"]

FROM runtime AS cart
LABEL org.opencontainers.image.title="microshop cart"
COPY --from=build /out/cart /usr/local/bin/cart
ENV PORT=3002
EXPOSE 3002
CMD ["/usr/local/bin/cart"]

FROM runtime AS order
LABEL org.opencontainers.image.title="microshop order"
COPY --from=build /out/order /usr/local/bin/order
ENV PORT=3003
EXPOSE 3003
CMD ["/usr/local/bin/order"]

FROM runtime AS user
LABEL org.opencontainers.image.title="microshop user"
COPY --from=build /out/user /usr/local/bin/user
ENV PORT=3004
EXPOSE 3004
CMD ["/usr/local/bin/user"]

FROM runtime AS inventory
LABEL org.opencontainers.image.title="microshop inventory"
COPY --from=build /out/inventory /usr/local/bin/inventory
ENV PORT=3005
EXPOSE 3005
CMD ["/usr/local/bin/inventory"]

FROM runtime AS notification
LABEL org.opencontainers.image.title="microshop notification"
COPY --from=build /out/notification /usr/local/bin/notification
ENV PORT=3006
EXPOSE 3006
CMD ["/usr/local/bin/notification"]

# The storefront: its page, scripts, styles and product images are compiled into the binary.
FROM runtime AS frontend
LABEL org.opencontainers.image.title="microshop frontend"
COPY --from=build /out/frontend /usr/local/bin/frontend
ENV PORT=3000
EXPOSE 3000
CMD ["/usr/local/bin/frontend"]

# The gateway's metrics exporter (tools/gateway-metrics): nginx's access lines in over UDP,
# /metrics out over TCP, both on 9146; nginx serves that /metrics as its own on 9145.
FROM runtime AS gateway-metrics
LABEL org.opencontainers.image.title="microshop gateway-metrics"
COPY --from=build /out/gateway-metrics /usr/local/bin/gateway-metrics
ENV PORT=9146
EXPOSE 9146 9146/udp
CMD ["/usr/local/bin/gateway-metrics"]

# ---- wrk: the load generator of the Kubernetes Jobs in load-test/k8s -----------------------------
# Debian's wrk (4.1: no constant-rate mode; see load-test/run.sh), curl and bash, and load-test/run.sh
# as the entry point. The scenarios (load-test/wrk/*.lua) are not in the image: the Jobs mount
# them from a ConfigMap at /load-test, so editing a scenario needs no rebuild.
#   docker build --target wrk -t localhost/microshop/wrk:latest .
FROM ${DEBIAN_IMAGE} AS wrk
RUN apt-get update \
    && apt-get install -y --no-install-recommends wrk curl ca-certificates \
    && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/log/apt /var/log/dpkg.log \
    && groupadd --system --gid 10001 microshop \
    && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin microshop
COPY load-test/run.sh /usr/local/bin/microshop-load
LABEL org.opencontainers.image.title="microshop load generator" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.vendor="microshop"
ENV LOAD_SCRIPTS=/load-test
USER 10001:10001
ENTRYPOINT ["bash", "/usr/local/bin/microshop-load"]
