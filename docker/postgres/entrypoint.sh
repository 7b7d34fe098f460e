#!/bin/sh
# Entrypoint of the local postgres stand-in (docker/postgres/Dockerfile): the part of the official
# image's contract that docker-compose.yml relies on.
# - `postgres ARGS` (or just `-c ...`) runs the server as the postgres user;
# - on an empty $PGDATA the cluster is created first: superuser $POSTGRES_USER (default postgres)
#   with $POSTGRES_PASSWORD (required), database $POSTGRES_DB (default: the user's name),
#   password (scram-sha-256) logins over TCP from anywhere, trust on the local socket;
# - the set-up server listens only on a private socket, so `pg_isready` answers only once the real
#   server is up (a health check cannot pass while the cluster is being created).
set -eu
if [ "${1#-}" != "$1" ]; then
  set -- postgres "$@"
fi
if [ "$1" = postgres ] && [ "$(id -u)" = 0 ]; then
  mkdir -p "$PGDATA" /var/run/postgresql
  chown -R postgres:postgres "$PGDATA" /var/run/postgresql
  chmod 700 "$PGDATA"
  exec setpriv --reuid=postgres --regid=postgres --init-groups "$0" "$@"
fi
if [ "$1" = postgres ] && [ ! -s "$PGDATA/PG_VERSION" ]; then
  : "${POSTGRES_PASSWORD:?POSTGRES_PASSWORD must be set}"
  user=${POSTGRES_USER:-postgres}
  db=${POSTGRES_DB:-$user}
  setup_socket=$(mktemp -d)
  pwfile="$setup_socket/pw"
  printf '%s\n' "$POSTGRES_PASSWORD" > "$pwfile"
  initdb -D "$PGDATA" --username="$user" --pwfile="$pwfile" --auth-local=trust \
    --auth-host=scram-sha-256 --encoding=UTF8 --locale=C.UTF-8 >/dev/null
  rm -f "$pwfile"
  echo "host all all all scram-sha-256" >> "$PGDATA/pg_hba.conf"
  echo "listen_addresses = '*'" >> "$PGDATA/postgresql.conf"
  pg_ctl -D "$PGDATA" -o "-c listen_addresses='' -k $setup_socket" -w start >/dev/null
  if [ "$db" != postgres ]; then
    createdb -h "$setup_socket" -U "$user" "$db"
  fi
  pg_ctl -D "$PGDATA" -m fast -w stop >/dev/null
  rmdir "$setup_socket"
  echo "docker-entrypoint: created the cluster (user $user, database $db)"
fi
exec "$@"
