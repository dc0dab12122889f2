#!/usr/bin/env bash
# Set up (or update) .venv and run the main job on the embedded default (CPU, minutes).
source "$(dirname "$0")/env.sh"
fleming demo "$@"
