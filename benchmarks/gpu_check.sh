#!/usr/bin/env bash
# The GPU check (chapter 50_scaling): one prepared script, under 5 minutes on an H100/H200-class GPU.
#   bash benchmarks/gpu_check.sh [--dry-run] [--out DIR] [--commit SHA]
# Needs only torch and transformers; uses the project's .venv when there is one.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
py="${PYTHON:-python3}"
[ -x "$here/../.venv/bin/python" ] && py="$here/../.venv/bin/python"
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
exec "$py" "$here/gpu_check.py" "$@"
