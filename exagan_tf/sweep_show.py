"""``exagan sweep show STUDY``: the best trials, Optuna's figures and the best tag.

Prints a table of the best complete trials (value, parameters, run directory) and the counts
by state; writes in ``expts/sweeps/STUDY/``: ``history.png`` (optimization history),
``importances.png`` (parameter importances, fANOVA; needs two complete trials and two
parameters), ``parallel.png`` (parallel coordinates), all through
``optuna.visualization.matplotlib``, and ``best_tag.yaml``: the best trial's resolved config
as a tag ``<TAG>_<STUDY>`` to paste into ``experiments/``.
"""

from __future__ import annotations

import argparse
import warnings
from pathlib import Path

import yaml

from exagan_tf.errors import UserError
from exagan_tf.fileio import atomic_path, write_text_atomic
from exagan_tf.sweep import counts, open_storage, open_study


def _figures(study, out: Path) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from optuna.visualization import matplotlib as ovm

    written = []
    plots = (("history.png", ovm.plot_optimization_history),
             ("importances.png", ovm.plot_param_importances),
             ("parallel.png", ovm.plot_parallel_coordinate))
    for name, plot in plots:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                ax = plot(study)
            except (ValueError, RuntimeError, ZeroDivisionError) as err:
                print(f"  {name}: skipped ({err})")
                continue
        fig = ax.figure if hasattr(ax, "figure") else ax.flat[0].figure
        fig.set_size_inches(8, 5)
        with atomic_path(out / name, overwrite=True) as tmp:
            fig.savefig(tmp, format="png", dpi=90, bbox_inches="tight")
        plt.close(fig)
        written.append(name)
    return written


def best_tag(study, record: dict, study_dir: Path) -> str:
    """The best trial's resolved config as a YAML tag, with a comment naming its origin."""
    best = study.best_trial
    run = best.user_attrs.get("run", best.number)
    cfg_file = study_dir / record["tag"] / f"run{run}" / "config.yaml"
    if not cfg_file.is_file():
        raise UserError(f"{cfg_file}: the best trial's run directory has no config.yaml")
    cfg = yaml.safe_load(cfg_file.read_text())
    tuned = ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                      for k, v in best.params.items())
    head = (f"# exagan sweep {study.study_name}: trial {best.number}, "
            f"{record['metric']}={best.value:.4g} ({record['direction']}); {tuned}\n")
    return head + yaml.safe_dump({f"{record['tag']}_{study.study_name}": cfg}, sort_keys=False)


def show(name: str, storage_spec: str | None, expts: str, top: int) -> int:
    """Print the table, write the figures and ``best_tag.yaml``."""
    study_dir = Path(expts) / "sweeps" / name
    if storage_spec is None and not (study_dir / "study.db").is_file():
        raise UserError(f"{study_dir}/study.db: no such study (give --storage for another one)")
    study = open_study(name, open_storage(storage_spec, study_dir), None)
    record = study.user_attrs.get("sweep")
    if record is None:
        raise UserError(f"study '{name}' was not made by exagan sweep (no definition stored)")
    c = counts(study)
    print(f"study {name}: tag {record['tag']}, {record['direction']} {record['metric']} | "
          f"{c['complete']} complete, {c['pruned']} pruned, {c['failed']} failed, "
          f"{c['killed']} killed (resumed), {c['running']} running, {c['waiting']} waiting")
    from optuna.trial import TrialState

    done = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if not done:
        print("no complete trial yet")
        return 0
    done.sort(key=lambda t: t.value, reverse=record["direction"] == "maximize")
    keys = list(record["space"])
    head = ["trial", "run", record["metric"], "min", *keys]
    rows = []
    for t in done[:top]:
        minutes = (t.datetime_complete - t.datetime_start).total_seconds() / 60
        rows.append([str(t.number), str(t.user_attrs.get("run", t.number)), f"{t.value:.4g}",
                     f"{minutes:.1f}",
                     *(f"{t.params[k]:.4g}" if isinstance(t.params.get(k), float)
                       else str(t.params.get(k)) for k in keys)])
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
    for r in [head, *rows]:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)))
    study_dir.mkdir(parents=True, exist_ok=True)
    written = _figures(study, study_dir)
    snippet = best_tag(study, record, study_dir)
    write_text_atomic(study_dir / "best_tag.yaml", snippet, overwrite=True)
    print(f"figures: {', '.join(str(study_dir / w) for w in written)}")
    print(f"best tag ({study_dir / 'best_tag.yaml'}):")
    print(snippet, end="")
    return 0


def main(argv: list[str]) -> int:
    """``exagan sweep show STUDY [--storage URL] [--expts DIR] [--top N]``."""
    p = argparse.ArgumentParser(prog="exagan sweep show", description=__doc__.split("\n\n")[0])
    p.add_argument("study", help="study name")
    p.add_argument("--storage", default=None, help="default sqlite expts/sweeps/STUDY/study.db")
    p.add_argument("--expts", default="expts", help="root of the run directories (expts)")
    p.add_argument("--top", type=int, default=10, help="rows of the table")
    args = p.parse_args(argv)
    return show(args.study, args.storage, args.expts, args.top)
