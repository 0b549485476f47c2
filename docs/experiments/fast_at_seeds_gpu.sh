#!/usr/bin/env bash
# Experiment behind docs/strong-attacks.md "Seeds": the fast-AT reference's recipe (three
# signed-gradient steps of 0.75 eps, the default) against single-step FGSM-RS of the same
# step, seeds 1-3 each, all 60,000 training images, AutoAttack at eps 0.3 on the first
# 1,000 test images. Six processes of fast_at_capacity.py side by side on one GPU.
#
# Run from the repository root on a machine with CUDA, torch, h5py and numpy, with
# results/data/mnist.h5 of a run and torchattacks 3.5.1 as a wheel in .whl/ (no network):
#     OUT=/some/folder bash docs/experiments/fast_at_seeds_gpu.sh
# Each run writes $OUT/k<steps>_seed<seed>.log, whose last line is its figures as JSON.
set -uo pipefail
OUT=${OUT:?set OUT to a folder for the logs}
if ! python3 -c "import torchattacks" 2>/dev/null; then
  python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .whl/torchattacks-*.whl || exit 1
  export PYTHONPATH=/tmp/site
fi
export PYTHONPATH=${PYTHONPATH:+$PYTHONPATH:}src PYTHONUNBUFFERED=1
{ nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader; nproc; python3 -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available())"; } > "$OUT/machine.txt" 2>&1
for steps in 3 1; do
  for seed in 1 2 3; do
    name="k${steps}_seed${seed}"
    (python3 docs/experiments/fast_at_capacity.py --data results/data/mnist.h5 --network lenet_relu \
        --step-ratio 0.75 --attack-steps "$steps" --seed "$seed" --device cuda --threads 2 --chunk 1000 \
        --json "/tmp/$name.json" > "$OUT/$name.log" 2>&1 && tr -d '\n' < "/tmp/$name.json" >> "$OUT/$name.log") &
  done
done
wait
grep -h "AutoAttack accuracy\|clean error\|PGD-50\|training " "$OUT"/k*.log
