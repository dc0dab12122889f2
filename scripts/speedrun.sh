#!/usr/bin/env bash
# The paper's 7B recipe on one 8-GPU node, in the order a person would type it (like nanochat's
# runs/speedrun.sh). Every stage writes runs/7b/<stage>/ with a done marker: re-running this script skips
# finished stages, and a killed stage resumes from its last checkpoint. For the 32B recipe (RL only) use
# configs/run-32b.yaml. The CPU twin of this script is `./scripts/demo.sh` (the same stages, toy size).
set -euo pipefail
cd "$(dirname "$0")/.."
CONFIG=${CONFIG:-configs/run-7b.yaml}

# 0. Environment: the pinned training stack plus vLLM (which needs transformers < 5.18; NOTES §3) and
#    DeepSpeed for ZeRO-3. Base model and teacher weights must already be on local disk (safetensors).
python3.11 -m venv .venv && source .venv/bin/activate
pip install -e '.[dev,gpu]' 'transformers==5.17.0' deepspeed
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_DATASETS_OFFLINE=1 HF_HUB_DISABLE_TELEMETRY=1

# 1. The teacher (GPT-OSS-120B) behind an OpenAI-compatible endpoint on GPUs 4-7. It labels difficulty,
#    checks labels (5 trials), judges ambiguity and writes the chains of thought. Any hosted endpoint works
#    too: set base_url in the config and the key in $OPENAI_API_KEY (read from the environment only).
CUDA_VISIBLE_DEVICES=4,5,6,7 vllm serve openai/gpt-oss-120b --tensor-parallel-size 4 --port 8000 \
    > runs/teacher.log 2>&1 &
TEACHER=$!
until curl -sf http://127.0.0.1:8000/v1/models > /dev/null; do sleep 10; done

# 2. Data (RODS): the KG from ../shared/kg, KG-guided synthesis, the train/validation/held-out split, the
#    public QA sets, and refinement (format, dedup, decontamination, label check, ambiguity gate,
#    anonymization, difficulty, mix). CPU-bound apart from the teacher calls.
fleming run "$CONFIG" --until refine

# 3. CoT cold start: the teacher writes chains from question + gold answer, pass@k, verification (format,
#    answer-blind validator, leakage, length, KG claims), refinement rounds (backtracking, path exploration,
#    self-correction). Re-running repeats no teacher call (runs/7b/cot/llm-cache.sqlite).
fleming run "$CONFIG" --until cot
kill "$TEACHER"; wait "$TEACHER" || true      # free GPUs 4-7 for training

# 4. SFT on all 8 GPUs: the sft section names configs/accelerate/zero3.yaml, so the stage runs
#    `accelerate launch ... fleming train sft` itself.
fleming run "$CONFIG" --until sft

# 5. GRPO stage 1 (Easy + Moderate until rewards go sparse), then stage 2 (mine hard items with the newest
#    model, more rollouts, rounds until no gain on the validation split). vLLM generates in colocate mode.
fleming run "$CONFIG" --until grpo2

# 6. Evaluation on the held-out items and the nine benchmarks (vLLM), then the report (report.html).
fleming run "$CONFIG"
echo "report: runs/7b/report.html"
