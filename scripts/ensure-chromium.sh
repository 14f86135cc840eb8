#!/usr/bin/env bash
# Headless Chromium for the browser tests, and the DejaVu fonts the PDF/A tests embed, from
# Debian's packages (Playwright's own browser download cannot work here). Installs only what
# is missing, when run as root.
set -euo pipefail
FONT=/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf
if command -v chromium >/dev/null 2>&1 && [ -f "$FONT" ]; then exit 0; fi
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "chromium is missing; install it (Debian: apt-get install chromium)" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null
command -v chromium
