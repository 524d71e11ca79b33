"""Muon GAN / VAE configurations (``experiments/muons.yaml``), under the original flag names.

GAN keys from ``GAN_BC.py``: learning_rate (``-l``), optimizer_choice (``-o``), node_factor_G
(``-nG``), node_factor_D (``-nD``), num_layersG (``-layersG``), num_layersD (``-layersD``),
batch (100: 50 real + 50 generated per discriminator update), save_interval, bdt_train_size,
and the fixed values label_noise (0.3), real_noise (0.001), latent (100).

VAE keys from ``VAE_BC.py``: batch_size (``-b``), save_interval (``-s``), xent_factor (``-x``),
intermediate_dimE (``-iE``), intermediate_dimD (``-iD``), latent_dim (``-l``, not ``-lr``),
optimizer_choice (``-o``, unused by the original), learning_rate (``-lr``), layersE, layersD,
and dropout (the rate of the Dropout layers, fixed at 0.25 by the original; 0 leaves them out).

Spline flow (``flow_*``, :mod:`exagan_tf.muons.flow`) and Gaussian mixture (``gmm_*``,
:mod:`exagan_tf.muons.gmm`): their own keys (see the classes), the FOM keys as the GAN's.

Added (GAN and VAE): category, datadir, steps, bdt_test_size, fom_classifier, val_fraction, seed,
best_after, keep_checkpoints, print_every, distribute, precision (Keras dtype policy, see
:mod:`exagan_tf.precision`; float32 = the original) and jit_compile (XLA; off by default).
"""

from __future__ import annotations

import dataclasses
import typing
from pathlib import Path

from exagan_tf.config import EXPERIMENTS_DIR, RunSettings, load_config, read_tags

MUON_EXPERIMENTS = EXPERIMENTS_DIR / "muons.yaml"
CATEGORY_NAMES = ("mup_prompt", "mum_prompt", "mup_displaced", "mum_displaced")


def _common_problems(cfg) -> str | None:
    if cfg.category not in CATEGORY_NAMES:
        return f"category={cfg.category!r}: expected one of {', '.join(CATEGORY_NAMES)}"
    for key in ("steps", "save_interval", "bdt_train_size", "bdt_test_size", "print_every"):
        if getattr(cfg, key) <= 0:
            return f"{key}={getattr(cfg, key)} must be positive"
    if not 0.0 < cfg.val_fraction < 1.0:
        return f"val_fraction={cfg.val_fraction} must be in (0, 1)"
    if cfg.learning_rate <= 0:
        return f"learning_rate={cfg.learning_rate} must be positive"
    return None


@dataclasses.dataclass(frozen=True)
class MuonGANConfig(RunSettings):
    """Dense muon GAN (``GAN_BC.py`` defaults)."""

    category: str
    datadir: str
    learning_rate: float = 0.00005
    optimizer_choice: int = 0
    node_factor_G: float = 6
    node_factor_D: float = 3
    num_layersG: int = 2
    num_layersD: int = 2
    batch: int = 100
    latent: int = 100
    label_noise: float = 0.3
    real_noise: float = 0.001
    save_interval: int = 5000
    steps: int = 10_000_000
    bdt_train_size: int = 50_000
    bdt_test_size: int = 50_000
    fom_classifier: typing.Literal["gbc", "hist"] = "gbc"
    val_fraction: float = 0.2
    joint_batch: bool = False
    best_after: int = 0
    print_every: int = 100

    def validate(self) -> str | None:
        """One-line problem, or None."""
        problem = _common_problems(self)
        if problem:
            return problem
        if self.batch < 2 or self.batch % 2:
            return f"batch={self.batch} must be even (half real, half generated)"
        if self.optimizer_choice not in (0, 1, 2):
            return f"optimizer_choice={self.optimizer_choice}: expected 0, 1 or 2"
        for key in ("num_layersG", "num_layersD"):
            if not 1 <= getattr(self, key) <= 6:
                return f"{key}={getattr(self, key)} must be in 1..6"
        if self.node_factor_G <= 0 or self.node_factor_D <= 0:
            return "node_factor_G and node_factor_D must be positive"
        if self.label_noise < 0 or self.real_noise < 0:
            return "label_noise and real_noise must be >= 0"
        return None


