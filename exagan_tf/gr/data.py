"""GR/Newton slice datasets, as the original ``data.py``: tf.data pipelines of labelled 2-D slices.

Input: one HDF5 file from :mod:`exagan_tf.gr.simulate` (datasets ``gr_seed{seed:04d}`` and
``newton_seed{seed:04d}`` of shape (C, N, N, N), seeds as the index). Every cube gives 3 N slices,
N along each axis (axis 0: ``cube[:, i]``, axis 1: ``cube[:, :, i]``, axis 2: ``cube[..., i]``),
each an (N, N, C) image (``channels_first``: (C, N, N)); labels GR = 1, Newton = 0, shape (1,).

* :class:`WholeCubeDataset` reads the file lazily, one cube at a time in a shuffled cube order,
  and expects pre-standardised cubes (the file's ``standardised`` attribute).
* :class:`WholeCubeDataset2` loads its seeds' cubes into memory and standardises them itself
  with the mean and standard deviation of the loaded cubes per channel (both theories), like the
  original's routine for the first, small amplified dataset. On a raw file of the same seeds it
  gives the same images as :class:`WholeCubeDataset` on the standardised file.

``newton_augmentation`` multiplies the (standardised) Newtonian images; any value other than 1 is
a pipeline test (0.5 halves the Newtonian variance and must make the task trivial).

Seeds: train ``[0, train_seeds)``, test ``[train_seeds, train_seeds + test_seeds)``
(:func:`split_seeds`), so no seed is in both.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import tensorflow as tf

from exagan_tf.errors import UserError
from exagan_tf.fileio import open_h5
from exagan_tf.gr.simulate import cube_name

LOADERS = ("WholeCubeDataset", "WholeCubeDataset2")
GROUP_BYTES = 64 * 2**20  # cubes handed to tf.data at once (at most; one if larger)
LABELS = {"gr": 1.0, "newton": 0.0}
THEORIES = ("gr", "newton")


def split_seeds(train_seeds: int, test_seeds: int) -> tuple[np.ndarray, np.ndarray]:
    """Train seeds ``[0, train_seeds)``, test seeds ``[train_seeds, train_seeds + test_seeds)``."""
    if train_seeds < 1 or test_seeds < 1:
        raise UserError(
            f"train_seeds={train_seeds}, test_seeds={test_seeds}: expected positive numbers"
        )
    return np.arange(train_seeds), np.arange(train_seeds, train_seeds + test_seeds)


@dataclasses.dataclass(frozen=True)
class FileInfo:
    """What :func:`inspect_file` found: channels, cube side, whether pre-standardised."""

    path: Path
    num_channels: int
    size: int
    standardised: bool
    seeds: tuple[int, ...]


def inspect_file(path: str | Path, seeds: Sequence[int] | None = None) -> FileInfo:
    """Check the file and the cubes of ``seeds`` (shape (C, N, N, N), same everywhere).

    Raises :class:`UserError` naming the file, the dataset and the shape or the missing seed.
    """
    path = Path(path)
    with open_h5(path) as f:
        stored = _stored_seeds(f, path)
        wanted = list(stored if seeds is None else seeds)
        if not wanted:
            raise UserError(f"{path}: no seeds to read (dataset 'seeds' missing or empty)")
        shape = None
        for seed in wanted:
            for theory in THEORIES:
                name = cube_name(theory, seed)
                if name not in f:
                    have = f"seeds {min(stored)}..{max(stored)}" if stored else "no seeds"
                    raise UserError(
                        f"{path}: no dataset '{name}' (the file holds {have}); "
                        f"lower train_seeds/test_seeds or simulate more seeds"
                    )
                if getattr(f[name], "dtype", np.dtype("O")).kind not in "iuf":
                    what = getattr(f[name], "dtype", "a group")
                    raise UserError(f"{path}: dataset '{name}' holds {what}; expected numbers")
                s = f[name].shape
                if len(s) == 3:
                    s = (1, *s)
                if len(s) != 4 or not (s[1] == s[2] == s[3]) or s[1] < 2 or s[0] < 1:
                    raise UserError(
                        f"{path}: dataset '{name}' has shape {f[name].shape}, expected a cube "
                        f"(C, N, N, N) or (N, N, N)"
                    )
                if shape is None:
                    shape = s
                elif s != shape:
                    raise UserError(
                        f"{path}: dataset '{name}' has shape {s}, expected {shape} like the others"
                    )
        standardised = bool(f.attrs.get("standardised", True))
    return FileInfo(path, shape[0], shape[1], standardised, stored)


def _stored_seeds(f, path: Path) -> tuple[int, ...]:
    """The ``seeds`` dataset as integers; () when absent; UserError when it is not a list of
    whole numbers."""
    if "seeds" not in f:
        return ()
    if not hasattr(f["seeds"], "dtype"):
        raise UserError(f"{path}: 'seeds' is a group; expected a dataset of integer seeds")
    raw = np.asarray(f["seeds"][()])
    numeric = raw.dtype.kind in "iuf"
    if numeric and not np.all(np.isfinite(raw.astype(float))):
        raise UserError(f"{path}: dataset 'seeds' holds NaN or infinite values "
                        f"({raw.ravel()[:4].tolist()}); expected a list of integer seeds")
    if raw.ndim != 1 or not numeric or not np.all(raw == np.round(raw)):
        raise UserError(f"{path}: dataset 'seeds' is {raw.dtype} of shape {raw.shape}; "
                        "expected a list of integer seeds")
    return tuple(int(s) for s in raw)


def read_cube(f, theory: str, seed: int) -> np.ndarray:
    """One cube as float32 (C, N, N, N) from an open file; UserError if it holds NaN or inf."""
    name = cube_name(theory, seed)
    cube = np.asarray(f[name][()], dtype=np.float32)
    bad = np.flatnonzero(~np.isfinite(cube))
    if bad.size:
        raise UserError(f"{f.filename}: dataset '{name}' has {bad.size} NaN or infinite values "
                        f"(first at flat index {bad[0]})")
    return cube[None] if cube.ndim == 3 else cube


def cube_slices(cube: np.ndarray, data_format: str = "channels_last") -> np.ndarray:
    """All 3 N slices of a (C, N, N, N) cube: (3N, N, N, C) (or (3N, C, N, N) channels_first).

    Order: axis 0 planes 0..N-1, then axis 1, then axis 2.
    """
    c, n = cube.shape[0], cube.shape[1]
    parts = (
        np.moveaxis(cube, 1, 0),  # (N, C, N, N): cube[:, i]
        np.moveaxis(cube, 2, 0),  # cube[:, :, i]
        np.moveaxis(cube, 3, 0),  # cube[:, :, :, i]
    )
    out = np.concatenate(parts).reshape(3 * n, c, n, n)
    if data_format == "channels_last":
        out = np.transpose(out, (0, 2, 3, 1))
    return np.ascontiguousarray(out, dtype=np.float32)


def tf_cube_slices(cubes: tf.Tensor, data_format: str = "channels_last") -> tf.Tensor:
    """:func:`cube_slices` of a stack of cubes in TensorFlow ops (for the tf.data pipeline's
    parallel map): (G, C, N, N, N) -> the 3 N slices of each cube in turn, (3 G N, N, N, C) (or
    (3 G N, C, N, N)), every cube's slices in :func:`cube_slices`' order."""
    # slices along cube axes 1, 2, 3 lead; the other two spatial axes keep their order
    orders = ((0, 2, 3, 4, 1), (0, 3, 2, 4, 1), (0, 4, 2, 3, 1))
    if data_format == "channels_first":
        orders = tuple((o[0], o[1], 1, o[2], o[3]) for o in orders)
    slices = tf.concat([tf.transpose(cubes, o) for o in orders], axis=1)  # (G, 3N, ...)
    return tf.reshape(slices, tf.concat([[-1], tf.shape(slices)[2:]], axis=0))


class _SliceDataset:
    """Common part: seeds, options, the tf.data pipeline and a deterministic slice iterator."""

    def __init__(
        self,
        datafile: str | Path,
        seeds: Sequence[int],
        newton_augmentation: float = 1.0,
        data_format: str = "channels_last",
    ):
        if data_format not in ("channels_last", "channels_first"):
            raise UserError(f"data_format {data_format!r}: expected channels_last/channels_first")
        if newton_augmentation <= 0:
            raise UserError(f"newton_augmentation={newton_augmentation}: expected a factor > 0")
        self.seeds = [int(s) for s in seeds]
        if not self.seeds:
            raise UserError(f"{datafile}: no seeds given")
        self.info = inspect_file(datafile, self.seeds)
        self.path = self.info.path
        self.newton_augmentation = float(newton_augmentation)
        self.data_format = data_format

    @property
    def num_channels(self) -> int:
        """Channels per slice (from the data)."""
        return self.info.num_channels

    @property
    def image_size(self) -> int:
        """Side of a slice (the cube side N)."""
        return self.info.size

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """(N, N, C), the shape the architecture builders take."""
        return (self.image_size, self.image_size, self.num_channels)

    def __len__(self) -> int:
        return 2 * len(self.seeds) * 3 * self.image_size

    def _cube(self, source, theory: str, seed: int) -> np.ndarray:
        raise NotImplementedError

    def cubes(
        self, order: Sequence[tuple[str, int]] | None = None
    ) -> Iterator[tuple[str, int, np.ndarray]]:
        """(theory, seed, standardised and augmented cube) in ``order`` (default: seed-major)."""
        order = order or [(t, s) for s in self.seeds for t in THEORIES]
        with self._source() as source:  # the lazy loader opens its file once per pass
            for theory, seed in order:
                cube = self._cube(source, theory, seed)
                if theory == "newton" and self.newton_augmentation != 1.0:
                    cube = cube * np.float32(self.newton_augmentation)
                yield theory, seed, cube.astype(np.float32, copy=False)

    def _source(self):
        return contextlib.nullcontext()

    def iter_slices(self) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """Deterministic pass: per cube, (images, labels (n, 1), seeds (n,)) of all its slices."""
        for theory, seed, cube in self.cubes():
            images = cube_slices(cube, self.data_format)
            labels = np.full((len(images), 1), LABELS[theory], dtype=np.float32)
            yield images, labels, np.full(len(images), seed, dtype=np.int64)

    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """All slices at once: images, labels (n, 1), seeds (n,)."""
        parts = list(self.iter_slices())
        return tuple(np.concatenate(p) for p in zip(*parts))  # type: ignore[return-value]

    def dataset(
        self,
        batch_size: int,
        shuffle: bool = True,
        seed: int = 0,
        shuffle_buffer: int = 4096,
        repeat: bool = False,
    ) -> tf.data.Dataset:
        """Batches of (images, labels); when asked, shuffled by cube order and within groups of
        at least ``shuffle_buffer`` slices."""
        if batch_size < 1:
            raise UserError(f"batch_size={batch_size}: expected a positive integer")
        epoch = {"n": 0}
        pairs = [(t, s) for s in self.seeds for t in THEORIES]

        c, n = self.num_channels, self.image_size
        # Cubes go to tf.data in groups: with shuffling, of as many cubes as fill
        # ``shuffle_buffer`` slices, whose slices are then permuted together (the buffer holds
        # the same slices as a shuffle buffer of that size would); without, of up to 64 MB.
        # Python's and tf.data's per-element costs are then paid per group, not per slice.
        per_cube = 3 * n
        if shuffle:
            group = max(1, -(-shuffle_buffer // per_cube))
        else:
            group = int(max(1, min(16, GROUP_BYTES // (4 * c * n**3))))

        def generate():
            order = list(pairs)
            rng = np.random.default_rng([seed, epoch["n"]])
            if shuffle:
                order = [order[i] for i in rng.permutation(len(order))]
                epoch["n"] += 1
            for first in range(0, len(order), group):
                part = order[first:first + group]
                cubes = [cube for _, _, cube in self.cubes(part)]
                labels = np.repeat(np.array([LABELS[t] for t, _ in part], np.float32), per_cube)
                group_of = (np.stack(cubes), labels[:, None])
                # shuffling: the permutation of the group's slices goes along
                yield (*group_of, rng.permutation(len(labels))) if shuffle else group_of

        def to_slices(cubes, labels, perm=None):  # slicing in TF ops, in parallel (in order)
            images = tf_cube_slices(cubes, self.data_format)
            if perm is None:
                return images, labels
            return tf.gather(images, perm), tf.gather(labels, perm)

        signature = (tf.TensorSpec((None, c, n, n, n), tf.float32),
                     tf.TensorSpec((None, 1), tf.float32))
        if shuffle:
            signature += (tf.TensorSpec((None,), tf.int64),)
        ds = (
            tf.data.Dataset.from_generator(generate, output_signature=signature)
            .map(to_slices, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
        )
        if repeat:
            return ds.repeat().rebatch(batch_size).prefetch(tf.data.AUTOTUNE)
        # the length is known: tell tf.data, so Keras sizes its epochs exactly
        batches = -(-len(self) // batch_size)
        ds = ds.rebatch(batch_size).apply(tf.data.experimental.assert_cardinality(batches))
        return ds.prefetch(tf.data.AUTOTUNE)


class WholeCubeDataset(_SliceDataset):
    """Lazy loading of a pre-standardised file: one cube read from disk at a time."""

    def __init__(
        self,
        datafile: str | Path,
        seeds: Sequence[int],
        newton_augmentation: float = 1.0,
        data_format: str = "channels_last",
    ):
        super().__init__(datafile, seeds, newton_augmentation, data_format)
        if not self.info.standardised:
            raise UserError(
                f"{self.path}: raw (unstandardised) cubes; WholeCubeDataset expects a "
                f"pre-standardised file (use loader: WholeCubeDataset2, or simulate without --raw)"
            )

    def _source(self):
        return open_h5(self.path)

    def _cube(self, source, theory: str, seed: int) -> np.ndarray:
        return read_cube(source, theory, seed)


class WholeCubeDataset2(_SliceDataset):
    """All cubes of the seeds in memory, standardised with their own mean and std per channel."""

    def __init__(
        self,
        datafile: str | Path,
        seeds: Sequence[int],
        newton_augmentation: float = 1.0,
        data_format: str = "channels_last",
    ):
        super().__init__(datafile, seeds, newton_augmentation, data_format)
        with open_h5(self.path) as f:
            self._cubes = {(t, s): read_cube(f, t, s) for s in self.seeds for t in THEORIES}
        stacked = np.stack(list(self._cubes.values())).astype(np.float64)
        self.mean = stacked.mean(axis=(0, 2, 3, 4))
        self.std = stacked.std(axis=(0, 2, 3, 4))
        if np.any(self.std <= 0):
            raise UserError(f"{self.path}: a channel has zero variance over the loaded cubes")
        m = self.mean[:, None, None, None].astype(np.float32)
        s = self.std[:, None, None, None].astype(np.float32)
        self._cubes = {k: (v - m) / s for k, v in self._cubes.items()}

    def _cube(self, source, theory: str, seed: int) -> np.ndarray:
        return self._cubes[(theory, seed)]


def make_dataset(
    loader: str,
    datafile: str | Path,
    seeds: Sequence[int],
    newton_augmentation: float = 1.0,
    data_format: str = "channels_last",
) -> _SliceDataset:
    """The loader named in the config (``WholeCubeDataset`` or ``WholeCubeDataset2``)."""
    classes = {"WholeCubeDataset": WholeCubeDataset, "WholeCubeDataset2": WholeCubeDataset2}
    if loader not in classes:
        raise UserError(f"loader {loader!r}: expected one of {', '.join(LOADERS)}")
    return classes[loader](datafile, seeds, newton_augmentation, data_format)
