"""The output folder of the slicer: train/validation split by universe, shards on disk, the
manifest, and each shard's SHA-256 recorded there and verified on resume and before training.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np

from exagan_tf import __version__
from exagan_tf.cosmo.slice_universes.reading import _short
from exagan_tf.errors import UserError
from exagan_tf.fileio import write_json_atomic

SPLITS = ("train", "val")
MANIFEST = "manifest.json"
# The options that define what is in a shard or which split it is in: a rerun into the same
# output folder must use the same values, or the folder would mix two datasets.
DATASET_OPTIONS = ("img_dim", "step", "axis", "redshift_index", "val_fraction", "seed")
def n_validation(n: int, val_fraction: float) -> int:
    """Validation universes out of ``n``: round(val_fraction * n), >= 1 if n >= 2, < n."""
    if n < 2 or val_fraction <= 0:
        return 0
    return min(n - 1, max(1, int(np.floor(val_fraction * n + 0.5))))


def _rank_key(stem: str, seed: int) -> str:
    return hashlib.sha256(f"{seed}\0{stem}".encode()).hexdigest()


def assign_splits(
    stems, val_fraction: float, seed: int, existing: dict[str, str] | None = None
) -> dict[str, str]:
    """Map each universe stem to 'train' or 'val', deterministically.

    Universes are ranked by SHA-256 of (seed, stem); the first :func:`n_validation` go to 'val'.
    Stems in ``existing`` (already sliced) keep their split, and only the new ones fill the
    validation quota, so a folder never holds a universe in both splits.
    """
    existing = dict(existing or {})
    all_stems = sorted(set(stems) | set(existing))
    target = n_validation(len(all_stems), val_fraction)
    need = max(0, target - sum(1 for s in existing.values() if s == "val"))
    new = sorted((s for s in all_stems if s not in existing), key=lambda s: (_rank_key(s, seed), s))
    splits = dict(existing)
    for i, stem in enumerate(new):
        splits[stem] = "val" if i < need else "train"
    return splits

def list_shards(folder: str | os.PathLike, split: str) -> list[Path]:
    """Sorted shard files of one split ('train' or 'val') in a slice_universes output folder."""
    if split not in SPLITS:
        raise UserError(f"split '{split}': expected one of {', '.join(SPLITS)}")
    folder = Path(folder)
    if not folder.is_dir():
        raise UserError(f"{folder}: no such folder of slices (make it with slice_universes)")
    sub = folder / split
    return sorted(sub.glob("*.h5")) if sub.is_dir() else []


def read_manifest(folder: str | os.PathLike) -> dict:
    """The manifest.json of a slice_universes output folder, as a dict."""
    path = Path(folder) / MANIFEST
    if not path.is_file():
        raise UserError(f"{path}: no such file (make the folder with slice_universes)")
    try:
        manifest = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise UserError(f"{path}: not a readable JSON manifest ({_short(err)})") from None
    if not isinstance(manifest, dict) or "options" not in manifest:
        raise UserError(f"{path}: not a slice_universes manifest (no 'options')")
    return manifest


def _differences(recorded: dict, options: dict) -> list[str]:
    out = []
    for key in DATASET_OPTIONS:
        if key in recorded and recorded[key] != options[key]:
            flag = "--" + key.replace("_", "-")
            out.append(f"{flag} {recorded[key]} (this run asks for {options[key]})")
    return out


def shard_record(manifest: dict | None, split: str, stem: str) -> dict | None:
    """The manifest's entry for the shard ``<split>/<stem>.h5``, None when it has none."""
    universes = (manifest or {}).get("universes")
    entry = universes.get(stem) if isinstance(universes, dict) else None
    if isinstance(entry, dict) and entry.get("shard") == f"{split}/{stem}.h5":
        return entry
    return None


def verify_shard(shard: Path, entry: dict, manifest_path: Path) -> str:
    """Check a shard's size and SHA-256 against its manifest entry; return the digest.

    Raises:
        UserError: one line naming the shard when it differs from what was recorded.
    """
    size, digest = shard.stat().st_size, None
    if size == entry.get("bytes", size):
        digest = file_sha256(shard)
        if digest == entry["sha256"]:
            return digest
    found = f"{size} bytes" if digest is None else f"sha256 {digest[:12]}..."
    want = f"{entry.get('bytes')} bytes" if digest is None else f"{str(entry['sha256'])[:12]}..."
    raise UserError(
        f"{shard}: damaged shard, {found} where {manifest_path} records {want}; "
        "move it away and slice its universe again"
    )


