#!/usr/bin/env bash
# Installs the Debian packages that a make target needs, and nothing when they are all there.
#
#   scripts/setup.sh build test     # the groups below, any number of them
#
# Runs apt-get as root, or through sudo when sudo works without a password; otherwise prints
# the exact command to run and fails.
set -euo pipefail

declare -A PACKAGES=(
  [build]="g++ cmake make libgtest-dev liburing-dev"
  [test]="python3 python3-pytest python3-pytest-timeout curl strace"
  [docs]="doxygen graphviz"
  [bench]="wrk nginx-light python3-matplotlib strace util-linux"
  [tour]="wrk nginx-light"
  [profile]="linux-perf wrk python3-matplotlib util-linux"
  [try]="curl netcat-openbsd strace wrk psmisc procps iproute2 linux-perf sysstat gdb"
  [attacks]="slowhttptest apache2-utils nghttp2-client"
  [fuzz]="clang libclang-rt-14-dev"
)

missing=()
for group in "$@"; do
  if [[ -z "${PACKAGES[$group]+set}" ]]; then
    echo "setup.sh: unknown group '$group' (known: ${!PACKAGES[*]})" >&2
    exit 2
  fi
  for package in ${PACKAGES[$group]}; do
    if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "ok installed"; then
      missing+=("$package")
    fi
  done
done
[[ ${#missing[@]} -eq 0 ]] && exit 0

if ! command -v apt-get >/dev/null; then
  echo "setup.sh: missing packages (${missing[*]}) and no apt-get: install them by hand." >&2
  exit 1
fi
if [[ $(id -u) -eq 0 ]]; then
  sudo=()
elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
  sudo=(sudo)
else
  echo "setup.sh: these packages are missing: ${missing[*]}" >&2
  echo "Install them with:" >&2
  echo "  sudo apt-get update && sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi

echo "setup.sh: installing ${missing[*]}"
"${sudo[@]}" apt-get update -qq
DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
