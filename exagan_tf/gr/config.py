"""The original ``temp.yaml`` of the RACOON/PENGUIN run controller, as validated dataclasses.

A config file has exactly the original's three sections (``model_params``, ``data_params``,
``train_params``) with the original keys; keys added here are optional (defaults below) and
documented in ``experiments/gr/temp.yaml``. An unknown section or key, a wrong type or an
inconsistent value is a one-line :class:`~exagan_tf.errors.UserError` naming the file, the
section and the key.
"""

from __future__ import annotations

import dataclasses
import typing
from pathlib import Path

from exagan_tf.config import build_config, config_to_dict, read_tags
from exagan_tf.errors import UserError
from exagan_tf.gr.architectures import ALIASES
from exagan_tf.gr.data import LOADERS

SECTIONS = ("model_params", "data_params", "train_params")


@dataclasses.dataclass(frozen=True)
class ModelParams:
    """``model_params``: architecture, layer_param, dropout, name (original); activation."""

    architecture: str
    layer_param: int
    dropout: float
    name: str
    activation: typing.Literal["relu", "leaky_relu"] = "relu"

    def validate(self) -> str | None:
        """One-line problem, or None."""
        if str(self.architecture).lower() not in ALIASES:
            return f"architecture={self.architecture!r}: expected RACCOON/RACOON or PENGUIN"
        if self.layer_param < 1:
            return f"layer_param={self.layer_param}: expected a positive integer"
        if not 0.0 <= self.dropout < 1.0:
            return f"dropout={self.dropout}: expected a probability in [0, 1)"
        from exagan_tf.runs import check_name

        try:
            check_name(self.name, "name")
        except UserError as err:
            return str(err)
        return None


@dataclasses.dataclass(frozen=True)
class DataParams:
    """``data_params``: datafile, train_seeds, test_seeds, newton_augmentation (original);
    loader, batch_size, shuffle_buffer (slices mixed at a time: the cubes, in a new random
    order every epoch, are taken in groups that hold at least this many slices, and each
    group's slices are permuted together)."""

    datafile: str
    train_seeds: int
    test_seeds: int
    newton_augmentation: float
    loader: typing.Literal["WholeCubeDataset", "WholeCubeDataset2"] = "WholeCubeDataset"
    batch_size: int = 5
    shuffle_buffer: int = 4096

    def validate(self) -> str | None:
        """One-line problem, or None."""
        if self.train_seeds < 1 or self.test_seeds < 1:
            return (
                f"train_seeds={self.train_seeds}, test_seeds={self.test_seeds}: "
                "expected positive numbers of seeds"
            )
        if self.newton_augmentation <= 0:
            return f"newton_augmentation={self.newton_augmentation}: expected a factor > 0"
        if self.loader not in LOADERS:
            return f"loader={self.loader!r}: expected one of {', '.join(LOADERS)}"
        if self.batch_size < 1 or self.shuffle_buffer < 1:
            return "batch_size and shuffle_buffer must be positive"
        return None


@dataclasses.dataclass(frozen=True)
class TrainParams:
    """``train_params``: epochs, lr, log_dir (original); the original's fixed settings
    (Adam betas, weight_decay, test_every) and distribution, data format, seed, checkpoints,
    batch-norm recalibration of the exported model, precision (Keras dtype policy, see
    :mod:`exagan_tf.precision`; the logit stays float32) and jit_compile (XLA; both off, as in
    the original, by default)."""

    epochs: int
    lr: float
    log_dir: str
    betas: tuple[float, float] = (0.5, 0.999)
    weight_decay: float = 1e-11
    test_every: int = 2
    steps_per_epoch: int | None = None
    distribute: typing.Literal["auto", "none", "mirrored", "multiworker"] = "auto"
    data_format: typing.Literal["auto", "channels_last", "channels_first"] = "auto"
    seed: int = 0
    keep_checkpoints: int = 2
    bn_recalibration_batches: int = 0
    precision: typing.Literal["float32", "mixed_float16", "mixed_bfloat16", "auto"] = "float32"
    jit_compile: bool = False

    def validate(self) -> str | None:
        """One-line problem, or None."""
        if self.epochs < 0:
            return f"epochs={self.epochs}: expected a non-negative number of epochs"
        if self.lr <= 0:
            return f"lr={self.lr}: expected a positive learning rate"
        if not all(0.0 <= b < 1.0 for b in self.betas):
            return f"betas={list(self.betas)}: expected two numbers in [0, 1)"
        if self.test_every < 1 or self.keep_checkpoints < 1:
            return "test_every and keep_checkpoints must be positive"
        if self.bn_recalibration_batches < 0:
            return (
                f"bn_recalibration_batches={self.bn_recalibration_batches}: expected a number "
                "of batches >= 0 (0 keeps the moving statistics of training)"
            )
        if self.steps_per_epoch is not None and self.steps_per_epoch < 1:
            return f"steps_per_epoch={self.steps_per_epoch}: expected a positive number or null"
        return None


@dataclasses.dataclass(frozen=True)
class GRConfig:
    """The three sections of one config file, and where it came from."""

    model_params: ModelParams
    data_params: DataParams
    train_params: TrainParams
    path: str = ""

    def to_dict(self) -> dict:
        """Nested plain dict (YAML/JSON), sections in the original order."""
        return {s: config_to_dict(getattr(self, s)) for s in SECTIONS}


def resume_settings(record: dict) -> dict:
    """What must match to resume a run by name: a config record (:meth:`GRConfig.to_dict`)
    without ``train_params.epochs`` (the original's "can be trained before as well, will just
    continue")."""
    train = {k: v for k, v in record.get("train_params", {}).items() if k != "epochs"}
    return {**record, "train_params": train}


def load_gr_config(path: str | Path) -> GRConfig:
    """Read and validate a run-controller YAML file (the original three sections)."""
    path = Path(path)
    tags = read_tags(path)
    unknown = sorted(set(tags) - set(SECTIONS))
    if unknown:
        raise UserError(f"{path}: unknown section '{unknown[0]}' (expected {', '.join(SECTIONS)})")
    missing = [s for s in SECTIONS if s not in tags]
    if missing:
        raise UserError(f"{path}: section '{missing[0]}' is missing")
    classes = (ModelParams, DataParams, TrainParams)
    parts = [build_config(cls, tags[s], s, path) for cls, s in zip(classes, SECTIONS)]
    return GRConfig(*parts, path=str(path))
