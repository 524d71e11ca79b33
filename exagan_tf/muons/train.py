"""Train the muon GAN, VAE, spline flow or Gaussian mixture of one category.

    python -m exagan_tf.muons.train gan TAG RUN [--category CAT] [-nG 6 -nD 3 -layersG 2
        -layersD 2 -l 5e-5 -o 0] [--datadir DIR] [--steps N]
    python -m exagan_tf.muons.train vae TAG RUN [--category CAT] [-iE 100 -iD 100 -layersE 3
        -layersD 3 -x 1000 -lr 1e-3] [--datadir DIR] [--steps N]
    python -m exagan_tf.muons.train flow TAG RUN [--category CAT] [-lr 1e-3]
    python -m exagan_tf.muons.train gmm TAG RUN [--category CAT]

The flow (``flow_*`` tags, :mod:`exagan_tf.muons.flow`) trains on the same loop as the VAE; the
Gaussian mixture (``gmm_*``, :mod:`exagan_tf.muons.gmm`) by weighted EM, judged by the same FOM.

TAG is a tag of ``experiments/muons.yaml`` (``gan_*`` / ``vae_*``); the flags override its keys
and the resolved values are the run's config. Output: ``expts/muon_TAG/runRUN_CAT/`` with
config.yaml, command.txt, train.log, TensorBoard ``logs/`` (losses; every ``save_interval``
steps the FOM rchi2 / overlap / AUC and the memorisation check nn_ratio / nn_close, 1D and 2D
histograms real vs generated, the BDT output), ``fom_floor.json`` (copies of the training muons
vs the held-out sample: what a perfect generator scores) and ``fom_untrained.json`` (the
untrained network), the latest checkpoint for resuming and, in ``models/``, the weights with
the best reduced chi^2, the best overlap and the best AUC (``g_best_rchi2``,
``g_best_nonoverlap``, ``g_best_auc_gap``; VAE: ``decoder_``/``encoder_`` prefixes) with their
records. Running the same command resumes.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import numpy as np

from exagan_tf.errors import UserError, cli_errors
from exagan_tf.muons.models import build_gan_model, build_vae_model

GAN_FLAGS = {  # original flag -> (config key, type)
    "-l": ("learning_rate", float),
    "-o": ("optimizer_choice", int),
    "-nG": ("node_factor_G", float),
    "-nD": ("node_factor_D", float),
    "-layersG": ("num_layersG", int),
    "-layersD": ("num_layersD", int),
}
VAE_FLAGS = {
    "-iE": ("intermediate_dimE", int),
    "-iD": ("intermediate_dimD", int),
    "-layersE": ("layersE", int),
    "-layersD": ("layersD", int),
    "-x": ("xent_factor", float),
    "-lr": ("learning_rate", float),
}
FLOW_FLAGS = {"-lr": ("learning_rate", float)}
KIND_FLAGS = {"gan": GAN_FLAGS, "vae": VAE_FLAGS, "flow": FLOW_FLAGS, "gmm": {}}
BEST_KEYS = ("rchi2", "nonoverlap", "auc_gap")
FOM_KEYS = ("rchi2", "overlap", "nonoverlap", "auc", "auc_gap", "dof", "nn_ratio", "nn_close")


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m exagan_tf.muons.train",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = p.add_subparsers(dest="kind", required=True)
    for kind, flags in KIND_FLAGS.items():
        s = sub.add_parser(kind, help=f"train the muon {kind.upper()}")
        s.add_argument("tag", help=f"{kind}_* tag of experiments/muons.yaml")
        s.add_argument("run", help="run number or name")
        s.add_argument("--category", default=None, help="mup_prompt ... mum_displaced, or 1-4")
        s.add_argument("--datadir", default=None, help="preprocessed data folder")
        s.add_argument("--steps", type=int, default=None, help="total training steps")
        s.add_argument("--seed", type=int, default=None, help="config key seed")
        s.add_argument("--config-file", default=None, help="default experiments/muons.yaml")
        s.add_argument("--expts", default="expts", help="root of run directories")
        s.add_argument("--dry-run", action="store_true", help="print the resolved config")
        for flag, (key, typ) in flags.items():
            s.add_argument(flag, dest=key, type=typ, default=None, help=f"config key {key}")
    return p.parse_args(argv)


def resolve_config(args: argparse.Namespace):
    """The tag's config with the command-line overrides applied (validated)."""
    from exagan_tf.config import build_config, config_to_dict
    from exagan_tf.muons.config import MUON_EXPERIMENTS, load_muon_config
    from exagan_tf.muons.preprocess import get_category

    if not args.tag.startswith(args.kind):
        raise UserError(f"tag '{args.tag}' is not a {args.kind} tag (expected {args.kind}_*)")
    cfg = load_muon_config(args.tag, args.config_file)
    values = config_to_dict(cfg)
    flags = KIND_FLAGS[args.kind]
    for key, _ in flags.values():
        if getattr(args, key, None) is not None:
            values[key] = getattr(args, key)
    if args.category is not None:
        values["category"] = get_category(args.category).name
    if args.datadir is not None:
        values["datadir"] = args.datadir
    if args.steps is not None:
        values["steps"] = args.steps
    if args.seed is not None:
        values["seed"] = args.seed
    return build_config(type(cfg), values, args.tag, args.config_file or MUON_EXPERIMENTS)


