# Stand-in for oven/bun where no image registry is reachable: the Debian base (debootstrap) + a Bun
# binary, with the same user (bun, uid 1000) and paths (/usr/local/bin/bun) as the official image.
#   docker build --network host -f deploy/no-registry/bun.Dockerfile --build-arg BASE_IMAGE=… <dir with ./bun>
ARG BASE_IMAGE
FROM ${BASE_IMAGE}
COPY bun /usr/local/bin/bun
RUN groupadd --gid 1000 bun \
 && useradd --uid 1000 --gid bun --create-home --shell /bin/sh bun \
 && ln -s bun /usr/local/bin/bunx \
 && bun --version
CMD ["bun"]
