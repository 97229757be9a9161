#!/usr/bin/env bash
# Installs Debian's headless-capable Chromium for the HTML report's browser test
# (cli/tests/report.rs), if /usr/bin/chromium is missing, and prints its path.
#
#   scripts/chromium.sh          install if missing; print /usr/bin/chromium
#
# Runs as root (CI and the development machines do). Nothing but the Debian package changes.
set -euo pipefail
if [ ! -x /usr/bin/chromium ]; then
    echo "chromium.sh: installing chromium (Debian package)" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    apt-get install -y -qq chromium >&2
fi
echo /usr/bin/chromium