@cli_errors
def main(argv=None) -> int:
    """CLI entry point."""
    args = parse_args(argv)
    cfg = resolve_config(args)
    if args.dry_run:
        import yaml

        from exagan_tf.config import config_to_dict

        print(yaml.safe_dump({args.tag: config_to_dict(cfg)}, sort_keys=False), end="")
        return 0
    argv = list(argv if argv is not None else sys.argv[1:])
    train(args.kind, cfg, args.tag, args.run, Path(args.expts), argv)
    return 0


def run_name(tag: str, run, category: str) -> tuple[str, str]:
    """(config tag folder, run id) of a muon run: ``expts/muon_TAG/runRUN_CAT``."""
    return f"muon_{tag}", f"{run}_{category}"


class FomMonitor:
    """The statistics function for ``SampleMonitor``: the BDT FOM of generated muons against
    ``real``, the run's fixed held-out sample (:func:`fom.heldout_real_sample`: the BDT's two
    halves from disjoint held-out rows), and the memorisation check against the training muons
    (:func:`fom.memorisation`); keeps the last BDT outputs for the BDT-output figure.
    :meth:`floor` is what a perfect generator scores against the same sample."""

    def __init__(self, cfg, seed: int, train_rows: tuple, heldout: tuple):
        from scipy.spatial import cKDTree

        from exagan_tf.muons.fom import heldout_real_sample

        self.cfg, self.seed, self.last = cfg, seed, None
        self.x_tr, self.w_tr = train_rows
        self.real = heldout_real_sample(*heldout, cfg.bdt_train_size, cfg.bdt_test_size, seed + 1)
        self.tree = cKDTree(np.asarray(self.x_tr, np.float64))

    def floor(self) -> dict:
        """The FOM of copies of the training muons (``FLOOR_DRAWS`` draws) against ``real``."""
        from exagan_tf.muons.fom import fom_floor

        c = self.cfg
        return fom_floor(self.real, self.x_tr, self.w_tr, c.bdt_train_size, c.bdt_test_size,
                         c.fom_classifier, self.seed)

    def __call__(self, val: np.ndarray, gen: np.ndarray) -> dict:
        from exagan_tf.muons.fom import bdt_fom, memorisation

        r = bdt_fom(
            val,
            gen,
            self.cfg.bdt_train_size,
            self.cfg.bdt_test_size,
            self.cfg.fom_classifier,
            self.seed,
            keep_outputs=True,
        )
        self.last = (r.pop("out_real"), r.pop("out_fake"))
        r.update(memorisation(self.tree, val, gen))
        return {k: float(r[k]) for k in FOM_KEYS}

    def figure(self, val, gen):
        from exagan_tf.muons.fom import bdt_output_figure

        return bdt_output_figure(*self.last)


