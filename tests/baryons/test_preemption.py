"""SIGTERM during baryon painting training (the CVAE's staged loop): a checkpoint at the current
step, a clean exit, and the same command continuing from that step."""

import re

import pytest
import yaml

from tests.preemption import checkpoints_in, sigterm_when

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
    step = int(re.search(r"SIGTERM received: checkpoint saved at step (\d+);", out)[1])
    assert f"stopped at step {step} of 600" in out, out[-2000:]
    assert (run / "checkpoints" / f"ckpt-{step}.index").exists()

    def later_checkpoint():
        return any(int(p.name[5:-6]) > step for p in (run / "checkpoints").glob("ckpt-*.index"))

    out = sigterm_when(args, later_checkpoint)
    assert f"from ckpt-{step} (step {step})" in out, out[-2000:]
    periods = [int(s) for s in re.findall(r"checkpoint \d+ \(step (\d+)\)", out)]
    assert periods and periods[0] == (step // PERIOD + 1) * PERIOD, (step, periods)
    again = re.search(r"checkpoint saved at step (\d+);", out)
    assert again and int(again[1]) > step, out[-2000:]
