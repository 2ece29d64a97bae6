# syntax=docker/dockerfile:1
#
# Every Waypoint service from one Dockerfile. The build stage compiles all service binaries in
# one `cargo build`; the runtime stage takes the one named by SERVICE:
#
#   docker build --build-arg SERVICE=reviews -t waypoint/reviews .
#
# SERVICE is one of: members, places, reviews, ratings (command services), review-feed,
# place-directory, member-profile, top-reviewers (projections), gateway. docker-compose.yml
# builds all nine; the build stage is the same for each, so BuildKit runs it once.

ARG RUST_IMAGE=rust:1.95-slim-bookworm
ARG RUNTIME_IMAGE=debian:bookworm-slim

# ---------------------------------------------------------------------------------------------
# Build: all binaries at once. Nothing here needs a system library: there is no TLS stack (the
# services talk plain TCP to servers beside them), and the C that `ring` builds needs only gcc,
# which the rust image has.
FROM ${RUST_IMAGE} AS build
WORKDIR /src
COPY . .
# Cache mounts keep the crates.io downloads and the target folder between builds, so a change
# to one crate recompiles that crate and what depends on it, not the several hundred dependencies. The
# binaries are copied out of the cached target folder, which is not part of the image.
RUN --mount=type=cache,target=/usr/local/cargo/registry,sharing=locked \
    --mount=type=cache,target=/usr/local/cargo/git,sharing=locked \
    --mount=type=cache,target=/src/target,sharing=locked \
    cargo build --release --locked \
        -p members -p places -p reviews -p ratings \
        -p review-feed -p place-directory -p member-profile -p top-reviewers \
        -p gateway \
    && mkdir -p /out \
    && cp target/release/members target/release/places target/release/reviews \
          target/release/ratings target/release/review-feed target/release/place-directory \
          target/release/member-profile target/release/top-reviewers \
          target/release/gateway /out/

# ---------------------------------------------------------------------------------------------
# Runtime: one binary, a non-root user, curl for the container healthcheck.
FROM ${RUNTIME_IMAGE} AS runtime
RUN apt-get update \
    && apt-get install -y --no-install-recommends curl \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 waypoint \
    && useradd --system --uid 10001 --gid waypoint --no-create-home \
        --home-dir /nonexistent --shell /usr/sbin/nologin waypoint

ARG SERVICE=gateway
# Listen on every interface of the container (the embedded default, 127.0.0.1, is for a
# laptop), and look for optional `default.toml` / `<WAYPOINT_ENV>.toml` files in /etc/waypoint.
ENV WAYPOINT_SERVICE=${SERVICE} \
    WAYPOINT__HTTP__HOST=0.0.0.0 \
    WAYPOINT_CONFIG_DIR=/etc/waypoint

COPY --from=build /out/${SERVICE} /usr/local/bin/${SERVICE}

# Each instance announces itself in the discovery registry under an address the others can
# reach. With replicas the service's DNS name stands for all of them, so unless one is given
# (Kubernetes passes the pod IP) the container announces its own IP address.
COPY --chmod=0755 <<'EOF' /usr/local/bin/waypoint-entrypoint
#!/bin/sh
set -eu
if [ -z "${WAYPOINT__DISCOVERY__ADVERTISE_HOST:-}" ]; then
    WAYPOINT__DISCOVERY__ADVERTISE_HOST="$(hostname -i | cut -d ' ' -f 1)"
    export WAYPOINT__DISCOVERY__ADVERTISE_HOST
fi
exec "/usr/local/bin/${WAYPOINT_SERVICE}" "$@"
EOF

USER waypoint:waypoint
# SIGTERM: consumers finish what they hold, the instance deregisters, then the process exits.
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/waypoint-entrypoint"]
