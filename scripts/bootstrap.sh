#!/usr/bin/env bash
# Installs everything xling_jax needs on a Debian/Ubuntu machine, idempotently:
# the Debian packages (SWORD Bible texts and mod2imp for the default corpus, python3-venv
# where Python lacks venv), then a virtual environment in .venv with xling_jax and its
# test extras. Safe to rerun; it only installs what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=""
for candidate in python3 python3.13 python3.12 python3.11; do
  if command -v "$candidate" >/dev/null && "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
    PYTHON=$(command -v "$candidate"); break
  fi
done
[ -n "$PYTHON" ] || { echo "bootstrap: Python >= 3.11 is needed (apt-get install python3)" >&2; exit 1; }

packages=(sword-text-kjv sword-text-web sword-text-sparv libsword-utils)
"$PYTHON" -c 'import ensurepip, venv' 2>/dev/null || packages+=("python3-venv")
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
if [ ${#missing[@]} -gt 0 ]; then
  echo "bootstrap: installing Debian packages: ${missing[*]}"
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -q
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
elif ! ls /var/lib/apt/lists/*_Packages >/dev/null 2>&1; then
  # `apt-get download` (the libreoffice_help dataset) needs the package lists.
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -q
fi

[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e ".[dev]"
echo "bootstrap: ready (.venv/bin/xling)"