def train(kind: str, cfg, tag: str, run_id, expts: Path, argv: list[str],
          folder: str | None = None, command: list[str] | None = None) -> Path:
    """Create or resume the run and train it to ``cfg.steps``; returns the run directory:
    ``expts/muon_TAG/runRUN_CAT`` (the muon script's layout), or ``expts/FOLDER/runRUN`` when
    ``folder`` is given (``exagan train``). ``command``: the words recorded in command.txt."""
    if kind == "gmm":  # fitted by weighted EM (NumPy/scikit-learn), no training loop
        from exagan_tf.muons.gmm import train_gmm

        folder, rid = run_name(tag, run_id, cfg.category) if folder is None else (folder, run_id)
        return train_gmm(cfg, tag, folder, rid, expts,
                         command or ["-m", "exagan_tf.muons.train", *argv], FomMonitor)
    from exagan_tf.muons import preprocess as pp

    cat = pp.get_category(cfg.category)
    x, w = pp.load_category(cfg.datadir, cat.name)
    (x_tr, w_tr), (x_val, w_val) = pp.split_train_val(x, w, cfg.val_fraction)
    n_fom = cfg.bdt_train_size + cfg.bdt_test_size
    batch = cfg.batch // 2 if kind == "gan" else cfg.batch_size

    import keras
    import tensorflow as tf

    from exagan_tf import distribute
    from exagan_tf.core import callbacks as cb
    from exagan_tf.core.trainer import Lifecycle, best_metrics, tag_run
    from exagan_tf.fileio import write_json_atomic
    from exagan_tf.muons import fom

    folder, rid = run_name(tag, run_id, cat.name) if folder is None else (folder, run_id)
    life = Lifecycle(  # multi-worker: only the chief writes the run
        cfg, *tag_run(cfg, folder, rid, expts, command or ["-m", "exagan_tf.muons.train", *argv]),
        "exagan_tf.muons",
    )
    run, log, strategy = life.run, life.log, life.strategy
    life.record({"kind": kind, "config_tag": tag, "category": cat.name, "n_train": len(x_tr),
                 "n_val": len(x_val), "jit_compile": cfg.jit_compile})
    with strategy.scope():
        keras.utils.set_random_seed(cfg.seed)
        model = KIND_BUILDERS[kind](cfg, cat.dim)
        best = best_metrics(BEST_KEYS)
    if kind == "gan":
        nets = {
            "generator": model.generator,
            "discriminator": model.discriminator,
            "d_optimizer": model.d_optimizer,
            "g_optimizer": model.g_optimizer,
        }
        save = {"g": model.generator, "d": model.discriminator}
        finals = {"generator_final.keras": model.generator}
    elif kind == "vae":
        nets = {"encoder": model.encoder, "decoder": model.decoder, "optimizer": model.optimizer}
        save = {"decoder": model.decoder, "encoder": model.encoder}
        finals = {"decoder_final.keras": model.decoder, "encoder_final.keras": model.encoder}
    else:
        nets, save = {"flow": model, "optimizer": model.optimizer}, {"flow": model}
        finals = {"flow_final.keras": model}
    life.checkpoint({**nets, **best}, describe=lambda: f" (step {int(model.step.numpy())})")
    start = int(model.step.numpy())
    periods = math.ceil(cfg.steps / cfg.save_interval)
    steps = periods * cfg.save_interval
    final_paths = [run.models / f for f in [*finals, "final.json"]]
    if start >= steps and not cb.stale_exports(final_paths, life.manager):
        log.info(f"{run.path}: already trained to step {start}; nothing to do")
        return run.path

    def sample_fn(n: int) -> np.ndarray:
        if kind == "gan":
            from exagan_tf.core.gan import generate_images

            out = generate_images(model.generator, cfg.latent, n, cfg.seed + 777, 4096)
        elif kind == "flow":
            out = np.clip(model.sample(n, seed=cfg.seed + 777), -1.0, 1.0)
        else:
            out = 2.0 * model.sample(n=n, seed=cfg.seed + 777) - 1.0
        return np.asarray(out, np.float64)

    monitor_fn = FomMonitor(cfg, cfg.seed, (x_tr, w_tr), (x_val, w_val))
    val = monitor_fn.real  # the FOM's real sample, fixed for the whole run
    if not (run.path / "fom_floor.json").exists():
        floor = monitor_fn.floor()
        write_json_atomic(run.path / "fom_floor.json", floor)
        log.info(f"FOM floor (copies of training muons vs held-out muons, {floor['draws']} draws:"
                 f" what a perfect generator scores): " + _fmt(floor)
                 + f" auc {floor['auc_min']:.4f}-{floor['auc_max']:.4f}")
    if start == 0 and not (run.path / "fom_untrained.json").exists():
        untrained = monitor_fn(val, sample_fn(n_fom))
        write_json_atomic(run.path / "fom_untrained.json", untrained)
        log.info("FOM untrained: " + _fmt(untrained))

    def make_data(batch_size: int):
        # multi-worker: every worker draws its own weighted stream from all training muons
        seed = distribute.worker_seed(cfg.seed * 1_000_003 + start, strategy)
        if kind == "flow":
            from exagan_tf.muons.flow import flow_dataset

            return flow_dataset(cfg, x_tr, w_tr, seed)
        data = pp.weighted_dataset(x_tr, w_tr, batch_size, seed=seed)
        return data.map(lambda b: (b + 1.0) / 2.0) if kind == "vae" else data

    data = distribute.distribute_input(strategy, make_data, batch)
    writer = tf.summary.create_file_writer(str(run.logs))
    names = list(cat.features)
    monitor = cb.SampleMonitor(
        sample_fn,
        val,
        monitor_fn,
        {
            "features_1d": lambda v, g: fom.feature_histograms_figure(v, g, names),
            "features_2d": lambda v, g: fom.pair_histograms_figure(v, g, names),
            "bdt_output": monitor_fn.figure,
        },
        writer,
        run.models,
        save,
        cfg.best_after,
        best,
        cfg.save_interval,
        log,
        life.guard,
    )
    callbacks = life.callbacks(cb.ProgressLog(log, cfg.print_every, steps, batch), monitor)
    log.info(
        f"run {run.path} | {kind} {cat.name} ({cat.dim}-D) | {len(x_tr)} train, "
        f"{len(x_val)} held out | steps {start}->{steps}"
    )
    t0 = time.perf_counter()
    with life.preempt:  # a signal between two fit calls is caught too
        if life.fit_periods(model, data, start, steps, cfg.save_interval, callbacks):
            life.stopped(steps)
            return run.path
    done = int(model.step.numpy())
    if start >= steps:  # stopped after its last checkpoint, before its exports: the final FOM
        log.info(f"{run.path}: trained to step {done}; writing the final exports it lacked")
        monitor.last_stats = monitor_fn(val, sample_fn(n_fom))
    life.export(finals)
    write_json_atomic(
        run.models / "final.json",
        {"step": done, "train_seconds": time.perf_counter() - t0, **monitor.last_stats},
        overwrite=True,
    )
    log.info(f"done: step {done}, {(done - start) / (time.perf_counter() - t0):.1f} steps/s")
    return run.path


