#!/usr/bin/env bash
# Set up (or update) .venv, lint, and run the whole test suite, slow tests included.
source "$(dirname "$0")/env.sh"
ruff check src tests bench
python -m pytest "$@"
