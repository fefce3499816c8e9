#!/usr/bin/env bash
# One prepared GPU session for issues 18 and 19: weights training first, then the benchmarks.
#
# Prepare here (no GPU needed), once per session:
#   echo /.gpu/ >> .git/info/exclude; echo /.whl/ >> .git/info/exclude
#   .venv/bin/python -m modelkb.train.photos /tmp/photos          # full-resolution photos
#   .venv/bin/python benchmarks/gpu_prepare.py /tmp/photos .gpu   # 1.6 MP copies, < 20 MB
#   python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 \
#       --implementation cp --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
#       -d .whl scikit-image==0.25.2 safetensors tqdm filelock platformdirs pyyaml pydantic \
#       pydantic-core typing-inspection annotated-types lazy-loader tifffile imageio networkx
# Then, with the device tool, in one call (about 14 minutes):
#   run(command="bash benchmarks/gpu_session.sh", carry=[".gpu", ".whl"], timeout_s=600)
# and a second call for what did not fit, with STAGES=bench.
#
# Stages (STAGES, default "train bench"):
#   train  fine-tune mssnet-small (from INIT: the training candidate in training/ when it
#          exists, else the shipped file) for TRAIN_MINUTES (default 10) on the GPU, bf16
#          autocast, channels_last, DataLoader workers cutting windows and the GPU making the
#          blur, noise and JPEG (--synth auto = device on CUDA); export fp16 safetensors and
#          evaluate it against the shipped file at 5-25 px shake and on the gallery photos
#          (Laplacian sharpness, with crops in $OUT/strips to look for invented detail).
#          The loss is version 3's (EDGE_WEIGHT=2, DETAIL_WEIGHT=0); the model card explains
#          why the detail term is off (it invents halos and texture at CPU-scale training).
#          NOISE_MIX (default "0.5 0.4"): shares of blur-only and light-noise samples, so the
#          network learns to deblur, not only to denoise (issue 25). The evaluation reports
#          the three conditions (blur only, light, heavy) for the shipped file and the new one
#   bench  training throughput per mode (fp32, channels_last, bf16, bf16+channels_last,
#          + torch.compile) and data crops/s per synthesis path (benchmarks/bench_train.py);
#          inference options per variant at 1280x720 (images/s, % of peak, error with the
#          trained weights) and a 100-photo gallery end to end (photos/s, stage shares)
# Everything lands in $OUT (the device tool brings it back); the tables print last.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-/tmp/gpu-out}
mkdir -p "$OUT"
if ls .whl/*.whl >/dev/null 2>&1; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target /tmp/site .whl/*.whl
    export PYTHONPATH=/tmp/site:$PWD/hooks
else
    export PYTHONPATH=$PWD/hooks
fi
export PYTHONUNBUFFERED=1
STAGES=${STAGES:-train bench}
TRAIN_MINUTES=${TRAIN_MINUTES:-10}
if [ -f training/mssnet-small-candidate.safetensors ]; then
    INIT=${INIT:-training/mssnet-small-candidate.safetensors}
else
    INIT=${INIT:-hooks/modelkb/weights/mssnet-small-modelkb.safetensors}
fi
PHOTOS=${PHOTOS:-.gpu/photos}
WORKERS=${WORKERS:-$(( $(nproc) - 2 ))}
nvidia-smi --query-gpu=name,memory.total,clocks.max.sm --format=csv | tee "$OUT/gpu.txt" || true

if [[ " $STAGES " == *" train "* ]]; then
    # Steps for the time budget: measured 1 step/s on the old loop, ~7/s fed by 15 CPU-side
    # synthesis workers at batch 16 x 256 px. Device-side synthesis should be faster; 5/s is
    # planned so the cosine schedule finishes inside the time limit (a cut-off run would
    # stop at a high learning rate). Raise STEPS_PER_MINUTE after a first run.
    STEPS=$(( TRAIN_MINUTES * ${STEPS_PER_MINUTE:-300} ))
    timeout $(( TRAIN_MINUTES * 60 + 90 )) python3 -m modelkb.cli train "$PHOTOS/train" \
        --out "$OUT/ckpt" --init "$INIT" --noise-mix ${NOISE_MIX:-0.5 0.4} \
        --device cuda --batch 16 --crop 256 --steps "$STEPS" --warmup 100 --lr 2e-4 \
        --workers "$WORKERS" --save-every 200 --blur-length 3 32 --defocus-radius 0.5 4 \
        --seed 19 --edge-weight "${EDGE_WEIGHT:-2.0}" --detail-weight "${DETAIL_WEIGHT:-0}" \
        --quiet --export "$OUT/mssnet-small-gpu.safetensors" \
        2>&1 | tee "$OUT/train.log" || echo "training stopped at its time limit"
    if [ ! -f "$OUT/mssnet-small-gpu.safetensors" ] && [ -f "$OUT/ckpt/latest.pt" ]; then
        python3 - "$OUT" <<'PY'
import sys
from pathlib import Path
from modelkb.models.weights import save_safetensors
from modelkb.train.recipe import load_checkpoint
out = Path(sys.argv[1])
ckpt = load_checkpoint(out / "ckpt" / "latest.pt")
save_safetensors(ckpt["model_state_dict"], out / "mssnet-small-gpu.safetensors",
                 metadata={"all_step": str(ckpt["all_step"])})
PY
    fi
    python3 benchmarks/eval_weights.py --photos "$PHOTOS" --weights \
        hooks/modelkb/weights/mssnet-small-modelkb.safetensors \
        "$OUT/mssnet-small-gpu.safetensors" --json "$OUT/eval.json" \
        --plot "$OUT/gain.png" 2>&1 | tee "$OUT/eval.txt"
    python3 benchmarks/gallery_sharpness.py --weights \
        hooks/modelkb/weights/mssnet-small-modelkb.safetensors \
        "$OUT/mssnet-small-gpu.safetensors" --json "$OUT/gallery-sharpness.json" --strips "$OUT/strips" \
        2>&1 | tee "$OUT/gallery-sharpness.txt" || true
fi

if [[ " $STAGES " == *" bench "* ]]; then
    timeout 60 python3 benchmarks/bench_train.py --photos "$PHOTOS" --device cuda --threads 4 \
        --batch 16 --crop 256 --data-only 40 2>&1 | tee "$OUT/train-data.md" || true
    timeout 240 python3 benchmarks/bench_train.py --photos "$PHOTOS" --device cuda --threads 4 \
        --batch 16 --crop 256 --steps 25 --modes fp32 channels_last bf16 bf16+channels_last \
        bf16+channels_last+compile 2>&1 | tee "$OUT/train-modes.md" || true
    for variant in mssnet-small mssnet; do
        timeout 150 python3 benchmarks/bench_mssnet.py --device cuda options --variant "$variant" \
            --size 1280x720 --batch 4 2>&1 | tee "$OUT/options-$variant.md" || true
    done
    timeout 200 python3 benchmarks/bench_gallery.py --device cuda --photos 100 --size 1152x864 \
        --workers 1 2 4 --repeats 1 2>&1 | tee "$OUT/gallery.md" || true
fi
echo "== tables =="
cat "$OUT"/eval.txt "$OUT"/gallery-sharpness.txt "$OUT"/train-*.md "$OUT"/options-*.md "$OUT"/gallery.md 2>/dev/null | grep -E "^\||^[a-z].*:" | tail -60
