"""SIGTERM during muon training: a checkpoint at the current step, a clean exit, and the same
command continuing from that step (the mechanism of every ``fit``-driven trainer:
``core.callbacks.PreemptionGuard`` plus ``core.callbacks.fit_in_periods``)."""

from tests.preemption import (
    assert_saved_again_after,
    checkpoint_after,
    checkpoint_steps,
    checkpoints_in,
    saved_step,
    sigterm_when,
)

PERIOD = 4  # save_interval of the vae_test tag


def test_sigterm_saves_stops_and_resumes(preprocessed, tmp_path):
    data, _ = preprocessed
    expts = tmp_path / "expts"
    args = ["-m", "exagan_tf.muons.train", "vae", "vae_test", "0", "--category", "1",
            "--datadir", str(data), "--expts", str(expts), "--steps", "100000"]
    run = expts / "muon_vae_test" / "run0_mup_prompt"

    out = sigterm_when(args, checkpoints_in(run / "checkpoints"))
    step = saved_step(out)
    assert f"stopped at step {step} of 100000" in out
    assert (run / "checkpoints" / f"ckpt-{step}.index").exists()

    out = sigterm_when(args, checkpoint_after(run / "checkpoints", step))
    assert f"resumed {run} from ckpt-{step} (step {step})" in out, out[-2000:]
    # a period interrupted at `step` is completed first: checkpoints stay on period boundaries
    periods = checkpoint_steps(out)
    assert periods and periods[0] == (step // PERIOD + 1) * PERIOD, (step, periods)
    assert all(p % PERIOD == 0 for p in periods)
    assert_saved_again_after(out, step)
    assert (run / "command.txt").read_text().count(" resume: ") == 1
