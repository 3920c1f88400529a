#!/usr/bin/env bash
# Installs every Debian package that building, running and testing shark needs.
# Idempotent: safe to run again; apt-get skips what is already there.
set -euo pipefail
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# clang with libclang-rt-dev (libFuzzer's runtime, which clang only recommends)
# builds the fuzz targets of test/fuzz.
$SUDO apt-get install -y -qq --no-install-recommends \
  build-essential pkg-config meson ninja-build \
  libuv1-dev node-llhttp libssl-dev libsodium-dev libpq-dev libjansson-dev \
  libcurl4-openssl-dev libcmocka-dev \
  postgresql-15 postgresql-client-15 \
  python3 python3-pytest python3-requests python3-cryptography \
  clang libclang-rt-dev \
  curl ca-certificates >/dev/null
# production (issue 19): HAProxy in front of the multi-node netns test, iproute2 for it.
$SUDO apt-get install -y -qq --no-install-recommends haproxy iproute2 >/dev/null
# production (issue 19): Patroni + etcd for the PostgreSQL failover test.
$SUDO apt-get install -y -qq --no-install-recommends patroni etcd-server python3-psycopg2 >/dev/null
# production (issue 19): PyYAML for test/deploy (reading rendered manifests).
$SUDO apt-get install -y -qq --no-install-recommends python3-yaml >/dev/null
# production (issue 19): helm and kubeconform (Go modules) for the deploy/ checks.
bash "$(dirname "$0")/tools.sh"
