#!/bin/sh
# Installs the Debian packages that the demo or the test suite needs, only those that are missing:
#
#   sh scripts/system-deps.sh demo   # docker-registry (CNCF distribution)
#   sh scripts/system-deps.sh test   # and apache2-utils (htpasswd), skopeo, openssl, time, tmux
#
# As root it runs apt-get itself (a root container has no sudo); as another user, through sudo.
set -eu

case "${1:-demo}" in
  demo) wanted="docker-registry:docker-registry" ;;
  # GNU time (/usr/bin/time) measures peak RSS (hostile, records-scale); tmux is the terminal of
  # test/integration/terminal.test.ts
  test) wanted="docker-registry:docker-registry htpasswd:apache2-utils skopeo:skopeo openssl:openssl /usr/bin/time:time tmux:tmux" ;;
  *)
    echo "usage: sh scripts/system-deps.sh [demo|test]" >&2
    exit 2
    ;;
esac

need=""
for pair in $wanted; do
  command=${pair%%:*}
  package=${pair#*:}
  case "$command" in
    /*) [ -x "$command" ] && continue ;;
    *) command -v "$command" >/dev/null 2>&1 && continue ;;
  esac
  need="$need $package"
done

if [ -z "$need" ]; then
  echo "system packages for the $1: all installed"
  exit 0
fi

if [ "$(id -u)" -eq 0 ]; then
  as_root=""
elif command -v sudo >/dev/null 2>&1; then
  as_root="sudo"
else
  echo "system-deps: missing:$need; run this as root, or install sudo" >&2
  exit 1
fi

echo "installing:$need"
$as_root apt-get update -qq
# shellcheck disable=SC2086 # one word per package
$as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $need
