#!/usr/bin/env bash
# Install Debian packages quietly, as root or through sudo; sourced by
# tools/install_browser.sh and tools/install_jpegtran.sh:
#   source "$(dirname "$0")/apt_install.sh"; apt_install PKG...
apt_install() {
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}
