"""Training-step, data-pipeline and generation throughput of every system, at demo shapes.

Each training row builds the model exactly as the system's training command does (same builder,
optimizers and loop: ``model.fit`` on the shared GAN / ConditionalGAN / VAE or the compiled
classifier) and times ``fit`` on one fixed batch repeated, per step (a callback), so the data
pipeline is outside the step (it has its own rows). In the same process, alternating A B A B,
it times the classic Keras pattern of the original codes on an identically built model:

- GANs: ``D.train_on_batch(real)``, ``D.train_on_batch(G.predict(noise))``, then
  ``stacked.train_on_batch(noise, 1)`` with D frozen (ExaGAN, the muon GAN);
- conditional GANs: D on (x, y) and (x, G.predict(x)) pairs, then a combined
  ``x -> [D(x, G(x)), G(x)]`` model with losses [BCE, MAE] weighted [1, lambda] (pix2pix
  style), D every ``d_interval`` steps as the project does;
- VAEs and classifiers: a Python loop of ``model.train_on_batch``.

FLOPs per sample per step are counted with :mod:`flops` from each network's built shapes and the
passes the step makes (3x a trained network, 2x a network only differentiated through, 1x a
network only evaluated).

    python benchmarks/bench_systems.py [--only dcgan_base,cvae] [--steps 8] [--repeats 2]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT))

from flops import FORWARD, THROUGH, TRAIN, forward_flops  # noqa: E402

import exagan_tf  # noqa: E402,F401  (runtime defaults before TensorFlow)

FMT = "channels_last"  # what datafmt 'auto' resolves to on a CPU


@dataclasses.dataclass
class Bench:
    """One system's training step ready to time."""

    model: object  # the project's compiled keras.Model
    data: object  # one fixed batch: an array or a tuple of arrays
    classic: Callable[[], Callable[[object], None]] | None  # builds the classic step
    flops_per_sample: float  # analytic FLOPs of one training step per sample of the batch
    period: int = 1  # steps per measurement must be a multiple (D every `period` steps)


@dataclasses.dataclass
class Case:
    """A benchmark row: ``make(jit)`` builds a :class:`Bench` (``jit`` = XLA on)."""

    key: str
    system: str
    shapes: str
    batch: int
    unit: str
    make: Callable[[bool], Bench]
    conv: bool = True  # convolutional (the 60%-of-peak goal applies)


# ----------------------------------------------------------------------------- classic patterns


def classic_gan(gen, disc, noise_dim: int, batch: int, d_rounds: int, lr_d: float, lr_g: float,
                *, label_flip: float = 0.0, label_noise: float = 0.0, real_noise: float = 0.0,
                real_pre=None, optimizer=None):
    """The original three-``train_on_batch`` GAN step on (freshly built) ``gen`` and ``disc``."""
    import keras
    import numpy as np

    make_opt = optimizer or (lambda lr: keras.optimizers.Adam(lr, beta_1=0.5))
    bce = keras.losses.BinaryCrossentropy(from_logits=True)
    disc.compile(optimizer=make_opt(lr_d), loss=bce)
    z_in = keras.Input((noise_dim,))
    stacked = keras.Model(z_in, disc(gen(z_in)))
    rng = np.random.default_rng(0)
    disc.trainable = False  # traced with D frozen inside the stacked model
    stacked.compile(optimizer=make_opt(lr_g), loss=bce)
    stacked.train_on_batch(rng.standard_normal((batch, noise_dim)).astype("float32"),
                           np.ones((batch, 1), "float32"))
    disc.trainable = True
    ones = np.ones((batch, 1), "float32")

    def step(real):
        if real_pre is not None:
            real = real_pre(real)
        if real_noise:
            real = real + real_noise * rng.standard_normal(real.shape).astype("float32")
        noise = rng.standard_normal((batch, noise_dim)).astype("float32")
        fake = gen.predict(noise, verbose=0, batch_size=batch)
        reals, fakes = ones.copy(), np.zeros((batch, 1), "float32")
        flip = rng.uniform(size=batch) < label_flip
        reals[flip], fakes[flip] = 0, 1
        if label_noise:
            reals = np.clip(reals + label_noise * rng.standard_normal(reals.shape), 0, 1)
            fakes = np.clip(fakes + label_noise * rng.standard_normal(fakes.shape), 0, 1)
        for _ in range(d_rounds):
            disc.train_on_batch(real, reals)
            disc.train_on_batch(fake, fakes)
        stacked.train_on_batch(noise, ones)

    return step


