#!/usr/bin/env bash
# CPU-sized runs behind the closing table of issue 5: Test0-Test2 at CPU size, pix2pix for e and
# k, the astroencoder at the noise level 5 uK-arcmin and with the analytic E, B as extra inputs;
# then the table of every model folder.
# Data first:  python -m exagan_tf.cmb.simulate --out data/cmb/cmb_maps.h5 --count 1200 --npix 64
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=${PYTHON:-.venv/bin/python}
X=experiments/cmb/experiments.yaml
$PY -m exagan_tf.cmb.main --experiment $X:Test0_cpu
$PY -m exagan_tf.cmb.main --experiment $X:Test1_cpu
$PY -m exagan_tf.cmb.main --experiment $X:Test2_cpu
$PY -m exagan_tf.cmb.main --experiment $X:Test0_cpu -a pix2pix
$PY -m exagan_tf.cmb.main --experiment $X:Test1_cpu -a pix2pix
$PY -m exagan_tf.cmb.main --experiment $X:Test0_cpu --noise 5
$PY -m exagan_tf.cmb.main --experiment $X:Test1_cpu --noise 5
$PY -m exagan_tf.cmb.main --experiment $X:EBapprox_cpu
$PY -m exagan_tf.cmb.evaluate --table expts/cmb
