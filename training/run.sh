#!/usr/bin/env bash
# The one deblurring run of issue 32: resumed, never restarted.
#
#   training/run.sh [THREADS] [extra modelkb train options, e.g. --minutes 150]
#
# The full state (fp32 weights, both Adam moments, step) lives in $MODELKB_RUN (default
# ~/.cache/modelkb/runs/deblur, outside git) and is saved every 50 steps and on SIGTERM or
# Ctrl-C. On a machine without that folder the run continues from the committed fp16 weights
# (training/deblur-run.safetensors) at the step recorded in them, with a fresh Adam and a
# 100-step warm-up (the log says so). Before the first session, it starts from candidate 2.
# Batches are a function of (seed, step), so a resume replays the exact data stream.
#
# It runs at high priority with passive OpenMP waits (a spinning thread pool slowed a
# two-thread step 6x under load); run everything else at `nice -n 19`.
set -euo pipefail
cd "$(dirname "$0")/.."
threads="${1:-1}"
shift || true
run="${MODELKB_RUN:-$HOME/.cache/modelkb/runs/deblur}"
photos="${MODELKB_PHOTOS:-$HOME/.cache/modelkb/photos}"
[ -d "$photos/train" ] || .venv/bin/python -m modelkb.train.photos "$photos"

committed=training/deblur-run.safetensors
if [ -f "$run/latest.pt" ]; then
    init=(--resume)
    warmup=300  # unused: the checkpoint keeps the warm-up its optimiser began with
elif [ -f "$committed" ]; then
    step=$(.venv/bin/python -c "import sys, json
from safetensors import safe_open
with safe_open(sys.argv[1], 'pt') as f: print(int(f.metadata()['all_step']))" "$committed")
    init=(--resume --init "$committed" --start-step "$step")
    warmup=100
else
    init=(--resume --init training/mssnet-small-candidate.safetensors --start-step 0)
    warmup=300
fi

# the recipe (training/recipe.args, shared with benchmarks/gpu_session.sh): MSSNet's loss
# (six-output L1 + 0.1 x FFT), 2e-4 constant after the warm-up, gradient norm clipped at 1,
# blur-only 0.8 / light noise 0.2 until step 12,000, then 0.5 / 0.3 / heavy 0.2; shakes of
# 4-26 px, 15% short ones of 2-6 px, defocus on 30%
read -ra recipe < training/recipe.args
export OMP_WAIT_POLICY=PASSIVE OMP_NUM_THREADS="$threads"
exec nice -n "${MODELKB_NICE:--10}" .venv/bin/modelkb train "$photos/train" --out "$run" \
    "${init[@]}" --threads "$threads" "${recipe[@]}" --warmup "$warmup" --save-every 50 \
    --export "$run/weights.safetensors" --quiet "$@"
