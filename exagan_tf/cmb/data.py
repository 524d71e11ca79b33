"""From the simulated file to training arrays: channels, noise, apodisation, normalisation.

Order of operations (each switch as the original's flags):

1. read the maps (``q, u`` lensed and beamed, ``e, b`` unlensed, in uK; ``k`` the convergence);
2. ``--noise N``: add white noise of N uK-arcmin (temperature level; polarisation channels get
   sqrt(2) N, see :func:`exagan_tf.cmb.simulate.noise_sigma`) to the ``--noise-channels``; the
   noise of map i is fixed by the seed, so validation maps are the same in every epoch and run;
3. derived channels ``E, B``: the analytic decomposition of the (noisy, apodised) q, u (the
   "E, B approximation" of the original's future-work section, usable as extra inputs);
4. apodisation (unless ``--no-apodize-maps``): every channel times a cosine taper window of width
   :data:`APOD_FRACTION` of the map side on each edge (1.5 deg on DeepCMB's 5 deg maps);
5. normalisation (unless ``--no-normalize-maps``): every channel divided by its rms over the
   training maps, with q and u sharing one scale so the Q/U rotation structure survives. (DeepCMB
   standardised each map by its own rms; a fixed scale keeps each map's amplitude, which is
   signal, and makes predictions convertible back to uK.)

Channels are letters: ``q u e k b`` (stored) and ``E B`` (derived); the letters are case
sensitive.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from exagan_tf.cmb import simulate as sim
from exagan_tf.errors import UserError
from exagan_tf.fileio import open_h5

DATA_FILE = "cmb_maps.h5"
STORED = sim.CHANNELS
DERIVED = "EB"
KNOWN = STORED + DERIVED
NOISY = "queb"  # channels in uK that white noise in uK-arcmin applies to
APOD_FRACTION = 0.3  # taper width / map side (1.5 deg of 5 deg in DeepCMB)


def check_channels(letters: str, flag: str) -> str:
    """Validate a channel string such as ``qu`` or ``quek``; return it."""
    if not letters:
        raise UserError(f"{flag}: no channels given (known: {', '.join(KNOWN)})")
    for c in letters:
        if c not in KNOWN:
            raise UserError(
                f"{flag}={letters!r}: unknown channel letter {c!r} "
                f"(known: q, u, e, k, b and the derived E, B)"
            )
    if len(set(letters)) != len(letters):
        raise UserError(f"{flag}={letters!r}: a channel is repeated")
    return letters


def apodization_window(npix: int, fraction: float = APOD_FRACTION) -> np.ndarray:
    """Separable cosine-taper window ``(npix, npix)``.

    Along each axis the weight is ``(1 - cos(pi d / w)) / 2`` within ``w = fraction * npix``
    pixels of an edge (``d`` the distance from the edge in pixels, measured from the outer pixel
    edge to the pixel centre) and 1 inside.
    """
    width = fraction * npix
    d = np.minimum(np.arange(npix) + 0.5, npix - np.arange(npix) - 0.5)
    w1 = np.where(d < width, 0.5 * (1.0 - np.cos(np.pi * d / width)), 1.0)
    return np.outer(w1, w1)


@dataclasses.dataclass
class CMBData:
    """Training and validation arrays plus what is needed to go back to physical units.

    ``x_*``/``y_*`` are float32 ``(n, N, N, C)`` channels last in the order of ``inputs`` /
    ``outputs``; ``scales[c]`` divides channel c (1 without normalisation); ``window`` is the
    apodisation applied (ones without); ``val_index`` the maps' indices in the file;
    ``val_physical`` every channel (``quekbEB``) of the validation maps in physical units after
    noise and window, for baselines and evaluation.
    """

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    inputs: str
    outputs: str
    scales: dict
    window: np.ndarray
    pixel_rad: float
    ndeg: float
    val_index: np.ndarray
    path: Path
    val_physical: dict

    def physical(self, maps: np.ndarray, channels: str) -> np.ndarray:
        """Undo the normalisation of ``(n, N, N, C)`` maps whose channels are ``channels``."""
        return maps * np.array([self.scales[c] for c in channels], dtype=np.float64)


def data_file(data_dir: str | Path) -> Path:
    """The data file in ``--data-dir``, with a one-line error when it is not there."""
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise UserError(
            f"--data-dir {data_dir}: no such directory (make data with "
            f"python -m exagan_tf.cmb.simulate --out {data_dir / DATA_FILE})"
        )
    path = data_dir / DATA_FILE
    if not path.is_file():
        raise UserError(f"--data-dir {data_dir}: no {DATA_FILE} in it")
    return path


def read_maps(path: Path, max_maps: int | None = None) -> tuple[dict, dict]:
    """``({channel: (n, N, N) float64}, file attributes)`` of a simulated data set."""
    with open_h5(path) as f:
        if "maps" not in f:
            raise UserError(f"{path}: no 'maps' dataset; not a CMB data set of this suite")
        ds = f["maps"]
        names = ds.attrs.get("channels", "")
        names = names.decode() if isinstance(names, bytes) else str(names)
        if ds.ndim != 4 or ds.shape[-1] != len(names) or ds.shape[1] != ds.shape[2]:
            raise UserError(f"{path}: maps of shape {ds.shape} with channels {names!r}, expected "
                            f"(n, N, N, {len(STORED)}) with channels {STORED!r}")
        if ds.dtype.kind not in "iuf":
            raise UserError(f"{path}: 'maps' holds {ds.dtype}; expected float maps")
        if ds.shape[0] == 0:
            raise UserError(f"{path}: 'maps' holds no maps (shape {ds.shape})")
        n = ds.shape[0] if max_maps is None else min(int(max_maps), ds.shape[0])
        raw = ds[:n].astype(np.float64)
        bad = np.flatnonzero(~np.isfinite(raw))
        if bad.size:
            where = tuple(int(i) for i in np.unravel_index(bad[0], raw.shape))
            raise UserError(f"{path}: 'maps' has {bad.size} NaN or infinite values "
                            f"(first at map {where[0]}, pixel {where[1:3]}, channel "
                            f"{names[where[3]]!r})")
        attrs = {k: (v.item() if hasattr(v, "item") else v) for k, v in f.attrs.items()}
    return {c: raw[..., i] for i, c in enumerate(names)}, attrs


def load_data(
    data_dir: str | Path,
    inputs: str,
    outputs: str,
    *,
    noise: float = 0.0,
    noise_channels: str = "qu",
    normalize: bool = True,
    apodize: bool = True,
    validation_split: float = 0.2,
    seed: int = 483,
    ndeg: float | None = None,
    max_maps: int | None = None,
) -> CMBData:
    """Load, corrupt, window, normalise and split the data as the flags ask (module docstring).

    Args:
        ndeg: the map side the run expects (``--ndeg``); a file of another side is an error.
        max_maps: use only the first maps of the file (CPU-sized runs).
    """
    check_channels(inputs, "--inputs")
    check_channels(outputs, "--outputs")
    check_channels(noise_channels, "--noise-channels")
    if not 0.0 < validation_split < 1.0:
        raise UserError(f"--validation-split={validation_split}: expected a fraction in (0, 1)")
    if noise < 0:
        raise UserError(f"--noise={noise}: expected a noise level >= 0 uK-arcmin")
    bad = [c for c in noise_channels if c not in NOISY]
    if bad and noise > 0:
        raise UserError(
            f"--noise-channels={noise_channels!r}: noise in uK-arcmin applies to q, u, e, b only "
            f"(not {', '.join(bad)})"
        )
    path = data_file(data_dir)
    maps, attrs = read_maps(path, max_maps)
    n = len(maps["q"])
    if ndeg is not None and not np.isclose(float(attrs.get("ndeg", np.nan)), ndeg):
        raise UserError(f"{path}: maps span {attrs.get('ndeg')} deg, but --ndeg={ndeg}")
    n_val = int(round(validation_split * n))
    if n_val < 1 or n_val >= n:
        raise UserError(
            f"--validation-split={validation_split}: {n_val} of {n} maps for validation; "
            "need at least one map in each part"
        )
    npix = maps["q"].shape[-1]
    pixel_rad = np.deg2rad(float(attrs["ndeg"])) / npix
    pixel_arcmin = float(attrs["ndeg"]) * 60.0 / npix
    if noise > 0:
        rng = np.random.default_rng(np.random.SeedSequence([int(seed), 0x6E6F6973]))
        sigma = sim.noise_sigma(noise, pixel_arcmin, polarization=True)
        for c in noise_channels:
            maps[c] = maps[c] + sigma * rng.standard_normal(maps[c].shape)
    window = apodization_window(npix) if apodize else np.ones((npix, npix))
    for c in STORED:
        maps[c] = maps[c] * window
    order = np.random.default_rng(int(seed)).permutation(n)
    val_idx, train_idx = np.sort(order[:n_val]), np.sort(order[n_val:])
    if any(c in DERIVED for c in inputs + outputs):
        maps["E"], maps["B"] = sim.qu_to_eb(maps["q"], maps["u"], pixel_rad)
    val_physical = {c: maps[c][val_idx] for c in STORED}
    val_physical["E"], val_physical["B"] = (
        (maps["E"][val_idx], maps["B"][val_idx]) if "E" in maps
        else sim.qu_to_eb(val_physical["q"], val_physical["u"], pixel_rad)
    )
    scales = {c: 1.0 for c in KNOWN}
    if normalize:
        for c in set(inputs + outputs):
            scales[c] = float(np.sqrt(np.mean(np.square(maps[c][train_idx])))) or 1.0
        pol = float(np.sqrt(0.5 * (np.mean(maps["q"][train_idx] ** 2)
                                   + np.mean(maps["u"][train_idx] ** 2))))
        scales["q"] = scales["u"] = pol

    def stack(channels, idx):
        return np.stack([maps[c][idx] / scales[c] for c in channels], axis=-1).astype(np.float32)

    return CMBData(
        x_train=stack(inputs, train_idx),
        y_train=stack(outputs, train_idx),
        x_val=stack(inputs, val_idx),
        y_val=stack(outputs, val_idx),
        inputs=inputs,
        outputs=outputs,
        scales=scales,
        window=window,
        pixel_rad=float(pixel_rad),
        ndeg=float(attrs["ndeg"]),
        val_index=val_idx,
        path=path,
        val_physical=val_physical,
    )
