#!/usr/bin/env bash
# Sets up reprlab on a fresh Debian machine with Python 3.11: the Debian packages the
# data and report need, a virtual environment in .venv, pinned torch, and reprlab itself.
# Idempotent: a second run only checks. Usage: scripts/setup.sh [--dev]
# --dev adds what the tests need: pytest, hypothesis, ruff, PyWavelets, Ray and Chromium.
set -euo pipefail
cd "$(dirname "$0")/.."

extra="[studies]"  # CatBoost: seed 001's boosting probe
debs=(dataset-fashion-mnist)
if [ "${1:-}" = "--dev" ]; then
    # The tests also start a local Ray instance and open the report in headless Chromium.
    extra="[dev,ray,studies]"
    debs+=(chromium)
fi
missing=()
for p in "${debs[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
    echo "setup: installing Debian packages: ${missing[*]}"
    sudo_cmd=""; [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
    $sudo_cmd apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "${missing[@]}" >/dev/null
fi

python=${PYTHON:-python3.11}
command -v "$python" >/dev/null || python=python3
[ -x .venv/bin/python ] || "$python" -m venv .venv
pip=(.venv/bin/python -m pip -q --disable-pip-version-check)
# torch first, pinned, so that no resolver ever chooses another build.
.venv/bin/python -c "import torch, torchvision" 2>/dev/null \
    || "${pip[@]}" install torch==2.14.1 torchvision==0.29.1 \
        2> >(grep -v "is ignored: it is neither a file nor a directory" >&2)
"${pip[@]}" install -e ".${extra}" 2> >(grep -v "is ignored: it is neither a file nor a directory" >&2)
.venv/bin/python -c "import reprlab" || { echo "setup: reprlab failed to install" >&2; exit 1; }
echo "setup: ready (.venv)"
