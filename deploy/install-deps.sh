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
# restructuring: clang-format for the house style check (test/format.sh, .clang-format).
$SUDO apt-get install -y -qq --no-install-recommends clang-format >/dev/null
# openapi: python3-yaml assembles api/openapi/*.yaml at build time; python3-jsonschema
# (Draft 2020-12) validates responses in test/integration/test_openapi.py; python3-venv
# lets test/run install openapi-spec-validator (PyPI only) to check the document.
$SUDO apt-get install -y -qq --no-install-recommends python3-yaml python3-jsonschema python3-venv >/dev/null
# python3-venv (above) also lets test/run install the Python SDK (sdk/python) in a fresh virtual environment.
# conformance: authlib (OIDC discovery validators, an outside RP) and PyJWT
$SUDO apt-get install -y -qq --no-install-recommends python3-authlib python3-jwt >/dev/null
# dashboard: headless Chromium that the Playwright tests of dashboard/ drive.
$SUDO apt-get install -y -qq --no-install-recommends chromium >/dev/null
# production (issue 19): HAProxy in front of the multi-node netns test, iproute2 for it.
$SUDO apt-get install -y -qq --no-install-recommends haproxy iproute2 >/dev/null
# production (issue 19): Patroni + etcd for the PostgreSQL failover test.
$SUDO apt-get install -y -qq --no-install-recommends patroni etcd-server python3-psycopg2 >/dev/null
# production (issue 19): test/deploy reads rendered manifests with python3-yaml (above).
# production (issue 19): helm and kubeconform (Go modules) for the deploy/ checks.
bash "$(dirname "$0")/tools.sh"
