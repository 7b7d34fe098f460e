# Sourced by scripts/build_local_images.sh and scripts/compose_check.sh: a Docker engine that runs
# (installed from Debian's packages and started if missing; needs root), a `docker build` that
# uses BuildKit ($DOCKER_BUILD) and a Compose command ($COMPOSE: `docker compose` or docker-compose).
# Everything started here runs at nice 10, below the machine's other work.

ssnas_docker_log() { echo "docker_env: $*" >&2; }

ssnas_docker_install() {  # Debian/Ubuntu packages: the engine, Compose v1 and debootstrap
  local pkgs=()
  command -v dockerd >/dev/null || pkgs+=(docker.io)
  docker compose version >/dev/null 2>&1 || command -v docker-compose >/dev/null || pkgs+=(docker-compose)
  command -v debootstrap >/dev/null || pkgs+=(debootstrap)
  [ ${#pkgs[@]} -eq 0 ] && return 0
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
    ssnas_docker_log "missing ${pkgs[*]} and cannot install them (needs root and apt-get)"
    return 1
  fi
  ssnas_docker_log "installing ${pkgs[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get update -q >/dev/null &&
    DEBIAN_FRONTEND=noninteractive nice -n 10 apt-get install -y -q "${pkgs[@]}" >/dev/null
}

ssnas_docker_start() {  # dockerd in the background (overlay2), unless an engine answers already
  docker info >/dev/null 2>&1 && return 0
  command -v dockerd >/dev/null || { ssnas_docker_log "no dockerd"; return 1; }
  [ "$(id -u)" = 0 ] || { ssnas_docker_log "dockerd is not running and starting it needs root"; return 1; }
  local log=${SSNAS_DOCKERD_LOG:-/var/log/ssnas-dockerd.log}
  ssnas_docker_log "starting dockerd (log: $log)"
  (nohup nice -n 10 dockerd --storage-driver overlay2 >>"$log" 2>&1 &)
  local i
  for i in $(seq 1 60); do
    docker info >/dev/null 2>&1 && return 0
    sleep 1
  done
  ssnas_docker_log "dockerd did not answer within 60 s; see $log"
  return 1
}

ssnas_docker_pick_build() {  # sets DOCKER_BUILD: a `docker build` with BuildKit
  local v
  if docker buildx version >/dev/null 2>&1; then
    DOCKER_BUILD=(docker buildx build --load)
    return 0
  fi
  # without the buildx plugin, a client older than 23 still has BuildKit built in
  for c in docker /usr/bin/docker; do
    command -v "$c" >/dev/null || continue
    v=$("$c" version --format '{{.Client.Version}}' 2>/dev/null | cut -d. -f1)
    if [ -n "$v" ] && [ "$v" -lt 23 ] 2>/dev/null; then
      DOCKER_BUILD=(env DOCKER_BUILDKIT=1 "$c" build)
      return 0
    fi
  done
  ssnas_docker_log "no BuildKit: install the buildx plugin (or Debian's docker.io)"
  return 1
}

ssnas_docker_pick_compose() {  # sets COMPOSE
  if docker compose version >/dev/null 2>&1; then
    COMPOSE=(docker compose)
  elif command -v docker-compose >/dev/null; then
    COMPOSE=(docker-compose)
  else
    ssnas_docker_log "no docker compose / docker-compose"
    return 1
  fi
}

ssnas_docker_ready() {  # install if needed, start, pick the build and compose commands
  ssnas_docker_install && ssnas_docker_start && ssnas_docker_pick_build && ssnas_docker_pick_compose
}
