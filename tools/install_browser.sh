#!/usr/bin/env bash
# The browser of the reader-app test (tests/test_tools/test_reader_app_browser.py):
# Chromium and its driver from Debian's packages, so that nothing downloads a
# browser build (Selenium is pinned in requirements/tests.txt and is given the
# driver's path; Selenium Manager never runs). Needs root (CI runs as root).
#   bash tools/install_browser.sh
set -euo pipefail
if command -v chromium >/dev/null && command -v chromedriver >/dev/null; then
  echo "browser: $(chromium --version 2>/dev/null | head -1)"
  exit 0
fi
source "$(dirname "$0")/apt_install.sh"
apt_install chromium chromium-driver
echo "browser: $(chromium --version 2>/dev/null | head -1)"
