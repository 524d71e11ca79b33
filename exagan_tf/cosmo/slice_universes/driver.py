"""The slicing run over many universes: options, header checks, free space, the workers, the
manifest rewritten as shards finish, warnings and the summary.
"""

from __future__ import annotations

import concurrent.futures as cf
import multiprocessing
import os
import sys
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np

from exagan_tf import runlock
from exagan_tf.cosmo.slice_universes import shards
from exagan_tf.cosmo.slice_universes.manifest import (
    MANIFEST,
    SPLITS,
    _build_manifest,
    _differences,
    _existing_shards,
    _write_manifest,
    assign_splits,
    read_manifest,
)
from exagan_tf.cosmo.slice_universes.reading import (
    BadUniverse,
    UniverseInfo,
    find_inputs,
    inspect_universe,
)
from exagan_tf.cosmo.slice_universes.shards import COMPRESSIONS, _mib, _write_shard, shard_bytes
from exagan_tf.cosmo.slice_universes.tiling import _check_options
from exagan_tf.errors import UserError
from exagan_tf.fileio import remove_temporaries

# More than this fraction empty (chunks not stored, or all-zero images) draws a warning.
EMPTY_WARN_FRACTION = 0.5
# The manifest is rewritten at most this often while shards finish, and at the end.
_MANIFEST_EVERY_S = 2.0


def _default_workers() -> int:
    return max(1, min(2, os.cpu_count() or 1))


def _warn(path, reason: str, progress) -> None:
    _say(f"warning: {path}: {reason}; skipped (--strict makes this an error)", progress)


def _say(line: str, progress) -> None:
    if progress is not None:
        progress.write(line, file=sys.stderr)
    else:
        print(line, file=sys.stderr)


def _claim(output: Path) -> None:
    """Lock the output folder for this process (one slicing at a time: a second one is refused
    naming the holder, the lock of one that died is taken over, as a run directory's) and
    delete the temporary shards an interrupted slicing left behind."""
    _, notes = runlock.acquire(output)
    for note in notes:
        _say(f"warning: {note}", None)
    gone = remove_temporaries(output)
    if gone:
        _say(f"warning: {output}: removed {len(gone)} temporary files of an interrupted "
             f"slicing: {', '.join(p.name for p in gone[:3])}{' ...' if len(gone) > 3 else ''}",
             None)


def _percent(x: float) -> str:
    return f"{100 * x:.3g}%"


def slice_universes(
    inputs,
    output: str | os.PathLike,
    img_dim: int = 128,
    step: int = 8,
    axis: int = 0,
    redshift_index: int = 0,
    val_fraction: float = 0.1,
    seed: int = 0,
    workers: int | None = None,
    strict: bool = False,
    compression: str = "none",
    progress: bool = True,
) -> dict:
    """Slice universe cubes into per-universe train/val shards under ``output``.

    Args:
        inputs: a folder (its ``*.h5`` and ``*.hdf5``), a file, a glob, or a list of them.
        output: output folder; gets ``train/``, ``val/`` and ``manifest.json``.
        img_dim, step, axis, redshift_index: slicing, see :func:`slice_cube_tiles`.
        val_fraction: fraction of universes held out for validation (see :func:`assign_splits`).
        seed: seed of the train/validation split.
        workers: processes slicing files in parallel (default min(2, cpu count)).
        strict: a bad input file raises :class:`UserError` instead of being skipped.
        compression: shard compression, 'none' (default: ~10^5 images/s of 128^2 from the page
            cache in any order) or 'gzip' (level 1 with byte shuffle: about 5x smaller, ~10^4
            images/s read in order but < 10^3 in random order).
        progress: show a tqdm progress bar over files.

    Returns:
        Summary dict: input files, universes written / already present / skipped, images per
        split in the folder, images written by this run, seconds and images per second, and the
        largest peak RSS of the processes that wrote shards (MiB).
    """
    t_start = time.perf_counter()
    options = _options(img_dim, step, axis, redshift_index, val_fraction, seed)
    if compression not in COMPRESSIONS:
        raise UserError(f"--compression {compression}: expected one of {', '.join(COMPRESSIONS)}")
    workers = _default_workers() if workers is None else int(workers)
    if workers < 1:
        raise UserError(f"--workers {workers}: expected an integer >= 1")
    files = find_inputs(inputs)
    output = Path(output)
    claimed = output.is_dir()
    if claimed:  # a folder sliced before: lock it before reading its manifest and shards
        _claim(output)
    run = _Run(output, options, compression, strict, files)
    run.inspect()
    run.check_space()
    if not claimed:  # a new folder is made only once the inputs and the disk space are checked
        output.mkdir(parents=True, exist_ok=True)
        _claim(output)
    for split in SPLITS:
        (output / split).mkdir(parents=True, exist_ok=True)
    run.execute(workers, progress)
    manifest = run.save(force=True)
    if run.failure is not None:
        raise run.failure
    if not manifest["universes"]:
        raise UserError(f"{output}: no universe could be sliced (see the warnings above)")

    seconds = time.perf_counter() - t_start
    written = run.written()
    n_written = sum(r["n_images"] for r in written.values())
    return {
        "output": str(output),
        "files": len(files),
        "written": len(written),
        "already_done": len(run.already),
        "skipped": [{"file": f, "reason": r} for f, r in sorted(run.all_skipped().items())],
        "universes": manifest["totals"]["universes"],
        "images": manifest["totals"]["images"],
        "images_written": n_written,
        "seconds": seconds,
        "images_per_s": n_written / seconds if seconds > 0 else float("nan"),
        "peak_rss_mib": max((r["peak_rss_mib"] for r in written.values()), default=None),
    }


