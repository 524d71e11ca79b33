#!/usr/bin/env bash
# The original astroDGAN experiments (Test0-Test2) as command lines, full size (128^2 maps over
# 5 deg; make the data first with
#   python -m exagan_tf.cmb.simulate --out data/cmb_full/cmb_maps.h5 --count 12000 --npix 128
# ).  CPU=1 runs the CPU-sized variants (the *_cpu tags of experiments.yaml) instead.
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=${PYTHON:-python}
if [[ "${CPU:-0}" == 1 ]]; then
  for t in Test0_cpu Test1_cpu Test2_cpu; do
    $PY -m exagan_tf.cmb.main --experiment experiments/cmb/experiments.yaml:$t
  done
  exit 0
fi
DATA=${DATA_DIR:-./data/cmb_full}
OUT=${OUTPUT_DIR:-./results}
# Test0: q,u -> e, astroencoder, 150 epochs, lambda 100, no generator bias
$PY -m exagan_tf.cmb.main -i qu -o e -a astroencoder -e 150 --lambda 100 --no-generator-use-bias --data-dir "$DATA" --output-dir "$OUT"
# Test1: q,u -> k, astroencoder, 100 epochs, lambda 100, no generator bias
$PY -m exagan_tf.cmb.main -i qu -o k -a astroencoder -e 100 --lambda 100 --no-generator-use-bias --data-dir "$DATA" --output-dir "$OUT"
# Test2: q,u,e,k -> b, pix2pix, 250 epochs, lambda 10, no generator bias, no residuals
$PY -m exagan_tf.cmb.main -i quek -o b -a pix2pix -e 250 --lambda 10 --no-generator-use-bias --no-residuals --data-dir "$DATA" --output-dir "$OUT"
