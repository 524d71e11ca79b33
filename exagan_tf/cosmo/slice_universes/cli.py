"""Slice N-body universe cubes into 2-D training and validation shards for the ExaGAN DCGAN.

Command line: ``python -m exagan_tf.cosmo.slice_universes --input DIR --output DIR ...``; the
slicing itself is :func:`exagan_tf.cosmo.slice_universes.slice_universes`.
"""

from __future__ import annotations

import argparse

from exagan_tf.cosmo.slice_universes.driver import _default_workers, slice_universes
from exagan_tf.cosmo.slice_universes.shards import COMPRESSIONS
from exagan_tf.errors import cli_errors


def _parser() -> argparse.ArgumentParser:
    doc = __doc__.split("\n\n")
    parser = argparse.ArgumentParser(
        prog="python -m exagan_tf.cosmo.slice_universes",
        description=doc[0] + " One HDF5 shard per universe in OUTPUT/train or OUTPUT/val "
        "(split by universe, from --seed and the file names), dataset 'data' (n, IMG_DIM, "
        "IMG_DIM) of raw counts, plus OUTPUT/manifest.json.",
        epilog=(
            "Bad input files (unreadable, truncated, 'full' missing or wrongly shaped) are "
            "skipped with a one-line warning and recorded under 'skipped' in manifest.json; "
            "--strict makes them a one-line error (exit 2). Existing shards are kept and "
            "skipped, so an interrupted run resumes; an OUTPUT sliced with other options is "
            "refused. Each shard's SHA-256 is recorded in manifest.json and checked before a "
            "shard counts as done (a damaged shard is a one-line error); mostly empty cubes "
            "draw a warning; too little free disk space for the shards is a one-line error "
            "before anything is written."
        ),
    )
    parser.add_argument(
        "--input",
        nargs="+",
        default=["data"],
        metavar="PATH",
        help="folder(s) of *.h5/*.hdf5 universes, files or globs (default: data)",
    )
    parser.add_argument(
        "--output", default="data/slices", help="output folder (default: data/slices)"
    )
    parser.add_argument("--img-dim", type=int, default=128, help="tile side in voxels (128)")
    parser.add_argument("--step", type=int, default=8, help="take every STEP-th plane (8)")
    parser.add_argument(
        "--axis", type=int, default=0, choices=(0, 1, 2), help="slicing axis of the cube (0)"
    )
    parser.add_argument(
        "--redshift-index",
        type=int,
        default=0,
        help="redshift channel of 'full', CosmoFlow 0 = z 0 (0)",
    )
    parser.add_argument(
        "--val-fraction",
        type=float,
        default=0.1,
        help="fraction of universes held out for validation; at least one when "
        "there are two or more (0.1)",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the train/val split (0)")
    parser.add_argument(
        "--workers",
        type=int,
        default=_default_workers(),
        help="processes slicing files in parallel (min(2, cpu count))",
    )
    parser.add_argument(
        "--compression",
        default="none",
        choices=COMPRESSIONS,
        help="shard compression: none (fastest reads, in any order) or gzip (level 1 + "
        "shuffle, ~5x smaller, fast only when read in order) (default: none)",
    )
    parser.add_argument(
        "--strict",
        action="store_true",
        help="a bad input file is an error (exit 2) instead of skipped",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    return parser


@cli_errors
def main(argv: list[str] | None = None) -> None:
    """Console entry point: ``python -m exagan_tf.cosmo.slice_universes``."""
    args = _parser().parse_args(argv)
    summary = slice_universes(
        args.input,
        args.output,
        img_dim=args.img_dim,
        step=args.step,
        axis=args.axis,
        redshift_index=args.redshift_index,
        val_fraction=args.val_fraction,
        seed=args.seed,
        workers=args.workers,
        strict=args.strict,
        compression=args.compression,
        progress=not args.no_progress,
    )
    u, i = summary["universes"], summary["images"]
    print(
        f"{summary['files']} input files: {summary['written']} sliced, "
        f"{summary['already_done']} already done, {len(summary['skipped'])} skipped; "
        f"{summary['output']}: train {u['train']} universes / {i['train']} images, "
        f"val {u['val']} universes / {i['val']} images; "
        f"{summary['images_written']} images in {summary['seconds']:.1f} s "
        f"({summary['images_per_s']:.0f} images/s)"
        + (
            ""
            if summary["peak_rss_mib"] is None
            else f"; peak RSS {summary['peak_rss_mib']:.0f} MiB per worker"
        )
    )
