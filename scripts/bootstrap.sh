#!/usr/bin/env bash
# Install everything the agent, the sandbox and the tests need, on a fresh
# Debian machine (as root) or one that already has it (then it does nothing).
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v monerod >/dev/null 2>&1 && command -v monero-wallet-rpc >/dev/null 2>&1 || need_apt+=(monero)
command -v dot >/dev/null 2>&1 || need_apt+=(graphviz)
command -v faketime >/dev/null 2>&1 || need_apt+=(faketime)  # libfaketime: the agent under a clock from 2000
if [ ${#need_apt[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "bootstrap: installing Debian packages: ${need_apt[*]}" >&2
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

PYTHON="${PYTHON:-python3}"
# Installed, with its tools, and installed from *this* checkout (asked from outside it)?
here="$(pwd -P)"
installed="$(cd / && "$PYTHON" -c 'import os, fsm_distributor, transitions, structlog, numpy, requests, Crypto, yaml, pytest, hypothesis, pytest_timeout, mypy, importlinter
print(os.path.dirname(os.path.dirname(os.path.realpath(fsm_distributor.__file__))))' 2>/dev/null || true)"
if [ "$installed" != "$here" ] || ! command -v fsm-distributor >/dev/null 2>&1; then
  echo "bootstrap: installing the package and its test dependencies with pip" >&2
  "$PYTHON" -m pip install -q --disable-pip-version-check -e '.[tools,test]'
fi