@dataclasses.dataclass(frozen=True)
class MuonVAEConfig(RunSettings):
    """Dense muon VAE (``VAE_BC.py`` defaults)."""

    category: str
    datadir: str
    learning_rate: float = 0.001
    xent_factor: float = 1000.0
    intermediate_dimE: int = 100
    intermediate_dimD: int = 100
    layersE: int = 3
    layersD: int = 3
    latent_dim: int = 4
    dropout: float = 0.25
    batch_size: int = 100
    save_interval: int = 10_000
    steps: int = 10_000_000
    bdt_train_size: int = 50_000
    bdt_test_size: int = 50_000
    fom_classifier: typing.Literal["gbc", "hist"] = "gbc"
    val_fraction: float = 0.2
    best_after: int = 0
    print_every: int = 100

    def validate(self) -> str | None:
        """One-line problem, or None."""
        problem = _common_problems(self)
        if problem:
            return problem
        for key in (
            "intermediate_dimE",
            "intermediate_dimD",
            "layersE",
            "layersD",
            "latent_dim",
            "batch_size",
        ):
            if getattr(self, key) < 1:
                return f"{key}={getattr(self, key)} must be >= 1"
        if self.xent_factor <= 0:
            return f"xent_factor={self.xent_factor} must be positive"
        if not 0.0 <= self.dropout < 1.0:
            return f"dropout={self.dropout} must be in [0, 1)"
        return None


@dataclasses.dataclass(frozen=True)
class MuonFlowConfig(RunSettings):
    """Spline flow of one muon category (keys as the VAE's where they mean the same)."""

    category: str
    datadir: str
    learning_rate: float = 0.001
    layers: int = 8
    bins: int = 8
    hidden: int = 128
    depth: int = 2
    bound: float = 4.0
    squash: float = 0.999
    batch_size: int = 512
    weighting: typing.Literal["sample", "loss"] = "sample"
    lr_decay: bool = True
    save_interval: int = 2000
    steps: int = 20000
    bdt_train_size: int = 50_000
    bdt_test_size: int = 50_000
    fom_classifier: typing.Literal["gbc", "hist"] = "gbc"
    val_fraction: float = 0.2
    best_after: int = 0
    print_every: int = 100

    def validate(self) -> str | None:
        """One-line problem, or None."""
        problem = _common_problems(self)
        if problem:
            return problem
        for key in ("layers", "hidden", "depth", "batch_size"):
            if getattr(self, key) < 1:
                return f"{key}={getattr(self, key)} must be >= 1"
        if self.bins < 2:
            return f"bins={self.bins} must be >= 2"
        if self.bound <= 1.0:
            return f"bound={self.bound} must exceed 1 (the features span [-1, 1])"
        if not 0.0 <= self.squash < 1.0:
            return f"squash={self.squash}: expected 0 (none) or a factor in (0, 1)"
        if self.precision != "float32":
            return f"precision={self.precision!r}: the flow trains in float32 only"
        return None


@dataclasses.dataclass(frozen=True)
class MuonGMMConfig(RunSettings):
    """Weighted Gaussian mixture of one muon category (FOM keys as the GAN's; of the run
    settings only the seed acts: the fit is NumPy/scikit-learn)."""

    category: str
    datadir: str
    components: int = 64
    max_iter: int = 200
    tol: float = 1e-3
    reg_covar: float = 1e-6
    init_rows: int = 20_000
    bdt_train_size: int = 50_000
    bdt_test_size: int = 50_000
    fom_classifier: typing.Literal["gbc", "hist"] = "gbc"
    val_fraction: float = 0.2

    def validate(self) -> str | None:
        """One-line problem, or None."""
        if self.category not in CATEGORY_NAMES:
            return f"category={self.category!r}: expected one of {', '.join(CATEGORY_NAMES)}"
        for key in ("components", "max_iter", "init_rows", "bdt_train_size", "bdt_test_size"):
            if getattr(self, key) < 1:
                return f"{key}={getattr(self, key)} must be >= 1"
        if self.tol <= 0 or self.reg_covar < 0:
            return f"tol={self.tol} must be positive and reg_covar={self.reg_covar} >= 0"
        if not 0.0 < self.val_fraction < 1.0:
            return f"val_fraction={self.val_fraction} must be in (0, 1)"
        return None


def load_muon_config(tag: str, path: str | Path | None = None):
    """Load a tag of ``experiments/muons.yaml``: ``gan*`` tags are GANs, ``vae*`` VAEs,
    ``flow*`` spline flows (:mod:`exagan_tf.muons.flow`), ``gmm*`` Gaussian mixtures
    (:mod:`exagan_tf.muons.gmm`)."""
    path = Path(path or MUON_EXPERIMENTS)
    tags = read_tags(path)
    kinds = {"gan": MuonGANConfig, "vae": MuonVAEConfig, "flow": MuonFlowConfig,
             "gmm": MuonGMMConfig}
    kind = next((k for k in kinds if tag.startswith(k)), None)
    if tag in tags and kind is None:
        from exagan_tf.errors import UserError

        raise UserError(f"{path}: tag '{tag}' must start with 'gan', 'vae', 'flow' or 'gmm'")
    return load_config(kinds[kind or "gan"], path, tag)
