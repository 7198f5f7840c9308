# Stand-in for the redis image where no image registry is reachable: Debian's redis-server.
# Same shape as far as compose.yaml uses it: redis-server and redis-cli on PATH, data in /data.
ARG BASE_IMAGE
FROM ${BASE_IMAGE}
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends redis-server \
 && rm -rf /var/lib/apt/lists/* \
 && mkdir -p /data && chown redis:redis /data
WORKDIR /data
USER redis
CMD ["redis-server"]
