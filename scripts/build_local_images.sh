#!/usr/bin/env bash
# Local stand-ins for the images docker-compose.yml pulls from Docker Hub, built from Debian's own
# mirror, for machines that cannot reach Docker Hub:
#   ssnas-local/debian:bookworm   debootstrap --variant=minbase bookworm, imported
#   ssnas-local/python:3.11       python:3.11-slim: python3.11 + pip          (docker/python)
#   ssnas-local/postgres:15       postgres:16: same entrypoint contract      (docker/postgres)
#   ssnas-local/redis:7           redis:7: same entrypoint contract           (docker/redis)
# and, with --wheels FILE..., ssnas-local/wheels:latest: wheel files for the Dockerfile's
# WHEELS_IMAGE (e.g. a local torch wheel). Images that exist are kept (--rebuild makes them again).
# The mirror is the first Debian URI of this machine's apt sources (or $DEBIAN_MIRROR).
# Prints the variables that make docker-compose.yml use them.
#
#   bash scripts/build_local_images.sh [--rebuild] [--wheels /opt/wheels/torch-...whl ...]
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/docker_env.sh
PREFIX=${SSNAS_LOCAL_PREFIX:-ssnas-local}
REBUILD=0
WHEELS=()
while [ $# -gt 0 ]; do
  case "$1" in
    --rebuild) REBUILD=1 ;;
    --wheels) shift; while [ $# -gt 0 ] && [ "${1#--}" = "$1" ]; do WHEELS+=("$1"); shift; done; continue ;;
    *) echo "usage: $0 [--rebuild] [--wheels FILE...]" >&2; exit 2 ;;
  esac
  shift
done
ssnas_docker_ready

have() { [ "$REBUILD" = 0 ] && docker image inspect "$1" >/dev/null 2>&1; }

apt_uri() {  # first URI in this machine's apt sources whose suites match $1 (deb822 or one-line)
  local suite=$1
  cat /etc/apt/sources.list.d/*.sources 2>/dev/null | awk -v s="$suite" '
    /^URIs:/ {u=$2} /^Suites:/ {for (i = 2; i <= NF; i++) if ($i == s) {print u; exit}}'
  grep -hsE "^deb[[:space:]]" /etc/apt/sources.list /etc/apt/sources.list.d/*.list |
    awk -v s="$suite" '{for (i = 1; i <= NF; i++) if ($i == s) {print $(i - 1); exit}}'
  true
}
MIRROR=${DEBIAN_MIRROR:-$(apt_uri bookworm | head -1)}
MIRROR=${MIRROR:-http://deb.debian.org/debian}
SECURITY=$(apt_uri bookworm-security | head -1)

t0=$SECONDS
if ! have "$PREFIX/debian:bookworm"; then
  command -v debootstrap >/dev/null || { echo "build_local_images: needs debootstrap" >&2; exit 1; }
  work=$(mktemp -d /var/tmp/ssnas-rootfs.XXXXXX)
  trap 'rm -rf "$work"' EXIT
  echo "build_local_images: debootstrap bookworm from $MIRROR" >&2
  nice -n 10 debootstrap --variant=minbase bookworm "$work/root" "$MIRROR" >"$work/debootstrap.log" 2>&1 ||
    { tail -20 "$work/debootstrap.log" >&2; exit 1; }
  {
    echo "deb $MIRROR bookworm main"
    echo "deb $MIRROR bookworm-updates main"
    [ -n "$SECURITY" ] && echo "deb $SECURITY bookworm-security main"
  } > "$work/root/etc/apt/sources.list"
  # as in Debian's official images: no service starts inside a build, no apt caches kept
  printf '#!/bin/sh\nexit 101\n' > "$work/root/usr/sbin/policy-rc.d"
  chmod +x "$work/root/usr/sbin/policy-rc.d"
  printf 'APT::Install-Recommends "false";\nAPT::Install-Suggests "false";\n' \
    > "$work/root/etc/apt/apt.conf.d/90ssnas-no-recommends"
  echo 'Dir::Cache::pkgcache ""; Dir::Cache::srcpkgcache "";' > "$work/root/etc/apt/apt.conf.d/90ssnas-no-cache"
  echo 'DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb || true"; };' \
    >> "$work/root/etc/apt/apt.conf.d/90ssnas-no-cache"
  # and, as Debian's slim images, no documentation, manual pages or translations (copyrights kept)
  printf '%s\n' 'path-exclude /usr/share/doc/*' 'path-include /usr/share/doc/*/copyright' \
    'path-exclude /usr/share/man/*' 'path-exclude /usr/share/groff/*' 'path-exclude /usr/share/info/*' \
    'path-exclude /usr/share/lintian/*' 'path-exclude /usr/share/linda/*' 'path-exclude /usr/share/locale/*' \
    > "$work/root/etc/dpkg/dpkg.cfg.d/90ssnas-slim"
  find "$work/root/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete
  rm -rf "$work/root/usr/share/man/"* "$work/root/usr/share/info/"* "$work/root/usr/share/locale/"* \
    "$work/root/var/lib/apt/lists/"* "$work/root/var/cache/apt/"*.bin "$work/root/var/cache/apt/archives/"*.deb
  tar -C "$work/root" --numeric-owner -c . |
    docker import -c 'ENV LANG=C.UTF-8' -c 'CMD ["bash"]' - "$PREFIX/debian:bookworm" >/dev/null
  rm -rf "$work"
  trap - EXIT
fi
t_debian=$((SECONDS - t0))

build() {  # NAME DIR
  have "$1" && return 0
  echo "build_local_images: $1 ($2)" >&2
  nice -n 10 "${DOCKER_BUILD[@]}" -q -t "$1" --build-arg "DEBIAN_IMAGE=$PREFIX/debian:bookworm" "$2" >/dev/null
}
build "$PREFIX/python:3.11" docker/python
build "$PREFIX/postgres:15" docker/postgres
build "$PREFIX/redis:7" docker/redis

if [ ${#WHEELS[@]} -gt 0 ]; then  # a file-only image the Dockerfile mounts for pip --find-links
  work=$(mktemp -d /var/tmp/ssnas-wheels.XXXXXX)
  cp "${WHEELS[@]}" "$work/"
  tar -C "$work" -c . | docker import - "$PREFIX/wheels:latest" >/dev/null
  rm -rf "$work"
fi
echo "build_local_images: done in $((SECONDS - t0)) s (debian base $t_debian s)" >&2
echo "SSNAS_BASE_IMAGE=$PREFIX/python:3.11"
echo "POSTGRES_IMAGE=$PREFIX/postgres:15"
echo "REDIS_IMAGE=$PREFIX/redis:7"
[ ${#WHEELS[@]} -gt 0 ] && echo "SSNAS_WHEELS_IMAGE=$PREFIX/wheels:latest"
exit 0
