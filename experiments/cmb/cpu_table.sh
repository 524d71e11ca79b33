#!/usr/bin/env bash
# CPU-sized runs behind the closing table of issue 5 (README, CMB section): Test0-Test2 at CPU
# size as the original defines them, then the delensing configuration (Delens_cpu: a kappa
# network feeding a network that corrects the analytic E) with the astroencoder at noise 0 and
# 5 uK-arcmin and with pix2pix at noise 0; then the table of every model folder (with the
# mean-deflection floor and each generator untrained, seeds 483-485) and the budget
# of the analytic E baseline (window leakage, lensing, noise, mean-deflection floor).
# Data first:  python -m exagan_tf.cmb.simulate --out data/cmb/cmb_maps.h5 --count 1200 --npix 64
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=${PYTHON:-.venv/bin/python}
X=experiments/cmb/experiments.yaml
$PY -m exagan_tf.cmb.main --experiment $X:Test0_cpu
$PY -m exagan_tf.cmb.main --experiment $X:Test1_cpu
$PY -m exagan_tf.cmb.main --experiment $X:Test2_cpu
$PY -m exagan_tf.cmb.main --experiment $X:Delens_cpu
$PY -m exagan_tf.cmb.main --experiment $X:Delens_cpu -a pix2pix
$PY -m exagan_tf.cmb.main --experiment $X:Delens_cpu --noise 5
$PY -m exagan_tf.cmb.evaluate --table expts/cmb --untrained-seeds 3
$PY -m exagan_tf.cmb.evaluate --budget data/cmb
$PY -m exagan_tf.cmb.evaluate --budget data/cmb --noise 5
