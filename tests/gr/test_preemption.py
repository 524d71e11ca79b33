"""SIGTERM during GR classifier training: a checkpoint at the current step, a clean exit, and
the same command finishing the interrupted invocation (not adding another ``epochs``)."""

import re

from tests.preemption import assert_saved_again_after, checkpoints_in, saved_step, sigterm_when

EPOCHS = 1000


def epoch_lines(log) -> int:
    return len(re.findall(rf"epoch \d+/{EPOCHS} ", log.read_text())) if log.exists() else 0


def test_sigterm_saves_stops_and_resumes(tmp_path, gr_files, make_config):
    cfg = make_config(tmp_path / "t.yaml", gr_files["std"], tmp_path / "runs",
                      train_params__epochs=EPOCHS, train_params__test_every=EPOCHS)
    args = ["-m", "exagan_tf.gr.run_controller", str(cfg), "--no-evaluate"]
    run = tmp_path / "runs" / "tiny"

    out = sigterm_when(args, checkpoints_in(run / "checkpoints"))
    step = saved_step(out)
    epoch = int(re.search(r"stopped in epoch (\d+) at step", out)[1])
    assert (run / "checkpoints" / f"ckpt-{step}.index").exists()
    assert step > (epoch - 1) * 6  # steps_per_epoch of the tiny config
    assert not list((run / "models").glob("*.keras"))  # stopped: no final model

    seen = epoch_lines(run / "train.log")
    out = sigterm_when(args, lambda: epoch_lines(run / "train.log") > seen)
    assert f"(epoch {epoch - 1})" in out and f"epochs {epoch - 1}->{EPOCHS}" in out, out[-2000:]
    assert_saved_again_after(out, step)
