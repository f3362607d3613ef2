#!/usr/bin/env bash
# The CUDA check for a lent GPU machine (see the `device` tool): install the wheels the machine
# lacks (carried in .whl/, downloaded here with `pip download --python-version 3.12 ...`), run
# the test files that train, sample and load on the default device (CUDA there), then a short
# training benchmark. Everything it prints also lands in $OUT (log.txt, junit.xml, bench.txt).
#
#   run(command="bash scripts/gpu_check.sh", carry=[".whl"], timeout_s=540)
set -u
OUT=${OUT:-/tmp/gpu-out}
mkdir -p "$OUT"
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
  --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD/src:$PWD/tests PYTHONUNBUFFERED=1 CI=1
{
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
  python3 -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda, torch.cuda.is_available())"
  timeout 330 python3 -m pytest -q -n 8 -p no:cacheprovider --junitxml "$OUT/junit.xml" \
    tests/models tests/train tests/generate tests/core \
    tests/evaluate/test_image_eval.py -x --timeout 200
  echo "pytest exit: $?"
} 2>&1 | tee "$OUT/log.txt"
timeout 120 python3 -m genforge.cli.main bench train --model dcgan --image-size 64 --steps 20 \
  --repeats 3 --precision fp32,bf16 2>&1 | tee "$OUT/bench.txt"
