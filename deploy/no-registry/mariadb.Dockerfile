# Stand-in for the mariadb image where no image registry is reachable: Debian's mariadb-server with
# the parts of the official image that compose.yaml uses (MARIADB_DATABASE, MARIADB_USER,
# MARIADB_PASSWORD, MARIADB_RANDOM_ROOT_PASSWORD on first start; healthcheck.sh --connect --innodb_initialized).
ARG BASE_IMAGE
FROM ${BASE_IMAGE}
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends mariadb-server \
 && rm -rf /var/lib/apt/lists/* /var/lib/mysql/* \
 && mkdir -p /run/mysqld && chown mysql:mysql /run/mysqld /var/lib/mysql
COPY mariadb-entrypoint.sh /usr/local/bin/docker-entrypoint.sh
COPY mariadb-healthcheck.sh /usr/local/bin/healthcheck.sh
VOLUME /var/lib/mysql
ENTRYPOINT ["docker-entrypoint.sh"]
CMD ["mariadbd"]
