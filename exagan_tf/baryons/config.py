"""Configuration of the baryon-painting runs (``experiments/baryons.yaml``).

One dataclass serves the three model families (``model: cvae | cgan | cfm``); the keys that
only some of them read are documented as such. Names follow the original where it has one
(``beta_KL``, ``lambda_perceptual``, ``learning_rate``, ``adam_betas``,
``learning_rate_decay``, ``batch_size``, ``n_samples``).
"""

from __future__ import annotations

import dataclasses
import math
import typing
from pathlib import Path

from exagan_tf.config import EXPERIMENTS_DIR, RunSettings, load_config, read_tags
from exagan_tf.errors import UserError

BARYONS_FILE = EXPERIMENTS_DIR / "baryons.yaml"


@dataclasses.dataclass(frozen=True)
class BaryonConfig(RunSettings):
    """Hyperparameters of a CVAE, CGAN or conditional flow-matching painting run.

    Common: model, datadir, tile_size, pseudo_epoch (samples per pseudo-epoch: 1568 in the
    original, the checkpoint period here), train_redshifts (None = all in the data; the
    held-out run leaves 0.25 out), augment (random symmetries of the square per tile), n_eval
    (test pairs per monitored redshift), monitor_redshifts, datafmt, distribute, seed,
    keep_checkpoints, best_after, jit_compile (XLA), print_batch; transform_shift (added to both
    transformed fields instead of the original's 0 (CVAE) or -1 (CGAN); None keeps the
    original); precision (Keras dtype policy, see :mod:`exagan_tf.precision`; the networks'
    outputs and every loss stay float32; float32 = the original).

    CVAE: stages (list of [pseudo_epochs, batch_size, learning_rate], run in order: the
    original's batch 4 -> 24 at 1e-3, then 1e-4 .. 1e-6), beta_KL.

    CGAN: batch_size, learning_rate, adam_betas, learning_rate_decay (factor applied every
    lr_decay_iterations generator+discriminator iterations), n_samples (training samples),
    lambda_perceptual (weight of mean|p - p_hat|; 2.5 = the original's 5 * 0.5),
    spectral_norm_generator, spectral_norm_discriminator, d_sigmoid, g_last_batchnorm (the
    table's batch norm before the generator's tanh), lambda_l2 (weight of mean (p - p_hat)^2
    in transformed space added to the generator loss; 0 = the original), g_filters (the
    generator's first width, doubled twice: 32 -> 64 -> 128 in the table), g_res_blocks (9).

    CFM (conditional flow matching, :mod:`exagan_tf.baryons.cfm`): batch_size, learning_rate,
    adam_betas, learning_rate_decay, lr_decay_iterations and n_samples as the CGAN's (one Adam);
    fm_widths (the U-Net's widths per level; the tile must divide by 2**(levels - 1)), fm_steps
    (Heun steps of a painting), fm_scale (the flow's data are fm_scale * T(pressure)).
    """

    model: typing.Literal["cvae", "cgan", "cfm"]
    tile_size: int
    datadir: str = "data/baryons"
    pseudo_epoch: int = 1568
    train_redshifts: tuple[float, ...] | None = None
    augment: bool = True
    n_eval: int = 64
    monitor_redshifts: tuple[float, ...] = (0.0, 1.0, 2.0)
    transform_shift: float | None = None
    # CVAE
    stages: tuple[tuple[int, int, float], ...] = ()
    beta_KL: float = 1.0
    # CGAN
    batch_size: int = 6
    learning_rate: float = 5e-5
    adam_betas: tuple[float, float] = (0.5, 0.999)
    learning_rate_decay: float = 0.85
    lr_decay_iterations: int = 1568
    n_samples: int = 150000
    lambda_perceptual: float = 2.5
    spectral_norm_generator: bool = False
    spectral_norm_discriminator: bool = True
    d_sigmoid: bool = False
    g_last_batchnorm: bool = True
    lambda_l2: float = 0.0
    g_filters: int = 32
    g_res_blocks: int = 9
    # CFM
    fm_widths: tuple[int, ...] = (16, 32, 64)
    fm_steps: int = 8
    fm_scale: float = 1.0
    # run
    datafmt: typing.Literal["channels_first", "channels_last", "auto"] = "auto"
    best_after: int = 0
    print_batch: int = 50

    def validate(self) -> str | None:
        """One-line problem description, or None."""
        if self.model == "cvae":
            if not self.stages:
                return "a cvae needs stages: [[pseudo_epochs, batch_size, learning_rate], ...]"
            if self.tile_size % 32 or self.tile_size < 32:
                return f"tile_size={self.tile_size}: the CVAE needs a multiple of 32"
        elif self.model == "cfm":
            levels = len(self.fm_widths)
            if not levels or min(self.fm_widths) < 1:
                return f"fm_widths={list(self.fm_widths)}: expected one or more positive widths"
            if self.tile_size % 2 ** (levels - 1) or self.tile_size < 2 ** (levels - 1):
                return (f"tile_size={self.tile_size}: the flow's U-Net with {levels} levels "
                        f"needs a multiple of {2 ** (levels - 1)}")
            if self.datafmt == "channels_first":
                return "datafmt=channels_first: the flow's U-Net is channels_last (or auto)"
            if self.fm_steps < 1 or not self.fm_scale > 0:
                return (f"fm_steps={self.fm_steps}, fm_scale={self.fm_scale}: expected "
                        "steps >= 1 and a scale > 0")
        elif self.tile_size % 8 or self.tile_size < 24:
            return f"tile_size={self.tile_size}: the CGAN needs a multiple of 8 of at least 24"
        for i, stage in enumerate(self.stages):
            if len(stage) != 3 or stage[0] < 1 or stage[1] < 1 or not stage[2] > 0:
                return (f"stages[{i}]={list(stage)}: expected [pseudo_epochs >= 1, "
                        "batch_size >= 1, learning_rate > 0]")
        for key in ("pseudo_epoch", "batch_size", "n_samples", "lr_decay_iterations", "n_eval",
                    "print_batch", "keep_checkpoints", "g_filters", "g_res_blocks"):
            if getattr(self, key) < 1:
                return f"{key}={getattr(self, key)} must be positive"
        if self.lambda_l2 < 0 or self.lambda_perceptual < 0:
            return (f"lambda_perceptual={self.lambda_perceptual}, lambda_l2={self.lambda_l2}: "
                    "expected weights >= 0")
        if not 0 < self.learning_rate_decay <= 1:
            return f"learning_rate_decay={self.learning_rate_decay}: expected in (0, 1]"
        if not all(0 <= b < 1 for b in self.adam_betas):
            return f"adam_betas={list(self.adam_betas)}: expected values in [0, 1)"
        return None

    def schedule(self) -> list[tuple[int, int, float]]:
        """Stages ``(pseudo_epochs, batch_size, learning_rate)``; the CGAN and the CFM have one
        stage of ceil(n_samples / pseudo_epoch) pseudo-epochs (their decay runs on
        iterations)."""
        if self.model == "cvae":
            return [(int(p), int(b), float(lr)) for p, b, lr in self.stages]
        return [(math.ceil(self.n_samples / self.pseudo_epoch), self.batch_size,
                 self.learning_rate)]


def baryon_tags(path: str | Path | None = None) -> set[str]:
    """The tags of ``experiments/baryons.yaml`` (for the top-level train/analyze dispatch)."""
    return set(read_tags(path or BARYONS_FILE))


def load_baryons(tag: str, path: str | Path | None = None) -> BaryonConfig:
    """Load a tag of ``experiments/baryons.yaml`` (or ``path``)."""
    # stages stay lists of lists as in the YAML, so a resumed run compares equal
    return load_config(BaryonConfig, path or BARYONS_FILE, tag)


def check_redshift_option(cfg: BaryonConfig, available) -> list[int]:
    """Indices of ``cfg.train_redshifts`` in ``available`` (all when None); UserError if absent."""
    import numpy as np

    available = np.asarray(available, dtype=float)
    if cfg.train_redshifts is None:
        return list(range(available.size))
    out = []
    for z in cfg.train_redshifts:
        hit = np.flatnonzero(np.isclose(available, z, atol=1e-6))
        if hit.size == 0:
            raise UserError(f"train_redshifts: {z:g} is not in the data ({available.tolist()})")
        out.append(int(hit[0]))
    return out
