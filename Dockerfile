# event-system container image: built the same way as the Debian package
# (stage 1 runs dpkg-buildpackage, stage 2 installs the .deb), runs as the
# package's unprivileged user.
#   docker build -t event-system .
#   docker run -p 8080:8080 -p 9090:9090 \
#     -v ./config.yaml:/etc/event-system/config.yaml:ro \
#     -v ./plugins:/usr/lib/event-system/plugins/extra:ro event-system
# The config must listen on 0.0.0.0 with auth.tokens (or allow_unauthenticated)
# to be reachable from outside the container.

FROM debian:12 AS build
RUN apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        build-essential debhelper autoconf automake libtool pkg-config libltdl-dev \
        libevent-dev libyaml-dev libcjson-dev libmariadb-dev libcurl4-openssl-dev libssl-dev libsystemd-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src/event-system
COPY . .
RUN DEB_BUILD_OPTIONS=nocheck dpkg-buildpackage -us -uc -b

FROM debian:12
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