def classic_cgan(gen, disc, l1_weight: float, from_logits: bool, make_opt, d_interval: int = 1):
    """The pix2pix-style Keras pattern: D on real and fake pairs, then a combined model."""
    import keras
    import numpy as np

    bce = keras.losses.BinaryCrossentropy(from_logits=from_logits)
    disc.compile(optimizer=make_opt(), loss=bce)
    x_in = keras.Input(gen.inputs[0].shape[1:])
    y_hat = gen(x_in)
    combined = keras.Model(x_in, [disc([x_in, y_hat]), y_hat])
    disc.trainable = False
    combined.compile(optimizer=make_opt(), loss=[bce, "mae"], loss_weights=[1.0, l1_weight])
    state = {"step": 0, "traced": False}

    def step(data):
        x, y = data
        out_shape = (x.shape[0], *disc.outputs[0].shape[1:])
        ones, zeros = np.ones(out_shape, "float32"), np.zeros(out_shape, "float32")
        if not state["traced"]:
            combined.train_on_batch(x, [ones, y])
            disc.trainable = True
            state["traced"] = True
        if state["step"] % d_interval == 0:
            fake = gen.predict(x, verbose=0, batch_size=len(x))
            disc.train_on_batch([x, y], ones)
            disc.train_on_batch([x, fake], zeros)
        combined.train_on_batch(x, [ones, y])
        state["step"] += 1

    return step


def classic_loop(model):
    """A Python loop of ``model.train_on_batch`` (VAE: data only; classifier: x, y)."""

    def step(data):
        if isinstance(data, tuple):  # (x, y): a classifier's labels, a conditional VAE's y
            model.train_on_batch(*data)
        else:
            model.train_on_batch(data)

    return step


# ----------------------------------------------------------------------------- the systems


def _rng(seed=1):
    import numpy as np

    return np.random.default_rng(seed)


def _jit(model, jit: bool):
    if jit:
        model.jit_compile = True
    return model


def dcgan_case(multichannel: bool, full_size: bool = False) -> tuple[Case, object]:
    """ExaGAN DCGAN with the base step (separate real/fake D batches, D twice per G step, the
    base kernel, no spectral loss), with (base) or without (nomcr) multi-channel rescaling; at
    the demo shapes, or with ``full_size`` the ``base`` config itself (128^2, 4 layers, batch
    64: the size the GPU runs use)."""
    from exagan_tf.config import load_exagan

    base = load_exagan("base")
    shapes = base if full_size else load_exagan("demo")
    cfg = dataclasses.replace(shapes, joint_batch=False, pspec_weight=0.0, g_ema=0.0,
                              lr_decay=0.0, dequantize=False, convkern=base.convkern,
                              learn_rate=base.learn_rate, multichannel=multichannel, datafmt=FMT)

    def make(jit):
        from exagan_tf.core.layers import MultiChannelRescale
        from exagan_tf.cosmo.dcgan import build_discriminator, build_gan, build_generator

        c = dataclasses.replace(cfg, jit_compile=jit)
        gan = build_gan(c, FMT)
        shape = (c.batchsize, c.img_dim, c.img_dim, 1)
        batch = _rng().uniform(-1, 0.95, shape).astype("float32")
        G, D = forward_flops(gan.generator), forward_flops(gan.discriminator)
        r = c.DG_update_ratio // 2
        flops = FORWARD * G + r * 2 * TRAIN * D + TRAIN * G + THROUGH * D

        def classic():
            import keras

            keras.utils.set_random_seed(c.seed)
            mcr = MultiChannelRescale(c.datascale, c.linear_scaler, FMT) if multichannel else None
            return classic_gan(build_generator(c, FMT), build_discriminator(c, FMT),
                               c.noise_vect_len, c.batchsize, r, c.d_lr, c.g_lr,
                               label_flip=c.label_flip,
                               real_pre=(lambda x: mcr(x).numpy()) if mcr else None)

        return Bench(gan, batch, classic, flops)

    name = "base (MCR)" if multichannel else "nomcr"
    key = f"dcgan_{'base' if multichannel else 'nomcr'}" + ("_full" if full_size else "")
    return Case(key, "ExaGAN",
                f"DCGAN {name}: {cfg.img_dim}^2, {cfg.nlayers} layers, batch {cfg.batchsize}",
                cfg.batchsize, "img", make), cfg


