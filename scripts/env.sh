# Sourced by scripts/*.sh: create or update .venv, then export the offline variables.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PY="${FLEMING_PYTHON:-python3.11}"
if [ ! -x .venv/bin/python ]; then
  echo "[fleming] creating .venv with $PY" >&2
  "$PY" -m venv .venv
fi
stamp=".venv/.fleming-install-$(sha256sum pyproject.toml | cut -c1-16)"
if [ ! -f "$stamp" ]; then
  echo "[fleming] installing the project and its pinned dependencies into .venv" >&2
  # pip warns about each empty extra index this machine's pip config names; keep only real messages
  .venv/bin/python -m pip install -q --upgrade pip 2> >(grep -v "is ignored: it is neither" >&2)
  .venv/bin/python -m pip install -q -e ".[dev]" 2> >(grep -v "is ignored: it is neither" >&2)
  rm -f .venv/.fleming-install-*
  touch "$stamp"
fi
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_DATASETS_OFFLINE=1 HF_HUB_DISABLE_TELEMETRY=1
export TOKENIZERS_PARALLELISM=false
export PATH="$ROOT/.venv/bin:$PATH"
