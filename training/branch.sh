#!/usr/bin/env bash
# Evaluate the run of issue 32 where it stands, on a side branch that the main run never sees:
#
#   training/branch.sh [THREADS]
#
# Copies the run's full state (its latest save, step S), trains a branch for S/10 more steps
# (at least 100) with the rate falling linearly to 1e-6 (the main run keeps its constant
# rate), exports the branch's fp16 weights, and evaluates them per skill
# (benchmarks/eval_weights.py: blur only, light, heavy at 5-20 px) and on the gallery photos
# (benchmarks/gallery_sharpness.py: fine-detail band error). Everything lands in
# $MODELKB_RUN-branches/S/; the tables print last. It runs at normal priority unless
# MODELKB_NICE says otherwise, so on a shared machine it takes the second core.
set -euo pipefail
cd "$(dirname "$0")/.."
threads="${1:-1}"
run="${MODELKB_RUN:-$HOME/.cache/modelkb/runs/deblur}"
photos="${MODELKB_PHOTOS:-$HOME/.cache/modelkb/photos}"
step=$(.venv/bin/python -c "import sys, torch
print(torch.load(sys.argv[1], map_location='cpu', weights_only=True)['all_step'])" \
    "$run/latest.pt")
cool=$(( step / 10 > 100 ? step / 10 : 100 ))
branch="$run-branches/$step"
mkdir -p "$branch"
[ -f "$branch/latest.pt" ] || cp "$run/latest.pt" "$branch/latest.pt"
MODELKB_RUN="$branch" MODELKB_NICE="${MODELKB_NICE:-0}" training/run.sh "$threads" \
    --steps $(( step + cool )) --cooldown "$cool" >"$branch/train.out" 2>&1
export OMP_NUM_THREADS="$threads" OMP_WAIT_POLICY=PASSIVE
nice -n "${MODELKB_NICE:-0}" .venv/bin/python benchmarks/eval_weights.py --photos "$photos" \
    --threads "$threads" --weights "$branch/weights.safetensors" --json "$branch/eval.json" \
    | tee "$branch/eval.md"
nice -n "${MODELKB_NICE:-0}" .venv/bin/python benchmarks/gallery_sharpness.py \
    --threads "$threads" --weights "$branch/weights.safetensors" \
    --json "$branch/gallery.json" | tee "$branch/gallery.md" || true  # exit 1: not all closer
echo "branch of step $step, cooled down over $cool steps: $branch"