def _existing_shards(output: Path, options: dict, previous: dict | None) -> dict[str, dict]:
    """Shards already in ``output``: stem -> their attributes, ``sha256`` and ``bytes``.

    A shard recorded in the manifest with a checksum is verified against it (a damaged one is a
    one-line error); one without a record (the run writing it was killed before the manifest)
    is hashed and adopted. Shards sliced with other options are refused.
    """
    import h5py

    found: dict[str, dict] = {}
    for split in SPLITS:
        for shard in list_shards(output, split) if output.is_dir() else []:
            entry = shard_record(previous, split, shard.stem)
            if entry is not None and entry.get("sha256"):
                digest = verify_shard(shard, entry, output / MANIFEST)
            else:
                digest = file_sha256(shard)
            try:
                with h5py.File(shard, "r") as f:
                    attrs = {k: _plain(v) for k, v in f.attrs.items()}
                    attrs["n_images"] = int(f["data"].shape[0])
            except (OSError, KeyError) as err:
                raise UserError(
                    f"{shard}: unreadable shard ({_short(err)}); move it away"
                ) from None
            diff = _differences(attrs, options)
            if diff:
                raise UserError(
                    f"{shard}: sliced with {', '.join(diff)}; use another --output folder"
                )
            if shard.stem in found:
                raise UserError(f"{shard}: universe '{shard.stem}' is in both train/ and val/")
            attrs.update(split=split, sha256=digest, bytes=shard.stat().st_size)
            found[shard.stem] = attrs
    return found


def _plain(value):
    """HDF5 attribute value -> JSON-friendly Python value."""
    if isinstance(value, bytes):
        return value.decode()
    if isinstance(value, np.ndarray):
        return [_plain(v) for v in value.tolist()]
    if isinstance(value, np.generic):
        return value.item()
    return value

def file_sha256(path: str | os.PathLike) -> str:
    """SHA-256 of a file's bytes, read into one 1 MiB buffer (no allocation per block)."""
    digest = hashlib.sha256()
    buffer = bytearray(2**20)
    view = memoryview(buffer)
    with open(path, "rb") as fh:
        while n := fh.readinto(buffer):
            digest.update(view[:n])
    return digest.hexdigest()

def _build_manifest(
    previous, options, compression, existing, infos, written, splits, skipped, files
) -> dict:
    # The folder is the truth: shards on disk now, described by the earlier manifest where it
    # has them (a run killed before writing it leaves shards the manifest does not know).
    known = previous.get("universes", {}) if previous else {}
    universes = {}
    for stem, attrs in existing.items():
        entry = known.get(stem)
        if not entry or entry.get("split") != attrs["split"]:
            entry = {
                "source": attrs.get("source"),
                "split": attrs["split"],
                "shard": f"{attrs['split']}/{stem}.h5",
                "n_images": attrs["n_images"],
                "grid": attrs.get("grid"),
                "redshift": attrs.get("redshift"),
                "physPar": attrs.get("physPar"),
                "unitPar": attrs.get("unitPar"),
                "zero_images": None,
            }
        entry = {**entry, "sha256": attrs["sha256"], "bytes": attrs["bytes"]}
        universes[stem] = entry
    for stem in written:
        info = infos[stem]
        universes[stem] = {
            "source": info.path,
            "split": splits[stem],
            "shard": f"{splits[stem]}/{stem}.h5",
            "n_images": info.n_images,
            "grid": info.grid,
            "redshift": info.redshift,
            "physPar": info.physPar,
            "unitPar": info.unitPar,
            "zero_images": written[stem]["zero_images"],
            "sha256": written[stem]["sha256"],
            "bytes": written[stem]["bytes"],
        }
    for entry in universes.values():
        if isinstance(entry.get("redshift"), float) and np.isnan(entry["redshift"]):
            entry["redshift"] = None
    # Skipped files: keep earlier records for files this run did not look at.
    inputs = {str(p) for p in files}
    sources = {u["source"] for u in universes.values()}
    old = {s["file"]: s["reason"] for s in (previous or {}).get("skipped", [])}
    merged = {f: r for f, r in old.items() if f not in inputs and f not in sources}
    merged.update(skipped)
    totals_u = {s: sum(1 for u in universes.values() if u["split"] == s) for s in SPLITS}
    totals_i = {
        s: sum(u["n_images"] for u in universes.values() if u["split"] == s) for s in SPLITS
    }
    return {
        "tool": "exagan_tf.cosmo.slice_universes",
        "code_version": __version__,
        "options": options,
        "storage": {
            "dataset": "data",
            "layout": "(n, img_dim, img_dim), raw counts",
            "compression": compression,
        },
        "universes": dict(sorted(universes.items())),
        "skipped": [{"file": f, "reason": r} for f, r in sorted(merged.items())],
        "totals": {"universes": totals_u, "images": totals_i, "skipped": len(merged)},
    }


def _write_manifest(path: Path, manifest: dict) -> None:
    """Write the manifest atomically, leaving the file untouched when nothing changed."""
    text = json.dumps(manifest, indent=2, sort_keys=True) + "\n"
    if path.exists() and path.read_text() == text:
        return
    write_json_atomic(path, manifest, overwrite=True)