def baryon_case(model: str) -> Case:
    """Baryon painting CVAE or CGAN at the demo tiles (32^2); CVAE at its last stage's batch."""
    from exagan_tf.baryons.config import load_baryons

    cfg = load_baryons(f"{model}_demo")
    batch = cfg.schedule()[-1][1] if model == "cvae" else cfg.batch_size
    t = cfg.tile_size

    def make(jit):
        import keras

        from exagan_tf.baryons.models import build_model, build_networks

        keras.utils.set_random_seed(cfg.seed)
        c = dataclasses.replace(cfg, jit_compile=jit)
        nets = build_networks(c, FMT)
        m = build_model(c, nets)
        rng = _rng()
        cond = rng.standard_normal((batch, t, t, 2)).astype("float32")
        target = rng.standard_normal((batch, t, t, 1)).astype("float32")
        if model == "cvae":
            flops = TRAIN * sum(forward_flops(nets[k]) for k in ("encoder", "decoder", "prior"))

            def classic():
                keras.utils.set_random_seed(cfg.seed)
                return classic_loop(build_model(cfg, build_networks(cfg, FMT)))

            return Bench(m, (target, cond), classic, flops)
        G, D = forward_flops(nets["generator"]), forward_flops(nets["discriminator"])
        flops = FORWARD * G + 2 * TRAIN * D + TRAIN * G + THROUGH * D

        def classic():
            keras.utils.set_random_seed(cfg.seed)
            n = build_networks(cfg, FMT)
            return classic_cgan(
                n["generator"], n["discriminator"], cfg.lambda_perceptual, cfg.d_sigmoid,
                lambda: keras.optimizers.Adam(cfg.learning_rate, beta_1=cfg.adam_betas[0],
                                              beta_2=cfg.adam_betas[1], epsilon=1e-8))

        return Bench(m, (cond, target), classic, flops)

    what = "CVAE" if model == "cvae" else "CGAN"
    return Case(model, "baryons", f"{what}: {t}^2 tiles, batch {batch}", batch, "tile", make)


def gr_case(config: str, label: str) -> Case:
    """RACOON / PENGUIN GR-vs-Newton classifier at the demo slices."""
    from exagan_tf.gr.config import load_gr_config

    cfg = load_gr_config(ROOT / "experiments" / "gr" / config)
    d = cfg.data_params
    shape = (32, 32, 1)
    if Path(ROOT / d.datafile).exists():
        from exagan_tf.gr.data import inspect_file

        info = inspect_file(ROOT / d.datafile)
        shape = (info.size, info.size, info.num_channels)

    def make(jit):
        import keras

        from exagan_tf.gr.architectures import build_classifier

        keras.utils.set_random_seed(cfg.train_params.seed)
        model, _ = build_classifier(cfg, shape, FMT)
        _jit(model, jit)
        rng = _rng()
        x = rng.standard_normal((d.batch_size, *shape)).astype("float32")
        y = (rng.uniform(size=(d.batch_size, 1)) < 0.5).astype("float32")

        def classic():
            keras.utils.set_random_seed(cfg.train_params.seed)
            return classic_loop(build_classifier(cfg, shape, FMT)[0])

        return Bench(model, (x, y), classic, TRAIN * forward_flops(model))

    return Case(label.lower(), "GR", f"{label}: {shape[0]}^2 slices, batch {d.batch_size}",
                d.batch_size, "slice", make)


