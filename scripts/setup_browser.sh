#!/usr/bin/env bash
# Headless Chromium and its driver for the web page's browser tests (tests/test_serve_browser.py):
# Debian's `chromium` + `chromium-driver`. Installed when missing and this user may use apt
# (root, or passwordless sudo); otherwise the browser tests skip and say why.
set -euo pipefail
if command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; then
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "setup_browser: no apt-get here; install Chromium + chromedriver to run the browser tests" >&2
  exit 0
fi
SUDO=""
if [ "$(id -u)" != 0 ]; then
  if sudo -n true 2>/dev/null; then SUDO="sudo -n"; else
    echo "setup_browser: not root and no passwordless sudo; the browser tests will skip" >&2
    exit 0
  fi
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get install -y -q chromium chromium-driver >/dev/null 2>&1 || {
  $SUDO apt-get update -q >/dev/null 2>&1
  $SUDO apt-get install -y -q chromium chromium-driver >/dev/null
}
