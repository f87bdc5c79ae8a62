#!/usr/bin/env bash
# Installs shardmesh's build, test and benchmark dependencies from Debian 12 packages.
# Idempotent: packages already present are skipped, and apt-get is not called at all when
# nothing is missing. Needs root (or sudo) only when something has to be installed.
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config git ccache
  libzmq3-dev cppzmq-dev libmsgpack-cxx-dev liblz4-dev libspdlog-dev libfmt-dev
  libxxhash-dev libtomlplusplus-dev libcli11-dev libcpp-httplib-dev nlohmann-json3-dev
  googletest libgtest-dev libgmock-dev libbenchmark-dev
  clang libclang-rt-14-dev
  python3 python3-dev pybind11-dev python3-numpy python3-pytest python3-torch
  procps iproute2
)
# promtool, which a metrics test runs when present, ships only inside the whole Prometheus
# server package (19 MB download, 96 MB installed, and it starts a server on :9090 where
# systemd runs), so it is opt-in: SHARDMESH_WITH_PROMTOOL=1 scripts/install-deps.sh
if [ "${SHARDMESH_WITH_PROMTOOL:-0}" = 1 ]; then packages+=(prometheus); fi

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages present"
  exit 0
fi

echo "install-deps: installing ${missing[*]}"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
echo "install-deps: done"
