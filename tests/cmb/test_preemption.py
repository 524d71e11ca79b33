"""SIGTERM during CMB training: a checkpoint at the current step, a clean exit, and the same
command continuing from that step, completing the interrupted epoch first."""

import re

import pytest

from tests.preemption import (
    assert_saved_again_after,
    checkpoint_after,
    checkpoint_steps,
    checkpoints_in,
    saved_step,
    sigterm_when,
)


# the mechanism is shared with the muon trainer (tests/muons/test_preemption.py, in every run);
# this wiring costs two more trainer starts, so it runs with `make test-slow`
@pytest.mark.slow
def test_sigterm_saves_stops_and_resumes(tiny_data_dir, tmp_path):
    out_dir = tmp_path / "cmb_runs"
    args = ["-m", "exagan_tf.cmb.main", "--experiment", "experiments/cmb/experiments.yaml:tiny",
            "--data-dir", str(tiny_data_dir), "--output-dir", str(out_dir), "--ndeg", "1.25",
            "-vs", "0.25", "-e", "1000"]
    folder = out_dir / "astroencoder_qu-e_noise0"

    out = sigterm_when(args, checkpoints_in(folder / "checkpoints"))
    per_epoch = int(re.search(r"epochs 0->1000 of (\d+) steps", out)[1])
    step = saved_step(out)
    assert f"stopped at step {step};" in out
    assert (folder / "checkpoints" / f"ckpt-{step}.index").exists()
    assert not (folder / "metrics.json").exists()  # stopped: not evaluated

    out = sigterm_when(args, checkpoint_after(folder / "checkpoints", step))
    assert f"from ckpt-{step}" in out, out[-2000:]
    epochs = checkpoint_steps(out)
    assert epochs and epochs[0] == (step // per_epoch + 1) * per_epoch, (step, epochs)
    assert_saved_again_after(out, step)