def _fmt(d: dict) -> str:
    return " ".join(f"{k}={d[k]:.4g}" for k in FOM_KEYS if k in d)


def load_run_config(run_dir: str | Path):
    """(kind, config) of a finished run directory."""
    import yaml

    from exagan_tf.config import config_from_dict
    from exagan_tf.muons.config import (
        MuonFlowConfig,
        MuonGANConfig,
        MuonGMMConfig,
        MuonVAEConfig,
    )

    run_dir = Path(run_dir)
    path = run_dir / "config.yaml"
    if not path.is_file():
        raise UserError(f"{run_dir}: no config.yaml; not a muon run directory")
    values = yaml.safe_load(path.read_text())
    if not isinstance(values, dict):
        raise UserError(f"{path}: expected a mapping of config keys")
    kind = ("vae" if "xent_factor" in values else "flow" if "bins" in values
            else "gmm" if "components" in values else "gan")
    cls = {"gan": MuonGANConfig, "vae": MuonVAEConfig, "flow": MuonFlowConfig,
           "gmm": MuonGMMConfig}[kind]
    return kind, config_from_dict(cls, values, str(path))


def load_trained(run_dir: str | Path, which: str = "best_rchi2"):
    """(kind, config, model) of a run: the GAN generator, the VAE (encoder + decoder), the flow
    or the Gaussian mixture, with the weights ``which`` = best_rchi2 | best_nonoverlap |
    best_auc_gap | final (a mixture has one fit: ``which`` is ignored)."""
    from exagan_tf.muons import preprocess as pp

    run_dir = Path(run_dir)
    kind, cfg = load_run_config(run_dir)
    dim = pp.get_category(cfg.category).dim
    models_dir = run_dir / "models"
    if kind == "gmm":
        from exagan_tf.muons.gmm import load_mixture

        return kind, cfg, load_mixture(models_dir / "gmm.npz")
    if kind == "flow":
        model = build_flow_model(cfg, dim)
        nets = {"flow": model}
    elif kind == "gan":
        from exagan_tf.muons import models

        g = models.build_generator(dim, cfg.node_factor_G, cfg.num_layersG, cfg.latent)
        nets = {"g": g}
    else:
        model = build_vae_model(cfg, dim)
        nets = {"encoder": model.encoder, "decoder": model.decoder}
    for prefix, net in nets.items():
        if which == "final":
            from exagan_tf.fileio import load_model_safe

            name = "generator" if prefix == "g" else prefix
            path = models_dir / f"{name}_final.keras"
            if not path.is_file():
                raise UserError(f"{path}: no such model; has the run finished?")
            net.set_weights(load_model_safe(path).get_weights())
        else:
            path = models_dir / f"{prefix}_{which}.weights.h5"
            if not path.is_file():
                raise UserError(f"{path}: no such weights file (which={which!r})")
            net.load_weights(path)
    return kind, cfg, (nets["g"] if kind == "gan" else model)


def build_flow_model(cfg, dim: int):
    """The compiled spline flow (:func:`exagan_tf.muons.flow.build_flow_model`)."""
    from exagan_tf.muons import flow

    return flow.build_flow_model(cfg, dim)


KIND_BUILDERS = {"gan": build_gan_model, "vae": build_vae_model, "flow": build_flow_model}


if __name__ == "__main__":
    sys.exit(main())