def cmb_case(tag: str, label: str) -> Case:
    """CMB pix2pix / UResNet (astroencoder) at the CPU table's flags (64^2, filters 8)."""
    from exagan_tf.cmb.flags import parse_args

    args = parse_args(["--experiment", f"{ROOT / 'experiments/cmb/experiments.yaml'}:{tag}"])
    npix = 64

    def make(jit):
        import keras

        from exagan_tf.cmb.models import build_models

        gen, disc, gan = build_models(args, npix)
        _jit(gan, jit)
        rng = _rng()
        x = rng.standard_normal((args.batch_size, npix, npix, len(args.inputs))).astype("float32")
        y = rng.standard_normal((args.batch_size, npix, npix, len(args.outputs))).astype(
            "float32")
        G, D = forward_flops(gen), forward_flops(disc)
        k = args.discriminator_interval
        flops = (FORWARD * G + 2 * TRAIN * D) / k + TRAIN * G + THROUGH * D

        def classic():
            g2, d2, _ = build_models(args, npix)
            return classic_cgan(g2, d2, args.lambda_, False,
                                lambda: keras.optimizers.Adam(args.learning_rate, beta_1=0.5),
                                d_interval=k)

        return Bench(gan, (x, y), classic, flops, period=k)

    return Case(label.lower(), "CMB",
                f"{label} {args.inputs}->{args.outputs}: {npix}^2, filters {args.filters}, batch "
                f"{args.batch_size}, D every {args.discriminator_interval}",
                args.batch_size, "map", make)


def muon_case(kind: str) -> Case:
    """Muon GAN / VAE at the demo configs (6-D displaced muons)."""
    from exagan_tf.muons.config import load_muon_config

    cfg = load_muon_config(f"{kind}_demo")
    dim = 6
    batch = cfg.batch // 2 if kind == "gan" else cfg.batch_size

    def make(jit):
        import keras

        from exagan_tf.muons import models
        from exagan_tf.muons.models import build_gan_model, build_vae_model

        keras.utils.set_random_seed(cfg.seed)
        rng = _rng()
        if kind == "gan":
            gan = _jit(build_gan_model(cfg, dim), jit)
            x = rng.uniform(-1, 1, (batch, dim)).astype("float32")
            G, D = forward_flops(gan.generator), forward_flops(gan.discriminator)
            flops = FORWARD * G + 2 * TRAIN * D + TRAIN * G + THROUGH * D

            def classic():
                keras.utils.set_random_seed(cfg.seed)
                g = models.build_generator(dim, cfg.node_factor_G, cfg.num_layersG, cfg.latent)
                d = models.build_discriminator(dim, cfg.node_factor_D, cfg.num_layersD)
                return classic_gan(
                    g, d, cfg.latent, batch, 1, cfg.learning_rate, cfg.learning_rate,
                    label_noise=cfg.label_noise, real_noise=cfg.real_noise,
                    optimizer=lambda lr: models.make_optimizer(cfg.optimizer_choice, lr))

            return Bench(gan, x, classic, flops)
        vae = _jit(build_vae_model(cfg, dim), jit)
        x = rng.uniform(0, 1, (batch, dim)).astype("float32")
        flops = TRAIN * (forward_flops(vae.encoder) + forward_flops(vae.decoder))

        def classic():
            keras.utils.set_random_seed(cfg.seed)
            return classic_loop(build_vae_model(cfg, dim))

        return Bench(vae, x, classic, flops)

    return Case(f"muon_{kind}", "muons", f"muon {kind.upper()}: {dim}-D, batch {batch}", batch,
                "muon", make, conv=False)


