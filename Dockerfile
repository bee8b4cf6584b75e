# event-system container image: built the same way as the Debian package
# (stage 1 runs dpkg-buildpackage, stage 2 installs the .deb), runs as the
# package's unprivileged user.
#   docker build -t event-system .      (podman: add --format docker, which
#                                        keeps the HEALTHCHECK)
#   docker run -p 8080:8080 -p 9090:9090 \
#     -v ./config.yaml:/etc/event-system/config.yaml:ro \
#     -v ./plugins:/plugins:ro event-system
# The config must listen on 0.0.0.0 with auth.tokens (or allow_unauthenticated)
# to be reachable from outside the container, and say `plugins: {directory:
# /plugins}` to load the mounted plugins (docs/install.md, "Container").
# BASE: any Debian 12 image (e.g. one imported from a local debootstrap).
ARG BASE=debian:12

FROM $BASE AS build
RUN apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        build-essential debhelper autoconf automake libtool pkg-config libltdl-dev \
        libevent-dev libyaml-dev libcjson-dev libmariadb-dev libcurl4-openssl-dev libssl-dev libsystemd-dev libnats-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src/event-system
COPY . .
# nocheck: the build profile skips the test-only build dependencies, the
# option skips the test run (the project's test suite runs them).
RUN DEB_BUILD_PROFILES=nocheck DEB_BUILD_OPTIONS="nocheck parallel=$(nproc)" dpkg-buildpackage -us -uc -b

FROM $BASE
COPY --from=build /src/event-system_*.deb /tmp/
RUN apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        /tmp/event-system_*.deb curl ca-certificates \
    && rm -rf /var/lib/apt/lists/* /tmp/*.deb \
    && install -d -o event-system -g event-system /var/lib/event-system /var/log/event-system
ENV EVENT_SYSTEM_CONFIG=/etc/event-system/config.yaml \
    EVENT_SYSTEM_ENV=prod \
    LOGS_DIRECTORY=/var/log/event-system
USER event-system
WORKDIR /var/lib/event-system
EXPOSE 8080 9090
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
    CMD curl -fsS http://127.0.0.1:8080/health || exit 1
ENTRYPOINT ["/usr/sbin/event-system"]
