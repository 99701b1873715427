#!/usr/bin/env bash
# Set up (./setup.sh --test), then lint, type-check, check the layer rule and
# run the whole test suite.  Needs root (overlay mounts); CI runs it as root.
set -euo pipefail
cd "$(dirname "$0")"
./setup.sh --test
export PATH="$PWD/.venv/bin:$PATH"
echo "== ruff";         ruff check src tests bench
echo "== mypy";         mypy
echo "== import layers"; lint-imports --no-cache
echo "== pytest";       exec pytest "$@"