def all_cases() -> list[Case]:
    """Every training row, in table order."""
    (base, _), (nomcr, _) = dcgan_case(True), dcgan_case(False)
    return [base, nomcr, baryon_case("cvae"), baryon_case("cgan"),
            gr_case("demo.yaml", "RACOON"), gr_case("demo_penguin.yaml", "PENGUIN"),
            cmb_case("Test2_cpu", "pix2pix"), cmb_case("Test0_cpu", "UResNet"),
            muon_case("gan"), muon_case("vae")]


# ----------------------------------------------------------------------------- timing


def _dataset(data):
    import tensorflow as tf

    return tf.data.Dataset.from_tensors(data).repeat()


def fit_timer(model, data, batch: int):
    """A callable ``rate(steps)``: samples/s of ``model.fit`` over ``steps`` steps (per-step
    times from a callback; the first step of each call is dropped)."""
    import keras

    times: list[float] = []

    class StepTimer(keras.callbacks.Callback):
        def on_train_batch_begin(self, b, logs=None):
            self.t0 = time.perf_counter()

        def on_train_batch_end(self, b, logs=None):
            times.append(time.perf_counter() - self.t0)

    ds = _dataset(data)
    model.fit(ds, steps_per_epoch=2, epochs=1, verbose=0)  # trace and warm up

    def rate(steps: int) -> float:
        times.clear()
        model.fit(ds, steps_per_epoch=steps + 1, epochs=1, verbose=0, callbacks=[StepTimer()])
        return batch * steps / sum(times[1:])

    return rate


def loop_timer(step: Callable[[object], None], data, batch: int):
    """A callable ``rate(steps)``: samples/s of a Python loop of ``step(data)``."""
    step(data)  # trace
    step(data)

    def rate(steps: int) -> float:
        t0 = time.perf_counter()
        for _ in range(steps):
            step(data)
        return batch * steps / (time.perf_counter() - t0)

    return rate


def best_alternating(timers: dict[str, Callable[[int], float]], steps: int,
                     repeats: int) -> dict[str, float]:
    """Best rate of each timer over ``repeats`` rounds, the timers taking turns in each round."""
    best = {k: 0.0 for k in timers}
    for _ in range(repeats):
        for k, t in timers.items():
            best[k] = max(best[k], t(steps))
    return best


