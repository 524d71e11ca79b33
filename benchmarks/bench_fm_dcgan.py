"""Cost of the two ExaGAN model kinds on the same data, timed in one process.

One training step of the ``demo`` DCGAN (as that tag trains it: joint batch, spectral loss)
against one step of the ``fm_demo`` flow-matching U-Net, and sampling (DCGAN: one generator
pass; flow matching: ``fm_steps`` Heun steps, two U-Net passes each), alternately (A B A B ...)
so that machine noise hits both alike. The ratio is what to read: the equal-time comparison in
the README divides a budget of training seconds by these per-step costs.

    python benchmarks/bench_fm_dcgan.py [--steps 10] [--repeats 3] [--samples 128]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import exagan_tf  # noqa: E402,F401  (runtime defaults before TensorFlow)


def run(steps: int = 10, repeats: int = 3, samples: int = 128) -> dict:
    import keras
    import numpy as np
    import tensorflow as tf

    from exagan_tf.config import load_exagan
    from exagan_tf.core.flow_matching import FlowMatching, sample
    from exagan_tf.cosmo import fm
    from exagan_tf.cosmo.dcgan import build_gan, image_shape

    dc, fc = load_exagan("demo"), load_exagan("fm_demo")
    fmt = "channels_last"
    rng = np.random.default_rng(1)
    counts = rng.poisson(2.0, (256, dc.img_dim, dc.img_dim)).astype("float32")
    s_batch = (2 * counts[: dc.batchsize] / (counts[: dc.batchsize] + dc.datascale) - 1)[..., None]
    gan = build_gan(dc, fmt, train_counts=counts, total_steps=1000)
    ds_gan = tf.data.Dataset.from_tensors(s_batch).repeat()
    net = fm.build_velocity(fc)
    flow = FlowMatching(net, seed=0)
    flow.compile(optimizer=keras.optimizers.Adam(1e-3))
    u_batch = fm.to_log_space(tf.constant(s_batch[: fc.batchsize]))
    ds_flow = tf.data.Dataset.from_tensors(u_batch).repeat()
    assert s_batch.shape[1:] == image_shape(dc, fmt, channels=1)

    class StepTimer(keras.callbacks.Callback):
        def __init__(self, out):
            super().__init__()
            self.out = out

        def on_train_batch_begin(self, batch, logs=None):
            self.t0 = time.perf_counter()

        def on_train_batch_end(self, batch, logs=None):
            self.out.append(time.perf_counter() - self.t0)

    for model, ds in ((gan, ds_gan), (flow, ds_flow)):  # trace and warm up
        model.fit(ds, steps_per_epoch=2, epochs=1, verbose=0)
    gen = gan.generator
    noise = rng.standard_normal((samples, dc.noise_vect_len)).astype("float32")
    gen.predict(noise[:8], verbose=0)
    sample(net, 8, seed=0, steps=fc.fm_steps)
    t_gan, t_flow, s_gan, s_flow = [], [], [], []
    for _ in range(repeats):
        a, b = [], []
        gan.fit(ds_gan, steps_per_epoch=steps + 1, epochs=1, verbose=0, callbacks=[StepTimer(a)])
        flow.fit(ds_flow, steps_per_epoch=steps + 1, epochs=1, verbose=0,
                 callbacks=[StepTimer(b)])
        t_gan.extend(a[1:])
        t_flow.extend(b[1:])
        t0 = time.perf_counter()
        gen.predict(noise, verbose=0, batch_size=64)
        s_gan.append(samples / (time.perf_counter() - t0))
        t0 = time.perf_counter()
        sample(net, samples, seed=0, steps=fc.fm_steps)
        s_flow.append(samples / (time.perf_counter() - t0))
    res = {
        "dcgan_step_s": statistics.median(t_gan), "flow_step_s": statistics.median(t_flow),
        "dcgan_sample_img_s": statistics.median(s_gan),
        "flow_sample_img_s": statistics.median(s_flow),
        "dcgan_batch": dc.batchsize, "flow_batch": fc.batchsize, "fm_steps": fc.fm_steps,
    }
    res["step_ratio"] = res["flow_step_s"] / res["dcgan_step_s"]
    res["sample_ratio"] = res["dcgan_sample_img_s"] / res["flow_sample_img_s"]
    return res


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--samples", type=int, default=128)
    a = p.parse_args(argv)
    r = run(a.steps, a.repeats, a.samples)
    print(f"training step (batch {r['dcgan_batch']}): DCGAN demo {r['dcgan_step_s']:.3f} s, "
          f"flow matching fm_demo {r['flow_step_s']:.3f} s, ratio {r['step_ratio']:.2f}x; "
          f"sampling: DCGAN {r['dcgan_sample_img_s']:.0f} img/s, flow matching "
          f"({r['fm_steps']} Heun steps) {r['flow_sample_img_s']:.1f} img/s, ratio "
          f"{r['sample_ratio']:.0f}x")
    return r


if __name__ == "__main__":
    main()
