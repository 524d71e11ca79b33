"""SIGTERM during baryon painting training (the CVAE's staged loop): a checkpoint at the current
step, a clean exit, and the same command continuing from that step."""

import pytest
import yaml

from tests.preemption import (
    assert_saved_again_after,
    checkpoint_after,
    checkpoint_steps,
    checkpoints_in,
    saved_step,
    sigterm_when,
)

PERIOD = 4  # pseudo_epoch 8 at batch 2


# the mechanism is shared with the muon trainer (tests/muons/test_preemption.py, in every run);
# this wiring costs two more trainer starts, so it runs with `make test-slow`
@pytest.mark.slow
def test_sigterm_saves_stops_and_resumes(tiny_config):
    cfg_file, expts = tiny_config
    doc = yaml.safe_load(cfg_file.read_text())
    doc["cvae_test"]["stages"] = [[100, 2, 0.001], [100, 4, 0.0001]]  # far more than the test runs
    cfg_file.write_text(yaml.safe_dump(doc))
    args = ["-m", "exagan_tf.baryons.train", "cvae_test", "0", "--config-file", str(cfg_file),
            "--expts", str(expts)]
    run = expts / "cvae_test" / "run0"

    out = sigterm_when(args, checkpoints_in(run / "checkpoints"))
    step = saved_step(out)
    assert f"stopped at step {step} of 600" in out, out[-2000:]
    assert (run / "checkpoints" / f"ckpt-{step}.index").exists()

    out = sigterm_when(args, checkpoint_after(run / "checkpoints", step))
    assert f"from ckpt-{step} (step {step})" in out, out[-2000:]
    periods = checkpoint_steps(out)
    assert periods and periods[0] == (step // PERIOD + 1) * PERIOD, (step, periods)
    assert_saved_again_after(out, step)