def measure_case(case: Case, steps: int, repeats: int, classic: bool = True,
                 xla: bool = False, torch_cfg=None) -> dict:
    """Project step (and classic / XLA / PyTorch peers when asked), samples/s, best of rounds."""
    bench = case.make(False)
    steps = max(bench.period, -(-steps // bench.period) * bench.period)
    timers = {"project": fit_timer(bench.model, bench.data, case.batch)}
    if classic and bench.classic is not None:
        timers["classic"] = loop_timer(bench.classic(), bench.data, case.batch)
    if xla:
        jb = case.make(True)
        timers["xla"] = fit_timer(jb.model, jb.data, case.batch)
    if torch_cfg is not None:
        import bench_torch

        tstep, tbatch = bench_torch.make_step(torch_cfg)
        timers["torch"] = loop_timer(tstep, tbatch, case.batch)
    rates = best_alternating(timers, steps, repeats)
    return {"key": case.key, "system": case.system, "shapes": case.shapes, "batch": case.batch,
            "unit": case.unit, "steps": steps, "conv": case.conv,
            "flops_per_sample": bench.flops_per_sample, "rates": rates, "bench": bench}


def project_rates(keys: list[str], steps: int, repeats: int) -> dict[str, float]:
    """Project-step samples/s of the named cases (used by the oneDNN child processes)."""
    cases = {c.key: c for c in all_cases()}
    return {k: measure_case(cases[k], steps, repeats, classic=False)["rates"]["project"]
            for k in keys}


# ----------------------------------------------------------------------------- pipelines


def drain_rate(ds, batches: int, size=lambda b: len(b[0]) if isinstance(b, tuple) else len(b)):
    """Samples/s delivered by iterating ``ds`` for ``batches`` batches (after one warm-up)."""
    it = iter(ds)
    next(it)
    n, t0 = 0, time.perf_counter()
    for _ in range(batches):
        n += int(size(next(it)))
    return n / (time.perf_counter() - t0)


def pipeline_rows(batches: int) -> list[dict]:
    """samples/s of every system's training tf.data pipeline (real demo data where present)."""
    import numpy as np

    rows = []

    def add(system, what, consumers, fn):
        row = {"system": system, "what": what, "consumers": consumers}
        try:
            row["samples_s"] = fn()
        except FileNotFoundError as e:
            row.update(samples_s=None, note=str(e))
        rows.append(row)

    def exagan():
        from exagan_tf.config import load_exagan
        from exagan_tf.cosmo.data import make_dataset, shard_files

        cfg = load_exagan("demo")
        files = shard_files(ROOT / cfg.datadir, cfg.dataname, "train") if (
            ROOT / cfg.datadir / cfg.dataname / "train").exists() else None
        if files:
            return drain_rate(make_dataset(files, cfg.img_dim, cfg.batchsize, cfg.datascale, FMT),
                              batches)
        import bench_pipeline

        with tempfile.TemporaryDirectory() as tmp:
            files = bench_pipeline.write_temp_shards(Path(tmp), 1024, cfg.img_dim)
            return drain_rate(make_dataset(files, cfg.img_dim, cfg.batchsize, cfg.datascale,
                                           FMT), batches)

    def need(path):
        if not Path(path).exists():
            raise FileNotFoundError(f"{path} missing")

    def baryons(model):
        from exagan_tf.baryons import data as bdata
        from exagan_tf.baryons.config import load_baryons
        from exagan_tf.baryons.simulate import read_stats
        from exagan_tf.baryons.transforms import Transform

        cfg = load_baryons(f"{model}_demo")
        need(ROOT / cfg.datadir / "baryon_maps.h5")
        tiles = bdata.load_tiles(ROOT / cfg.datadir, "train", cfg.tile_size)
        tr = Transform.from_stats(read_stats(ROOT / cfg.datadir), model,
                                  [float(z) for z in tiles.redshifts])
        return drain_rate(bdata.make_dataset(tiles, tr, cfg.schedule()[-1][1], seed=0,
                                             data_format=FMT, target_first=model == "cvae"),
                          batches)

    def gr():
        from exagan_tf.gr import data as gdata
        from exagan_tf.gr.config import load_gr_config

        cfg = load_gr_config(ROOT / "experiments/gr/demo.yaml")
        d = cfg.data_params
        need(ROOT / d.datafile)
        seeds, _ = gdata.split_seeds(d.train_seeds, d.test_seeds)
        ds = gdata.make_dataset(d.loader, ROOT / d.datafile, seeds, d.newton_augmentation, FMT)
        return drain_rate(ds.dataset(d.batch_size, shuffle=True, repeat=True,
                                     shuffle_buffer=d.shuffle_buffer), batches)

    def cmb():
        import tensorflow as tf

        from exagan_tf.cmb import data as cdata

        need(ROOT / "data/cmb/cmb_maps.h5")
        dd = cdata.load_data(ROOT / "data/cmb", "qu", "e", max_maps=1200, seed=483)
        n = len(dd.x_train)
        ds = (tf.data.Dataset.from_tensor_slices((dd.x_train, dd.y_train))
              .shuffle(n, seed=483, reshuffle_each_iteration=True).repeat()
              .batch(16, drop_remainder=True).prefetch(tf.data.AUTOTUNE))
        return drain_rate(ds, batches)

    def muons(batch, vae):
        from exagan_tf.muons import preprocess as pp

        folder = ROOT / "data/muons/demo"
        if (folder / "mum_displaced.h5").exists():
            x, w = pp.load_category(folder, "mum_displaced")
        else:  # same pipeline on random muons
            x, w = np.tanh(_rng().standard_normal((100_000, 6))), np.ones(100_000)
        ds = pp.weighted_dataset(x, w, batch, seed=0)
        if vae:  # as the VAE's training command: features in [0, 1]
            ds = ds.map(lambda b: (b + 1.0) / 2.0)
        return drain_rate(ds, batches * 10)

    add("ExaGAN", "demo shards -> s(x) batches of 32 (64^2)", ["dcgan_base", "dcgan_nomcr"],
        exagan)
    add("baryons", "tiles -> augmented CVAE pairs, batch 24 (32^2)", ["cvae"],
        lambda: baryons("cvae"))
    add("baryons", "tiles -> augmented CGAN pairs, batch 6 (32^2)", ["cgan"],
        lambda: baryons("cgan"))
    add("GR", "demo_z6.h5 cubes (6 redshift channels) -> slices, batch 32 (32^2)",
        ["racoon", "penguin"], gr)
    add("CMB", "maps -> shuffled batches of 16 (64^2)", ["pix2pix", "uresnet"], cmb)
    add("muons", "weighted draws, batch 50 (6-D)", ["muon_gan"], lambda: muons(50, False))
    add("muons", "weighted draws -> [0, 1], batch 100 (6-D)", ["muon_vae"],
        lambda: muons(100, True))
    return rows


# ----------------------------------------------------------------------------- generation


def generation_rows(results: dict[str, dict], n_images: int, n_muons: int) -> list[dict]:
    """DCGAN images/s, CMB maps/s (from the trained-step models) and muons/s end to end."""
    import numpy as np

    from exagan_tf.core.gan import generate_images

    rows = []
    if "dcgan_base" in results:
        gan = results["dcgan_base"]["bench"].model
        generate_images(gan.generator, gan.noise_dim, 256, 0, 256)  # warm up
        t0 = time.perf_counter()
        generate_images(gan.generator, gan.noise_dim, n_images, 1, 256)
        rows.append({"what": "DCGAN base images (64^2, batches of 256)", "unit": "images/s",
                     "rate": n_images / (time.perf_counter() - t0)})
    for key in ("uresnet", "pix2pix"):
        if key in results:
            gan = results[key]["bench"].model
            x = np.repeat(results[key]["bench"].data[0], max(1, n_images // 16), axis=0)
            gan.predict_in_batches(x[:64], 64)
            t0 = time.perf_counter()
            gan.predict_in_batches(x, 64)
            rows.append({"what": f"CMB {key} maps (64^2, batches of 64)", "unit": "maps/s",
                         "rate": len(x) / (time.perf_counter() - t0)})
    import bench_muons

    for r in bench_muons.bench_generation(n_muons):
        if r["name"] in ("generate_6d_folded", "generate_6d_keras"):
            kind = "folded NumPy" if r["name"].endswith("folded") else "Keras"
            rows.append({"what": f"muons 6-D original-size G ({kind}) -> ROOT files",
                         "unit": "muons/s", "rate": float(r["muons_per_s"])})
    return rows


def main(argv=None) -> list[dict]:
    """Time the named cases' project and classic steps and print one line each."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--only", default=None, help="comma-separated case keys")
    p.add_argument("--steps", type=int, default=8)
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--child", action="store_true",
                   help="print project-step rates as JSON (oneDNN child process)")
    a = p.parse_args(argv)
    keys = a.only.split(",") if a.only else [c.key for c in all_cases()]
    if a.child:
        print("RESULT " + json.dumps(project_rates(keys, a.steps, a.repeats)), flush=True)
        return []
    cases = {c.key: c for c in all_cases()}
    rows = []
    for k in keys:
        r = measure_case(cases[k], a.steps, a.repeats)
        r.pop("bench")
        rows.append(r)
        print(json.dumps(r), flush=True)
    return rows


if __name__ == "__main__":
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    main()
