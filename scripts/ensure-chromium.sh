#!/bin/sh
# Chromium for the browser tests: Debian's package (Playwright's own browser download
# needs a CDN). Installs it with apt-get when it is missing and we may; otherwise says
# that the browser tests will skip.
set -eu
if command -v chromium >/dev/null 2>&1 || [ -n "${CHROMIUM:-}" ]; then
    exit 0
fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing Debian's chromium for the browser tests"
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -qq chromium >/dev/null 2>&1 ||
        { apt-get update -qq && apt-get install -y -qq chromium >/dev/null; }
else
    echo "note: no chromium on PATH (install it, or set CHROMIUM=/path/to/chrome):" \
         "the browser tests will skip"
fi
