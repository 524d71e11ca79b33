"""Evaluate a trained RACOON/PENGUIN on the test seeds, beside a power-spectrum-only baseline.

Metrics (the original's): accuracy, precision, recall, F1, TPR, FPR, ROC AUC and the confusion
matrix ``[[TN, FP], [FN, TP]]`` (GR = positive = 1), on every slice of the test seeds, with the
decision threshold at probability 0.5 (logit 0).

Per cube: the same metrics with one decision per test cube (seed and theory), from the mean
log-odds of its 3 N slices (``cnn_per_cube``, ``pk_baseline_per_cube``): how well a whole
simulation is classified, beside the single-slice numbers the original reported.

Baseline: logistic regression on the binned power spectrum of each slice (per channel,
``n_pk_bins`` linear annuli up to Nyquist, log10 of the power, features standardised), fitted
on the training seeds' slices and scored on the test seeds' slices, so the CNN's advantage is
measured, not assumed (the original's P(k)-only baseline reached accuracy 0.64 and 0.54 on its
two test sets).

Untrained: the same network at initialisation (``untrained``, ``untrained_per_cube``): the
architecture, width and data format of the run, the initial weights the run's seed gives
(:func:`untrained_model` draws them as the run controller does before its first step), batch
norm with its initial statistics (mean 0, variance 1), scored on the same test slices. It tells
what the training added; the floor of a classifier is chance (AUC 0.5, accuracy 0.5 on the
balanced test set), and an untrained network sits near it, though not at it: random features
of the slices can rank them a little, and at the threshold 0.5 an untrained logit may call
most slices one class.

Command line (also run at the end of the run controller)::

    python -m exagan_tf.gr.evaluate experiments/gr/demo.yaml

writes ``<log_dir>/<name>/analysis/epoch<E>/metrics.json`` and ``roc.png`` for the latest saved
model of the run (E = epochs trained), and the ROC figure and test metrics to TensorBoard. An
evaluation written before the untrained scores existed gets them added (the other entries are
kept as they are). ``--untrained-seeds 3`` scores the untrained network of the config with the
run's seed and the two after it and prints the range, without a trained model and without
writing anything.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from exagan_tf.errors import UserError, cli_errors

N_PK_BINS = 8


def sigmoid(x: np.ndarray) -> np.ndarray:
    """Logistic function, numerically stable."""
    from scipy.special import expit

    return expit(np.asarray(x, dtype=np.float64))


def classification_metrics(
    labels: np.ndarray, probabilities: np.ndarray, threshold: float = 0.5
) -> dict:
    """Accuracy, precision, recall (= TPR), F1, FPR, ROC AUC and the confusion matrix.

    Args:
        labels: (n,) 0/1 truth (GR = 1).
        probabilities: (n,) predicted probability of GR.
        threshold: probability above which a slice is called GR.

    Returns:
        A JSON-ready dict; ``roc`` holds the curve (``fpr``, ``tpr``) thinned to <= 200 points.
    """
    from sklearn import metrics

    y = np.asarray(labels, dtype=np.int64).ravel()
    p = np.asarray(probabilities, dtype=np.float64).ravel()
    if y.shape != p.shape or y.size == 0:
        raise UserError(f"metrics: {y.size} labels and {p.size} predictions; expected equal, > 0")
    pred = (p > threshold).astype(np.int64)
    tn, fp, fn, tp = metrics.confusion_matrix(y, pred, labels=[0, 1]).ravel()
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    both = len(np.unique(y)) == 2
    auc = float(metrics.roc_auc_score(y, p)) if both else float("nan")
    fpr, tpr, _ = metrics.roc_curve(y, p) if both else (np.array([0, 1]), np.array([0, 1]), None)
    keep = np.unique(np.linspace(0, len(fpr) - 1, min(len(fpr), 200)).astype(int))
    return {
        "accuracy": float((tp + tn) / y.size),
        "precision": float(precision),
        "recall": float(recall),
        "tpr": float(recall),
        "fpr": float(fp / (fp + tn)) if fp + tn else 0.0,
        "f1": float(f1),
        "roc_auc": auc,
        "confusion_matrix": [[int(tn), int(fp)], [int(fn), int(tp)]],
        "n": int(y.size),
        "roc": {"fpr": fpr[keep].tolist(), "tpr": tpr[keep].tolist()},
    }


def per_cube_metrics(labels: np.ndarray, probabilities: np.ndarray, cubes: np.ndarray) -> dict:
    """:func:`classification_metrics` with one decision per cube: the mean log-odds of its slices.

    Args:
        labels: (n,) 0/1 truth per slice (GR = 1).
        probabilities: (n,) predicted probability of GR per slice.
        cubes: (n,) integer cube id per slice (e.g. ``2 * seed + label``); the slices of one
            cube must share its label.
    """
    y = np.asarray(labels, dtype=np.int64).ravel()
    p = np.clip(np.asarray(probabilities, dtype=np.float64).ravel(), 1e-15, 1 - 1e-15)
    ids, index = np.unique(np.asarray(cubes).ravel(), return_inverse=True)
    if y.shape != p.shape or index.shape != y.shape:
        raise UserError(
            f"per-cube metrics: {y.size} labels, {p.size} predictions, "
            f"{index.size} cube ids; expected equal numbers"
        )
    cube_labels = np.zeros(ids.size, dtype=np.int64)
    cube_labels[index] = y
    if np.any(cube_labels[index] != y):
        raise UserError("per-cube metrics: a cube holds slices of both labels")
    log_odds = np.bincount(index, np.log(p) - np.log1p(-p)) / np.bincount(index)
    return classification_metrics(cube_labels, sigmoid(log_odds))


def power_spectrum_features(
    images: np.ndarray, data_format: str = "channels_last", nbins: int = N_PK_BINS
) -> np.ndarray:
    """log10 of the binned power spectrum of each slice and channel: (n, C * nbins).

    Uses :func:`exagan_tf.core.stats.cross_power_spectrum_2d` (linear annuli, pixel units,
    the slice mean removed first).
    """
    from exagan_tf.core.stats import cross_power_spectrum_2d

    x = np.asarray(images, dtype=np.float64)
    if data_format == "channels_last":
        x = np.moveaxis(x, -1, 1)
    feats = []
    for c in range(x.shape[1]):
        field = x[:, c] - x[:, c].mean(axis=(1, 2), keepdims=True)
        _, pk = cross_power_spectrum_2d(field, nbins=nbins)
        feats.append(np.log10(np.maximum(pk, 1e-30)))
    return np.concatenate(feats, axis=1)


def power_spectrum_baseline(
    train_images: np.ndarray,
    train_labels: np.ndarray,
    test_images: np.ndarray,
    data_format: str = "channels_last",
    nbins: int = N_PK_BINS,
    seed: int = 0,
) -> np.ndarray:
    """Fit logistic regression on training P(k) features; return test probabilities of GR."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    xtr = power_spectrum_features(train_images, data_format, nbins)
    xte = power_spectrum_features(test_images, data_format, nbins)
    clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=5000, random_state=seed))
    clf.fit(xtr, np.asarray(train_labels).ravel().astype(int))
    return clf.predict_proba(xte)[:, 1]


