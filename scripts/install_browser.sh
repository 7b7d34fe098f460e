#!/usr/bin/env bash
# Headless Chromium + chromedriver for the dashboard's browser tests (Debian packages; no browser
# download at test time). Idempotent: does nothing when both binaries are already there.
set -euo pipefail
if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; then
  exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "install_browser: need root or sudo for apt-get" >&2; exit 1; }
  SUDO="sudo -n"
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends chromium chromium-driver >/dev/null
echo "install_browser: $(/usr/bin/chromium --version 2>/dev/null || echo chromium) installed"
