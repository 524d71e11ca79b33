"""Training speed: the custom ``train_step`` under ``fit`` against the original's pattern.

The original ExaGAN trained with three ``train_on_batch`` calls per step: the discriminator on
real, the discriminator on fake (fakes from ``generator.predict``), then the stacked
generator->frozen-discriminator model. Both variants here use the same model, batch and data, in
the same process, timed alternately (A B A B ...) so machine noise hits both alike.

    python benchmarks/bench_train_step.py [--config demo] [--steps 10] [--repeats 3]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import exagan_tf  # noqa: E402,F401  (runtime defaults before TensorFlow)


def classic_trainer(cfg, data_format):
    """The original three-train_on_batch step (Keras 3 spelling), returned as a callable."""
    import keras
    import numpy as np

    from exagan_tf.core.layers import MultiChannelRescale
    from exagan_tf.cosmo.dcgan import build_discriminator, build_generator

    keras.utils.set_random_seed(cfg.seed)
    gen, disc = build_generator(cfg, data_format), build_discriminator(cfg, data_format)
    bce = keras.losses.BinaryCrossentropy(from_logits=True)
    disc.compile(optimizer=keras.optimizers.Adam(cfg.d_lr, beta_1=0.5), loss=bce)
    z_in = keras.Input((cfg.noise_vect_len,))
    stacked = keras.Model(z_in, disc(gen(z_in)))
    mcr = MultiChannelRescale(cfg.datascale, cfg.linear_scaler, data_format)
    rng = np.random.default_rng(0)
    b = cfg.batchsize
    # Trace each train function with the right trainable set: D frozen inside the stacked model.
    disc.trainable = False
    stacked.compile(optimizer=keras.optimizers.Adam(cfg.g_lr, beta_1=0.5), loss=bce)
    stacked.train_on_batch(rng.standard_normal((b, cfg.noise_vect_len)).astype("float32"),
                           np.ones((b, 1), "float32"))
    disc.trainable = True

    def step(real):
        real = mcr(real)
        noise = rng.standard_normal((b, cfg.noise_vect_len)).astype("float32")
        fake = gen.predict(noise, verbose=0, batch_size=b)
        reals, fakes = np.ones((b, 1), "float32"), np.zeros((b, 1), "float32")
        flip = rng.uniform(size=b) < cfg.label_flip
        reals[flip], fakes[flip] = 0, 1
        for _ in range(cfg.DG_update_ratio // 2):
            disc.train_on_batch(real, reals)
            disc.train_on_batch(fake, fakes)
        stacked.train_on_batch(noise, np.ones((b, 1), "float32"))

    return step


def run(config: str = "demo", steps: int = 10, repeats: int = 3, data_format: str | None = None):
    import dataclasses

    import numpy as np
    import tensorflow as tf

    from exagan_tf.config import load_exagan
    from exagan_tf.cosmo.dcgan import build_gan, image_shape
    from exagan_tf.distribute import resolve_data_format

    # the original's step: separate real/fake D batches, no spectral loss, no weight average
    # (what the classic pattern below does; the demo tag turns on all three)
    cfg = dataclasses.replace(load_exagan(config), joint_batch=False, pspec_weight=0.0,
                              g_ema=0.0)
    fmt = data_format or resolve_data_format(cfg.datafmt)
    shape = (cfg.batchsize, *image_shape(cfg, fmt, channels=1))
    batch = np.random.default_rng(1).uniform(-1, 0.95, shape).astype("float32")
    ds = tf.data.Dataset.from_tensors(batch).repeat()

    gan = build_gan(cfg, fmt)
    gan.fit(ds, steps_per_epoch=2, epochs=1, verbose=0, shuffle=False)  # trace + warm up
    classic = classic_trainer(cfg, fmt)
    for _ in range(2):
        classic(batch)

    import keras

    class StepTimer(keras.callbacks.Callback):
        def on_train_batch_begin(self, batch, logs=None):
            self.t0 = time.perf_counter()

        def on_train_batch_end(self, batch, logs=None):
            times.append(time.perf_counter() - self.t0)

    # Per-step wall times (median), so fit()'s start-up and the classic loop's set-up are
    # outside the comparison; fit is asked for one extra step whose time is dropped.
    custom, original = [], []
    for _ in range(repeats):
        times = []
        gan.fit(ds, steps_per_epoch=steps + 1, epochs=1, verbose=0, shuffle=False,
                callbacks=[StepTimer()])
        custom.extend(times[1:])
        for _ in range(steps):
            t0 = time.perf_counter()
            classic(batch)
            original.append(time.perf_counter() - t0)
    custom = [cfg.batchsize / t for t in custom]
    original = [cfg.batchsize / t for t in original]
    res = {
        "config": config, "data_format": fmt, "batch": cfg.batchsize, "img_dim": cfg.img_dim,
        "custom_train_step_img_s": statistics.median(custom),
        "classic_train_on_batch_img_s": statistics.median(original),
    }
    res["ratio"] = res["custom_train_step_img_s"] / res["classic_train_on_batch_img_s"]
    return res


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--config", default="demo")
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--data-format", default=None, choices=("channels_first", "channels_last"))
    a = p.parse_args(argv)
    r = run(a.config, a.steps, a.repeats, a.data_format)
    print(f"DCGAN '{r['config']}' {r['img_dim']}^2 batch {r['batch']} {r['data_format']}: "
          f"custom train_step {r['custom_train_step_img_s']:.1f} img/s, classic train_on_batch "
          f"{r['classic_train_on_batch_img_s']:.1f} img/s, ratio {r['ratio']:.2f}x")
    return r


if __name__ == "__main__":
    main()