def roc_figure(results: dict[str, dict], title: str = "GR vs Newton, test seeds"):
    """ROC curves of the classifiers in ``results`` (name -> classification_metrics output)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(4.6, 4.2))
    ax = fig.add_subplot(1, 1, 1)
    for name, res in results.items():
        ax.plot(res["roc"]["fpr"], res["roc"]["tpr"], label=f"{name} (AUC {res['roc_auc']:.3f})")
    ax.plot([0, 1], [0, 1], color="0.6", lw=0.8, ls="--", label="chance")
    ax.set_xlabel("false positive rate (Newton called GR)")
    ax.set_ylabel("true positive rate (GR called GR)")
    ax.set_title(title, fontsize=9)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    return fig


def predict_probabilities(model, images: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """Probability of GR for each slice (sigmoid of the model's logit, inference mode).

    The model is called batch by batch rather than through ``Model.predict``, whose compiled
    predict function is traced anew for every model (about a second each, and the evaluation
    meets two or more models)."""
    import keras

    logits = [keras.ops.convert_to_numpy(model(images[i:i + batch_size], training=False))
              for i in range(0, len(images), batch_size)]
    return sigmoid(np.concatenate(logits).ravel())


def untrained_model(cfg, input_shape, data_format: str, seed: int | None = None):
    """The run's network at initialisation: the global seeds set to ``seed`` (default the run's
    ``train_params.seed``), then :func:`~exagan_tf.gr.architectures.build_model` with the run's
    architecture, width, dropout and activation: the draws the run controller makes before its
    first step, so the weights are the ones the run started from."""
    import keras

    from exagan_tf.gr.architectures import build_model

    m = cfg.model_params
    keras.utils.set_random_seed(cfg.train_params.seed if seed is None else int(seed))
    return build_model(
        m.architecture, tuple(input_shape), m.layer_param, m.dropout, m.activation, data_format
    )


def _test_arrays(cfg, data_format: str):
    """(dataset, images, labels, cube ids) of the test seeds."""
    from exagan_tf.gr import data

    d = cfg.data_params
    _, test_seeds = data.split_seeds(d.train_seeds, d.test_seeds)
    test = data.make_dataset(d.loader, d.datafile, test_seeds, d.newton_augmentation, data_format)
    x_test, y_test, seeds_test = test.arrays()
    cubes = 2 * seeds_test + np.asarray(y_test, dtype=np.int64).ravel()
    return test, x_test, y_test, cubes


def untrained_scores(cfg, data_format: str, seeds: Sequence[int] | None = None,
                     arrays=None) -> dict[int, tuple[dict, dict]]:
    """Per seed (default the run's), the untrained network's metrics on the test slices:
    ``{seed: (per slice, per cube)}`` (``arrays``: :func:`_test_arrays`' result, if at hand)."""
    test, x_test, y_test, cubes = arrays or _test_arrays(cfg, data_format)
    out = {}
    for seed in [cfg.train_params.seed] if seeds is None else seeds:
        p = predict_probabilities(untrained_model(cfg, test.input_shape, data_format, seed),
                                  x_test)
        out[int(seed)] = (classification_metrics(y_test, p), per_cube_metrics(y_test, p, cubes))
    return out


def add_untrained(result: dict, cfg, data_format: str, arrays=None) -> dict:
    """``result`` with ``untrained`` and ``untrained_per_cube`` (the run's seed) filled in."""
    seed = int(cfg.train_params.seed)
    slices, cubes = untrained_scores(cfg, data_format, arrays=arrays)[seed]
    return {**result, "untrained": {**slices, "seed": seed},
            "untrained_per_cube": {**cubes, "seed": seed}}


def evaluate_model(
    model, cfg, data_format: str, out_dir: Path, epoch: int, writer=None, logger=None
) -> dict:
    """CNN, untrained CNN and baseline metrics on the test seeds; writes metrics.json and
    roc.png in out_dir."""
    from exagan_tf.core.plots import figure_to_array
    from exagan_tf.fileio import write_json_atomic
    from exagan_tf.gr import data

    d = cfg.data_params
    train_seeds, _ = data.split_seeds(d.train_seeds, d.test_seeds)
    train = data.make_dataset(d.loader, d.datafile, train_seeds, d.newton_augmentation, data_format)
    arrays = _test_arrays(cfg, data_format)
    _, x_test, y_test, cubes = arrays
    x_train, y_train, _ = train.arrays()
    p_cnn = predict_probabilities(model, x_test)
    p_base = power_spectrum_baseline(
        x_train, y_train, x_test, data_format, seed=cfg.train_params.seed
    )
    cnn, base = classification_metrics(y_test, p_cnn), classification_metrics(y_test, p_base)
    arch = model.name
    result = {
        "architecture": arch,
        "name": cfg.model_params.name,
        "epoch": int(epoch),
        "datafile": str(d.datafile),
        "train_seeds": [0, int(d.train_seeds)],
        "test_seeds": [int(d.train_seeds), int(d.train_seeds + d.test_seeds)],
        "newton_augmentation": d.newton_augmentation,
        "n_test_slices": int(len(y_test)),
        "cnn": cnn,
        "pk_baseline": base,
        "cnn_per_cube": per_cube_metrics(y_test, p_cnn, cubes),
        "pk_baseline_per_cube": per_cube_metrics(y_test, p_base, cubes),
    }
    result = add_untrained(result, cfg, data_format, arrays)
    out_dir.mkdir(parents=True, exist_ok=True)
    write_json_atomic(out_dir / "metrics.json", result)
    fig = write_roc(result, out_dir)
    if writer is not None:
        import tensorflow as tf

        with writer.as_default(step=int(epoch)):
            for key in ("accuracy", "precision", "recall", "f1", "roc_auc"):
                tf.summary.scalar(f"test/{key}", cnn[key])
                tf.summary.scalar(f"test_pk_baseline/{key}", base[key])
                tf.summary.scalar(f"test_untrained/{key}", result["untrained"][key])
            tf.summary.image("test/roc", figure_to_array(fig)[None])
        writer.flush()
    if logger is not None:
        unt = result["untrained"]
        logger.info(
            f"test seeds {result['test_seeds']}: {arch} accuracy {cnn['accuracy']:.3f} "
            f"AUC {cnn['roc_auc']:.3f} | P(k) baseline accuracy {base['accuracy']:.3f} "
            f"AUC {base['roc_auc']:.3f} | untrained {arch} accuracy {unt['accuracy']:.3f} "
            f"AUC {unt['roc_auc']:.3f} | per cube: {arch} AUC "
            f"{result['cnn_per_cube']['roc_auc']:.3f}, P(k) AUC "
            f"{result['pk_baseline_per_cube']['roc_auc']:.3f} | {out_dir / 'metrics.json'}"
        )
    return result


def write_roc(result: dict, out_dir: Path, overwrite: bool = False):
    """``roc.png`` of the trained network, the P(k) baseline and the untrained network from a
    ``metrics.json`` dict (the curves are stored in it); returns the figure."""
    from exagan_tf.core.plots import save_figure

    arch = result["architecture"]
    curves = {arch: result["cnn"], "P(k) logistic": result["pk_baseline"]}
    if "untrained" in result:
        curves[f"{arch} untrained"] = result["untrained"]
    fig = roc_figure(curves, title=f"{result['name']}, epoch {result['epoch']}, test seeds")
    save_figure(fig, Path(out_dir) / "roc.png", overwrite=overwrite)
    return fig


#: the rows of the printed table: (label, per-slice key, per-cube key); the trained network's
#: label is filled in with its architecture
TABLE_ROWS = (
    ("floor: chance", None, None),
    ("classical baseline: P(k) logistic regression", "pk_baseline", "pk_baseline_per_cube"),
    ("{arch} (the original's network), epoch {epoch}", "cnn", "cnn_per_cube"),
    ("{arch} untrained (seed {seed})", "untrained", "untrained_per_cube"),
)


def format_table(result: dict) -> str:
    """The rows of ``metrics.json`` as a plain-text table: ROC AUC and accuracy per slice and per
    cube, from chance (the floor) to the ceiling (AUC 1; there is no new model kind for
    the GR classifiers)."""
    cols = f"{'slice AUC':>10s} {'accuracy':>9s} {'cube AUC':>9s} {'accuracy':>9s}"
    lines = [f"{'':48s}{cols}"]
    seed = result.get("untrained", {}).get("seed", "?")
    for label, key, cube_key in TABLE_ROWS:
        name = label.format(arch=result["architecture"], epoch=result["epoch"], seed=seed)
        if key is None:
            lines.append(f"{name:48s}{0.5:10.3f} {0.5:9.3f} {0.5:9.3f} {0.5:9.3f}")
        elif key in result:
            r, c = result[key], result[cube_key]
            lines.append(f"{name:48s}{r['roc_auc']:10.3f} {r['accuracy']:9.3f} "
                         f"{c['roc_auc']:9.3f} {c['accuracy']:9.3f}")
    lines.append(f"{'ceiling: every slice right':48s}{1.0:10.3f} {1.0:9.3f} {1.0:9.3f} "
                 f"{1.0:9.3f}")
    return "\n".join(lines)


def latest_model(models_dir: Path) -> tuple[Path, int]:
    """The ``model_epoch<E>.keras`` with the largest E in ``models_dir``."""
    found = []
    for p in Path(models_dir).glob("model_epoch*.keras"):
        m = re.fullmatch(r"model_epoch(\d+)\.keras", p.name)
        if m:
            found.append((int(m.group(1)), p))
    if not found:
        raise UserError(f"{models_dir}: no saved model (model_epoch<E>.keras); train it first")
    epoch, path = max(found)
    return path, epoch


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Command-line options of ``python -m exagan_tf.gr.evaluate``."""
    p = argparse.ArgumentParser(
        prog="python -m exagan_tf.gr.evaluate",
        description="Evaluate a trained run on its test seeds, beside chance, the P(k) baseline "
        "and the untrained network.",
    )
    p.add_argument("config", help="the run controller YAML of the run (sections as temp.yaml)")
    p.add_argument(
        "--untrained-seeds", type=int, metavar="N",
        help="only score the config's network at initialisation with the run's seed and the "
        "N - 1 after it, and print the range (no trained model needed; nothing written)",
    )
    return p.parse_args(argv)


def _data_format(cfg, run_dir: Path) -> str:
    """The data format the run trained in (``run.json``), else the config's, resolved."""
    from exagan_tf import distribute

    meta = json.loads((run_dir / "run.json").read_text()) if (run_dir / "run.json").exists() else {}
    return meta.get("data_format") or distribute.resolve_data_format(cfg.train_params.data_format)


def _print_seeds(cfg, data_format: str, seeds: Sequence[int]) -> None:
    """The untrained network's AUC and accuracy for each seed, then their ranges."""
    scores = untrained_scores(cfg, data_format, seeds)
    arch = cfg.model_params.architecture
    for seed, (r, c) in scores.items():
        print(f"{arch} untrained, seed {seed}: slice AUC {r['roc_auc']:.3f} accuracy "
              f"{r['accuracy']:.3f} | cube AUC {c['roc_auc']:.3f} accuracy {c['accuracy']:.3f}")
    for i, what in enumerate(("slice", "cube")):
        auc = [s[i]["roc_auc"] for s in scores.values()]
        acc = [s[i]["accuracy"] for s in scores.values()]
        print(f"range over {len(scores)} seeds, per {what}: AUC {min(auc):.3f}-{max(auc):.3f} "
              f"accuracy {min(acc):.3f}-{max(acc):.3f}")


@cli_errors
def main(argv: Sequence[str] | None = None) -> int:
    """Evaluate the latest model of the run named in the config; print the metrics."""
    args = parse_args(argv)

    from exagan_tf.gr.config import load_gr_config

    cfg = load_gr_config(args.config)
    run_dir = Path(cfg.train_params.log_dir) / cfg.model_params.name
    if args.untrained_seeds is not None:
        if args.untrained_seeds < 1:
            raise UserError(f"--untrained-seeds {args.untrained_seeds}: expected 1 or more")
        from exagan_tf.gr import data

        d = cfg.data_params
        data.inspect_file(d.datafile, data.split_seeds(d.train_seeds, d.test_seeds)[1].tolist())
        seed = cfg.train_params.seed
        _print_seeds(cfg, _data_format(cfg, run_dir), range(seed, seed + args.untrained_seeds))
        return 0
    path, epoch = latest_model(run_dir / "models")
    out = run_dir / "analysis" / f"epoch{epoch}"
    fmt = _data_format(cfg, run_dir)
    if (out / "metrics.json").exists():
        res = json.loads((out / "metrics.json").read_text())
        if "untrained" in res:
            print((out / "metrics.json").read_text(), end="")
            print(format_table(res), file=sys.stderr)
            print(f"(already evaluated: {out / 'metrics.json'})", file=sys.stderr)
            return 0
        # evaluated before the untrained scores existed: add them, keep the rest
        from exagan_tf.fileio import write_json_atomic

        res = add_untrained(res, cfg, fmt)
        write_json_atomic(out / "metrics.json", res, overwrite=True)
        write_roc(res, out, overwrite=True)
        print(format_table(res))
        print(f"added the untrained network's scores to {out / 'metrics.json'}")
        return 0
    from exagan_tf.fileio import load_model_safe

    model = load_model_safe(path)
    res = evaluate_model(model, cfg, fmt, out, epoch)
    for who in ("cnn", "pk_baseline", "untrained", "cnn_per_cube", "pk_baseline_per_cube",
                "untrained_per_cube"):
        r = res[who]
        print(
            f"{who}: accuracy {r['accuracy']:.3f} precision {r['precision']:.3f} recall "
            f"{r['recall']:.3f} F1 {r['f1']:.3f} AUC {r['roc_auc']:.3f} "
            f"confusion {r['confusion_matrix']}"
        )
    print(format_table(res))
    print(f"wrote {out / 'metrics.json'} and {out / 'roc.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
