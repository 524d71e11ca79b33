"""Builders of tiny valid input files of every system and the mutations that break them.

Each ``make_*`` writes a minimal file in the exact layout its reader expects; :func:`mutate_h5`
damages one dataset of it (or the whole file) in one of the ways a real file goes bad.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import h5py
import numpy as np

#: whole-file damage
FILE_MUTATIONS = ("truncate", "random_bytes", "text", "empty")
#: damage to one dataset
DATASET_MUTATIONS = ("drop", "rename", "add_axis", "drop_axis", "bad_side", "strings", "nan",
                     "inf", "zero_rows")


def digest(folder: Path) -> dict[str, str]:
    """sha256 of every file under ``folder`` (to check a reader wrote nothing)."""
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(Path(folder).rglob("*"))
        if p.is_file()
    }


def one_line(err: BaseException, *needles: str) -> str:
    """Assert the error message is one non-empty line holding every needle; return it."""
    text = str(err)
    assert text and "\n" not in text, repr(text)
    for needle in needles:
        assert needle in text, (needle, text)
    return text


def mutate_file(path: Path, how: str, blob: bytes = b"", fraction: float = 0.5) -> None:
    """Replace the whole file: a truncated copy, random bytes, text, or nothing."""
    raw = path.read_bytes()
    if how == "truncate":
        path.write_bytes(raw[: max(1, int(len(raw) * fraction)) - 1])
    elif how == "random_bytes":
        path.write_bytes(blob)
    elif how == "text":
        path.write_text("this is not an HDF5 file\n" + blob.hex())
    elif how == "empty":
        path.write_bytes(b"")
    else:
        raise ValueError(how)


def _bad_shape(shape: tuple[int, ...], how: str) -> tuple[int, ...]:
    if how == "add_axis":
        return (*shape, 2)
    if how == "drop_axis":
        return shape[:-1]
    if how == "bad_side":  # the last axis one longer: no longer square / not the right channels
        return (*shape[:-1], shape[-1] + 1)
    if how == "zero_rows":
        return (0, *shape[1:])
    raise ValueError(how)


def mutate_h5(path: Path, key: str, how: str, index: int = 0, value: float = np.nan) -> None:
    """Damage dataset ``key`` of the HDF5 file ``path`` in place (see DATASET_MUTATIONS).

    ``index`` picks the element set to NaN / inf / ``value`` (taken modulo the size).
    """
    with h5py.File(path, "a") as f:
        ds = f[key]
        data, attrs = ds[()], dict(ds.attrs)
        if how == "drop":
            del f[key]
            return
        if how == "rename":
            f.move(key, key + "_renamed")
            return
        if how in ("nan", "inf", "value"):
            data = np.array(data, dtype=np.float64 if data.dtype.kind != "f" else data.dtype)
            flat = data.reshape(-1)
            if flat.size:
                flat[index % flat.size] = {"nan": np.nan, "inf": -np.inf}.get(how, value)
        elif how == "strings":
            data = np.full(np.shape(data), b"x", dtype="S1")
        else:
            shape = _bad_shape(np.shape(data), how)
            data = np.resize(np.asarray(data), shape) if np.prod(shape) else np.zeros(
                shape, dtype=np.asarray(data).dtype)
        del f[key]
        new = f.create_dataset(key, data=data)
        for k, v in attrs.items():
            new.attrs[k] = v


# ---------------------------------------------------------------------------------------------
# Valid files, tiny, in each reader's layout


def make_universe(path: Path, grid: int = 16, nz: int = 2, seed: int = 0) -> Path:
    """An N-body universe in the CosmoFlow layout: ``full`` (N, N, N, n_z) int16 counts."""
    rng = np.random.default_rng(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    with h5py.File(path, "w") as f:
        f.create_dataset("full", data=rng.poisson(3.0, (grid, grid, grid, nz)).astype(np.int16))
        f.create_dataset("redshifts", data=np.linspace(0.0, 1.0, nz))
    return path


def make_baryon_maps(folder: Path, nz: int = 2, n_slabs: int = 2, npix: int = 16) -> Path:
    """``baryon_maps.h5`` with train/test -> thin/thick -> dm, pressure, pressure_mean, slabs."""
    from exagan_tf.baryons import simulate

    rng = np.random.default_rng(1)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / simulate.MAPS_FILE
    with h5py.File(path, "w") as f:
        f.create_dataset("redshifts", data=np.linspace(0.0, 1.0, nz))
        for split in simulate.SPLITS:
            for kind in simulate.KINDS:
                g = f.create_group(f"{split}/{kind}")
                for field in ("dm", "pressure", "pressure_mean"):
                    g.create_dataset(field, data=rng.lognormal(0, 1, (nz, n_slabs, npix, npix)))
                g.create_dataset("slabs", data=np.arange(n_slabs))
        f.attrs["npix"] = npix
    return path


def make_gr_file(path: Path, seeds=(0, 1), channels: int = 1, n: int = 8) -> Path:
    """GR/Newton cubes ``{gr,newton}_seedNNNN`` (C, N, N, N) and ``seeds``, standardised."""
    from exagan_tf.gr.simulate import cube_name

    rng = np.random.default_rng(2)
    path.parent.mkdir(parents=True, exist_ok=True)
    with h5py.File(path, "w") as f:
        for s in seeds:
            for theory in ("gr", "newton"):
                f.create_dataset(cube_name(theory, s),
                                 data=rng.standard_normal((channels, n, n, n)).astype(np.float32))
        f.create_dataset("seeds", data=np.asarray(seeds, dtype=np.int64))
        f.attrs["standardised"] = True
    return path


def make_cmb_file(folder: Path, n: int = 6, npix: int = 8, ndeg: float = 1.0) -> Path:
    """``cmb_maps.h5``: ``maps`` (n, N, N, 5) with channels 'quekb' and ``ndeg`` attribute."""
    from exagan_tf.cmb import data

    rng = np.random.default_rng(3)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / data.DATA_FILE
    with h5py.File(path, "w") as f:
        ds = f.create_dataset("maps", data=rng.standard_normal((n, npix, npix, 5)).astype(
            np.float32))
        ds.attrs["channels"] = "quekb"
        f.attrs["ndeg"] = ndeg
        f.attrs["npix"] = npix
    return path


def make_muon_category(folder: Path, name: str = "mup_prompt", n: int = 32, dim: int = 4) -> Path:
    """A preprocessed category file ``<name>.h5``: ``features`` (n, d) and ``weights`` (n,)."""
    rng = np.random.default_rng(4)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("features", data=rng.uniform(-1, 1, (n, dim)))
        f.create_dataset("weights", data=rng.uniform(0.1, 1, n))
    return path


# ---------------------------------------------------------------------------------------------
# Every HDF5 reader: how to make its valid input, how to read it as a run would, and which
# dataset damage must be refused


def _read_universe(folder: Path, path: Path) -> None:
    from exagan_tf.cosmo import slice_universes

    out = Path(str(folder) + "_sliced")  # outside the folder whose digest is checked
    slice_universes.slice_universes([path], out, img_dim=8, step=4, strict=True,
                                    progress=False, workers=1)


def _read_baryons(folder: Path, path: Path) -> None:
    from exagan_tf.baryons import data

    data.load_tiles(path.parent, "train", 8)


def _read_gr(folder: Path, path: Path) -> None:
    from exagan_tf.gr import data

    for loader in ("WholeCubeDataset", "WholeCubeDataset2"):
        for _ in data.make_dataset(loader, path, [0, 1]).iter_slices():
            pass


def _read_cmb(folder: Path, path: Path) -> None:
    from exagan_tf.cmb import data

    data.load_data(path.parent, "qu", "ekb")


def _read_muon_category(folder: Path, path: Path) -> None:
    from exagan_tf.muons import preprocess

    preprocess.load_category(path.parent, "mup_prompt")


ALL_DAMAGE = DATASET_MUTATIONS + ("value",)

#: name -> (make(folder) -> path, read(folder, path), {dataset: damage that must be refused})
HDF5_READERS = {
    "N-body universe (cosmo.slice_universes)": (
        lambda d: make_universe(d / "universe.h5"),
        _read_universe,
        # redshifts is optional, so dropping it is fine; 'value' = a negative count
        {"full": ALL_DAMAGE,
         "redshifts": ("add_axis", "drop_axis", "bad_side", "strings", "nan", "inf",
                       "zero_rows")},
    ),
    "baryon maps (baryons.data.load_tiles)": (
        lambda d: make_baryon_maps(d / "b"),
        _read_baryons,
        {"redshifts": DATASET_MUTATIONS,
         "train/thin/dm": ALL_DAMAGE,
         "train/thick/pressure": ALL_DAMAGE,
         # pressure_mean (the noise-free truth) is optional: real maps have none, so a file
         # without it (dropped or renamed) reads; a damaged one is still refused
         "train/thin/pressure_mean": tuple(h for h in ALL_DAMAGE if h not in ("drop", "rename"))},
    ),
    "GR/Newton cubes (gr.data loaders)": (
        lambda d: make_gr_file(d / "gr.h5"),
        _read_gr,
        # seeds: the run names its seeds, so a missing list is fine
        {"gr_seed0000": DATASET_MUTATIONS,
         "newton_seed0001": DATASET_MUTATIONS,
         "seeds": ("add_axis", "drop_axis", "strings", "nan", "inf")},
    ),
    "CMB maps (cmb.data.load_data)": (
        lambda d: make_cmb_file(d / "c"),
        _read_cmb,
        {"maps": DATASET_MUTATIONS},
    ),
    "preprocessed muons (muons.preprocess.load_category)": (
        lambda d: make_muon_category(d / "m"),
        _read_muon_category,
        # 'value' = a negative weight (features may be any finite number)
        {"features": DATASET_MUTATIONS, "weights": ALL_DAMAGE},
    ),
}


def damage_cases() -> list[tuple[str, str | None, str]]:
    """(reader, dataset or None for the whole file, damage) of every refused combination."""
    out = []
    for name, (_, _, table) in HDF5_READERS.items():
        out += [(name, None, how) for how in FILE_MUTATIONS]
        out += [(name, key, how) for key, hows in table.items() for how in hows]
    return out


def apply_damage(path: Path, key: str | None, how: str, index: int = 0,
                 blob: bytes = b"\x00garbage", fraction: float = 0.5) -> None:
    """Whole-file damage when ``key`` is None, else damage to dataset ``key``."""
    if key is None:
        mutate_file(path, how, blob=blob, fraction=fraction)
    else:
        # NaN/inf/negative land in the first plane of the first redshift (the one sliced) for a
        # universe: flat index 2*m of a (16, 16, 16, 2) cube is plane 0, channel 0 for m < 256
        mutate_h5(path, key, how, index=index, value=-1.0)