def _options(img_dim, step, axis, redshift_index, val_fraction, seed) -> dict:
    """The dataset options (those recorded in the manifest and the shards), checked."""
    _check_options(img_dim, step, axis, redshift_index)
    if not 0 <= val_fraction < 1:
        raise UserError(f"--val-fraction {val_fraction}: expected a number in [0, 1)")
    return {
        "img_dim": int(img_dim),
        "step": int(step),
        "axis": int(axis),
        "redshift_index": int(redshift_index),
        "val_fraction": float(val_fraction),
        "seed": int(seed),
    }


class _Run:
    """One slicing run into one output folder: what is there, what to do, what came back."""

    def __init__(self, output: Path, options: dict, compression: str, strict: bool, files):
        self.output, self.options, self.compression = output, options, compression
        self.strict, self.files = strict, files
        self.manifest_path = output / MANIFEST
        self.previous = read_manifest(output) if self.manifest_path.exists() else None
        if self.previous is not None:
            diff = _differences(self.previous["options"], options)
            if diff:
                raise UserError(
                    f"{self.manifest_path}: folder was sliced with {', '.join(diff)}; "
                    "use another --output folder"
                )
        # verifies the recorded shards' checksums before anything else happens
        self.existing = _existing_shards(output, options, self.previous)
        self.infos: dict[str, UniverseInfo] = {}
        self.skipped: dict[str, str] = {}
        self.already: list[str] = []
        self.splits: dict[str, str] = {}
        self.results: list[dict] = []
        self.failure: UserError | None = None
        self._last_save = time.monotonic()

    def inspect(self) -> None:
        """Header checks in the parent: cheap, and under --strict they stop the run before any
        work. Warns on cubes whose ``full`` is mostly not stored."""
        o = self.options
        for path in self.files:
            if path.stem in self.existing:
                self.already.append(path.stem)
                continue
            try:
                self.infos[path.stem] = inspect_universe(
                    path, o["img_dim"], o["step"], o["axis"], o["redshift_index"]
                )
            except BadUniverse as err:
                if self.strict:
                    raise UserError(f"{path}: {err}") from None
                self.skipped[str(path)] = str(err)
                _warn(path, str(err), None)
        self.splits = assign_splits(
            self.infos, o["val_fraction"], o["seed"],
            {s: a["split"] for s, a in self.existing.items()},
        )
        for info in self.infos.values():
            if info.stored_fraction < EMPTY_WARN_FRACTION:
                what = "chunks" if info.chunks else "bytes"
                shape = (info.grid,) * 3 + (info.n_redshifts,)
                _say(
                    f"warning: {info.path}: 'full' declares {shape} but only "
                    f"{_percent(info.stored_fraction)} of its {what} are stored (the rest "
                    "reads as the fill value); the cube is mostly empty",
                    None,
                )

    def check_space(self) -> None:
        """Free space for every shard this run writes, before writing anything."""
        need = sum(
            shard_bytes(i.n_images, self.options["img_dim"], np.dtype(i.dtype).itemsize)
            for i in self.infos.values()
        )
        free = shards.free_bytes(self.output)
        if need > free:
            raise UserError(
                f"{self.output}: {len(self.infos)} shards need up to {_mib(need)} but "
                f"{_mib(free)} is free on its disk; free some space or use another --output"
            )

    def tasks(self) -> list[dict]:
        """One task per universe to slice, for :func:`_write_shard`."""
        o = self.options
        return [
            {
                "info": asdict(info),
                "out_path": str(self.output / self.splits[stem] / f"{stem}.h5"),
                "split": self.splits[stem],
                "compression": self.compression,
                "val_fraction": o["val_fraction"],
                "seed": o["seed"],
                **{k: o[k] for k in ("img_dim", "step", "axis", "redshift_index")},
            }
            for stem, info in self.infos.items()
        ]

    def execute(self, workers: int, progress: bool) -> None:
        """Write the shards, in this process or in ``workers`` spawned processes."""
        from tqdm import tqdm

        tasks = self.tasks()
        # shown also when stderr is not a terminal (a batch job's log), like the other commands
        bar = tqdm(total=len(tasks), unit="universe", desc="slicing", disable=not progress)
        try:
            if workers == 1 or len(tasks) <= 1:
                for task in tasks:
                    if self.handle(_write_shard(task), task["info"]["path"], bar):
                        break
                return
            # spawn, not fork: the caller may hold threads (TensorFlow) that fork would corrupt.
            ctx = multiprocessing.get_context("spawn")
            with cf.ProcessPoolExecutor(min(workers, len(tasks)), mp_context=ctx) as pool:
                futures = {pool.submit(_write_shard, task): task for task in tasks}
                seen = set()
                for fut in cf.as_completed(futures):
                    seen.add(fut)
                    if self.handle(fut.result(), futures[fut]["info"]["path"], bar):
                        # Stop queued files; record those that finished meanwhile.
                        pool.shutdown(wait=True, cancel_futures=True)
                        self.results.extend(
                            f.result()
                            for f in futures
                            if f not in seen and f.done() and not f.cancelled()
                        )
                        break
        finally:
            bar.close()

    def handle(self, res: dict, path: str, bar) -> bool:
        """Record one worker result, warn as needed; True when the run must stop."""
        self.results.append(res)
        bar.update()
        if res["status"] == "no_space":
            self.failure = UserError(f"{path}: {res['reason']}")
            return True
        if res["status"] == "failed":
            if self.strict:
                self.failure = UserError(f"{path}: {res['reason']}")
                return True
            _warn(path, res["reason"], bar)
        elif (
            res["zero_images"] > EMPTY_WARN_FRACTION * res["n_images"]
            and self.infos[res["stem"]].stored_fraction >= EMPTY_WARN_FRACTION
        ):
            _say(
                f"warning: {path}: {res['zero_images']} of its {res['n_images']} images "
                f"({_percent(res['zero_images'] / res['n_images'])}) are all zero; the cube "
                "is mostly empty",
                bar,
            )
        self.save()
        return False

    def written(self) -> dict[str, dict]:
        return {r["stem"]: r for r in self.results if r["status"] == "written"}

    def all_skipped(self) -> dict[str, str]:
        failed = {
            self.infos[r["stem"]].path: r["reason"]
            for r in self.results
            if r["status"] == "failed"
        }
        return {**self.skipped, **failed}

    def save(self, force: bool = False) -> dict | None:
        """Rewrite the manifest with the shards finished so far (at most every
        ``_MANIFEST_EVERY_S`` seconds unless ``force``); return it when written."""
        if not force and time.monotonic() - self._last_save < _MANIFEST_EVERY_S:
            return None
        manifest = _build_manifest(
            self.previous, self.options, self.compression, self.existing, self.infos,
            self.written(), self.splits, self.all_skipped(), self.files,
        )
        _write_manifest(self.manifest_path, manifest)
        self._last_save = time.monotonic()
        return manifest
