"""Statistics against training time for ExaGAN runs:
``python -m exagan_tf.cosmo.curves RUN_DIR [RUN_DIR ...] --metric pixel_ks --out curves.png``.

How a GPU budget is read off a CPU run: every checkpoint's statistics (the training monitor's,
:func:`exagan_tf.core.stats.summary_statistics`) against the seconds spent *training* to reach
it, for several runs (DCGAN and flow-matching alike: both use the same monitor), with the
floors as bands. Prints a table (run, checkpoint, step, training seconds, each metric) and
draws one panel per metric, training seconds on the x axis, the floor of independent universes
as a band (min to max over its draws, median dashed) and the same-universe floor dotted.

Where the numbers come from, per run directory:

- ``metrics.jsonl`` (:data:`METRICS_FILE`), written by the training monitor of runs made since it
  existed (:mod:`exagan_tf.cosmo.train_clock`): one JSON record per line, ``{"kind":
  "checkpoint", "step", "train_seconds", "time", "stats"}`` at every checkpoint, and one
  ``{"kind": "floors", "same", "independent"}`` record. ``train_seconds`` is measured: the sum
  of the wall-clock of the training steps (from each step's start to its end, the input pipeline
  included), so the monitor, TensorBoard figures, checkpoint writing and analysis are not in it;
  it is part of the training checkpoint, so a resumed run accumulates it (a step interrupted by
  SIGTERM or a crash is not counted). The file is rewritten atomically at every checkpoint,
  without the records of steps a resume replays.
- ``train.log`` of older runs (:func:`parse_train_log`): the ``checkpoint N (step S): k=v ...``
  lines give the statistics; the time is *estimated* from the progress lines ``step S/T ... |
  X s/step``, where ``X`` is the mean time per step since the start of that ``fit`` call
  (:class:`exagan_tf.core.callbacks.ProgressLog`), monitor included: training seconds at step
  ``S`` are ``X (S - S0)`` minus the monitor time of the earlier checkpoints of the call (the
  gap between the progress line of a checkpoint's step and its ``checkpoint`` line, 1-second
  timestamps), plus what earlier sessions of the run (``run ... | resuming``) took to reach the
  step it resumed from. Checkpoint writing is counted as training there, so the estimate runs a
  few percent above the measured value.

Floors come from the run's ``metrics.jsonl``, else its ``train.log`` floor lines, else an
``exagan analyze`` ``metrics.json`` of the run (``analysis/*/``); runs on the same data share
them (the same reference and draws), so each distinct set is drawn once.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

from exagan_tf.errors import UserError, cli_errors
from exagan_tf.fileio import write_text_atomic

#: The per-checkpoint record of a run, in its directory.
METRICS_FILE = "metrics.jsonl"

_TIME = r"(?P<t>\d\d):(?P<m>\d\d):(?P<s>\d\d)"
_SESSION = re.compile(_TIME + r" run .* \| (?:new|resuming) \| .*\bsteps (?P<a>\d+)->(?P<b>\d+) "
                      r"in periods of (?P<p>\d+)")
_PROGRESS = re.compile(_TIME + r" step (?P<step>\d+)/(?P<total>\d+) .*\| (?P<x>[0-9.eE+-]+) s/step")
_CHECKPOINT = re.compile(_TIME + r" checkpoint (?P<n>\d+) \(step (?P<step>\d+)\): (?P<kv>.*)$")
_FLOOR_SAME = re.compile(_TIME + r" floor, same universes \([^)]*\): (?P<kv>.*)$")
_FLOOR_IND = re.compile(_TIME + r" floor, independent universes \(.*?\): (?P<kv>.*)$")
_KV = re.compile(r"(\w+)=(\S+)")
_KV_RANGE = re.compile(r"(\w+)=(\S+) \[(\S+), (\S+)\]")


# ------------------------------------------------------------------------ metrics.jsonl
def read_records(path: Path) -> list[dict]:
    """The records of a ``metrics.jsonl`` (none when it does not exist); a line that is not a
    JSON object is a one-line error naming the file and line."""
    if not path.exists():
        return []
    records = []
    for i, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as err:
            raise UserError(f"{path}:{i}: not a JSON record ({err.msg})") from None
        if not isinstance(rec, dict) or "kind" not in rec:
            raise UserError(f"{path}:{i}: a record must be a JSON object with a 'kind'")
        records.append(rec)
    return records


def write_record(path: Path, record: dict) -> None:
    """Add ``record`` to ``path`` by an atomic rewrite: a ``checkpoint`` record replaces those
    of its step and later ones (a resumed run replays them), a ``floors`` record the earlier
    floors."""
    keep = []
    for rec in read_records(path):
        if record["kind"] == "checkpoint" and rec["kind"] == "checkpoint":
            if rec["step"] >= record["step"]:
                continue
        elif record["kind"] == rec["kind"]:
            continue
        keep.append(rec)
    keep.append(record)
    text = "".join(json.dumps(r, sort_keys=True, allow_nan=True) + "\n" for r in keep)
    write_text_atomic(path, text, overwrite=True)


def floors_record(floors: dict) -> dict:
    """The ``floors`` record of :func:`exagan_tf.cosmo.yardsticks.floor_statistics`' result."""
    from exagan_tf.cosmo.yardsticks import FLOOR_INDEPENDENT, FLOOR_SAME

    ind = floors[FLOOR_INDEPENDENT]
    return {"kind": "floors", "same": floors[FLOOR_SAME],
            "independent": {k: ind[k] for k in ("median", "min", "max", "draws")}}


# ------------------------------------------------------------------------------ train.log
def _seconds(match: re.Match) -> int:
    return int(match["t"]) * 3600 + int(match["m"]) * 60 + int(match["s"])


def _values(text: str) -> dict[str, float]:
    out = {}
    for key, value in _KV.findall(text.split(" | ")[0]):
        try:
            out[key] = float(value)
        except ValueError:
            continue
    return out


@dataclass
class _Session:
    start: int
    period: int
    base: float  # training seconds of the run at ``start``
    progress: list = field(default_factory=list)  # (step, s/step, clock)
    checkpoints: list = field(default_factory=list)  # (step, clock, stats)

    def fit_start(self, step: int) -> int:
        """Step at which the ``fit`` call that ran ``step`` started (a session resumed
        mid-period first completes that period in a call of its own)."""
        boundary = -(-self.start // self.period) * self.period
        return boundary if self.start % self.period and step > boundary else self.start

    def monitor_seconds(self, step: int) -> float:
        """Seconds of the monitor at the checkpoint of ``step``, from the timestamps (0 when no
        progress line was written at that step)."""
        for c_step, c_clock, _ in self.checkpoints:
            if c_step == step:
                for p_step, _, p_clock in self.progress:
                    if p_step == step:
                        return float((c_clock - p_clock) % 86400)
        return 0.0

    def train_seconds(self, step: int) -> float | None:
        """Estimated training seconds of the run at ``step`` (None before any progress line)."""
        s0 = self.fit_start(step)
        lines = [p for p in self.progress if s0 < p[0] <= step]
        if not lines:
            lines = [p for p in self.progress if p[0] > s0 and self.fit_start(p[0]) == s0]
            if not lines:
                return None
            lines = lines[:1]
        _, per_step, _ = lines[-1]
        monitors = sum(self.monitor_seconds(c[0]) for c in self.checkpoints if s0 < c[0] < step)
        within = per_step * (step - s0) - monitors
        if s0 != self.start:  # the first call of the session completed a period before this one
            within += self.train_seconds(s0) - self.base
        return self.base + max(within, 0.0)


def parse_train_log(text: str) -> dict:
    """Checkpoints, estimated training seconds and floors from a ``train.log`` (see the module
    docstring). Returns ``{"checkpoints": [{"step", "train_seconds", "stats"}], "floors":
    {"same", "independent": {"median", "min", "max"}} or None}``; a later session's checkpoint
    of a step replaces an earlier one, and the estimate never decreases from one checkpoint to
    the next."""
    sessions: list[_Session] = []
    floors_same, floors_ind = None, None
    for line in text.splitlines():
        if m := _SESSION.match(line):
            start, base = int(m["a"]), 0.0
            if sessions:
                prev = sessions[-1]
                known = prev.train_seconds(start) if start > prev.start else None
                base = known if known is not None else prev.base
            sessions.append(_Session(start, int(m["p"]), base))
        elif not sessions:
            if m := _FLOOR_SAME.match(line):
                floors_same = _values(m["kv"])
            elif m := _FLOOR_IND.match(line):
                floors_ind = _floor_ranges(m["kv"])
        elif m := _PROGRESS.match(line):
            sessions[-1].progress.append((int(m["step"]), float(m["x"]), _seconds(m)))
        elif m := _CHECKPOINT.match(line):
            sessions[-1].checkpoints.append((int(m["step"]), _seconds(m), _values(m["kv"])))
        elif m := _FLOOR_SAME.match(line):
            floors_same = _values(m["kv"])
        elif m := _FLOOR_IND.match(line):
            floors_ind = _floor_ranges(m["kv"])
    by_step: dict[int, dict] = {}
    for session in sessions:
        for step, _, values in session.checkpoints:
            seconds = session.train_seconds(step)
            by_step[step] = {"step": step, "stats": values,
                             "train_seconds": math.nan if seconds is None else seconds}
    rows = [by_step[s] for s in sorted(by_step)]
    latest = 0.0
    for row in rows:  # 1-second timestamps can make the estimate step back; time does not
        if math.isfinite(row["train_seconds"]):
            row["train_seconds"] = latest = max(latest, row["train_seconds"])
    floors = None
    if floors_same is not None or floors_ind is not None:
        floors = {"same": floors_same or {}, "independent": floors_ind or {}}
    return {"checkpoints": rows, "floors": floors}


def _floor_ranges(text: str) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {"median": {}, "min": {}, "max": {}}
    for key, med, lo, hi in _KV_RANGE.findall(text):
        for name, value in (("median", med), ("min", lo), ("max", hi)):
            out[name][key] = float(value)
    return out


# ------------------------------------------------------------------------------- one run
@dataclass
class RunCurve:
    """One run's checkpoints: ``steps``, ``seconds`` (training) and ``stats`` per checkpoint,
    the floors when known, and where the numbers came from."""

    name: str
    kind: str
    source: str
    steps: list[int]
    seconds: list[float]
    stats: list[dict[str, float]]
    floors: dict | None


def _run_kind(run_dir: Path) -> str:
    meta = run_dir / "run.json"
    if meta.exists():
        try:
            return "flow" if json.loads(meta.read_text()).get("model_kind") == "flow" else "dcgan"
        except json.JSONDecodeError:
            raise UserError(f"{meta}: not a JSON file") from None
    return "dcgan"


def _analysis_floors(run_dir: Path) -> dict | None:
    # the rows are labelled by yardsticks.FLOOR_SAME / FLOOR_INDEPENDENT (not imported: that
    # module reads shards through TensorFlow, which this command does not need)
    for path in sorted(run_dir.glob("analysis/*/metrics.json")):
        try:
            m = json.loads(path.read_text())
            rng = m["floor_independent_range"]
            rows = m["statistics"]
            median = next(v for k, v in rows.items() if k.startswith("floor, independent"))
            return {"same": next(v for k, v in rows.items() if k.startswith("floor, same")),
                    "independent": {"median": median, "min": rng["min"], "max": rng["max"]}}
        except (json.JSONDecodeError, KeyError, StopIteration):
            continue
    return None


def read_run(run_dir: str | Path) -> RunCurve:
    """A run's curve from its ``metrics.jsonl``, else its ``train.log`` (see the module
    docstring); a directory with neither is a one-line error."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise UserError(f"{run_dir}: no such run directory")
    name = f"{run_dir.parent.name}/{run_dir.name}"
    records = read_records(run_dir / METRICS_FILE)
    points = [r for r in records if r["kind"] == "checkpoint"]
    if points:
        floors = next(({"same": r["same"], "independent": r["independent"]}
                       for r in records if r["kind"] == "floors"), None)
        source = METRICS_FILE
        rows = sorted(points, key=lambda r: r["step"])
    else:
        log = run_dir / "train.log"
        if not log.exists():
            raise UserError(f"{run_dir}: neither {METRICS_FILE} nor train.log; not a trained run")
        parsed = parse_train_log(log.read_text())
        if not parsed["checkpoints"]:
            raise UserError(f"{log}: no 'checkpoint N (step S): ...' line; nothing to plot")
        rows, floors, source = parsed["checkpoints"], parsed["floors"], "train.log (estimated)"
    return RunCurve(name, _run_kind(run_dir), source, [int(r["step"]) for r in rows],
                    [float(r["train_seconds"]) for r in rows],
                    [{k: float(v) for k, v in r["stats"].items()} for r in rows],
                    floors or _analysis_floors(run_dir))


# --------------------------------------------------------------------------- table, figure
def format_table(curves: list[RunCurve], metrics: list[str]) -> str:
    """One row per checkpoint of every run: run, kind, step, training seconds, each metric."""
    width = max(12, *(len(m) + 2 for m in metrics))
    run_w = max(8, *(len(c.name) + 2 for c in curves))
    lines = [f"{'run':<{run_w}}{'kind':<7}{'step':>7}{'train s':>10}"
             + "".join(f"{m:>{width}}" for m in metrics)]
    for c in curves:
        for step, sec, st in zip(c.steps, c.seconds, c.stats, strict=True):
            vals = "".join(f"{st[m]:>{width}.4g}" if m in st else f"{'-':>{width}}"
                           for m in metrics)
            lines.append(f"{c.name:<{run_w}}{c.kind:<7}{step:>7}{sec:>10.1f}{vals}")
    return "\n".join(lines)


def _distinct_floors(curves: list[RunCurve]) -> list[dict]:
    out = []
    for c in curves:
        if c.floors is not None and c.floors not in out:
            out.append(c.floors)
    return out


def curves_figure(curves: list[RunCurve], metrics: list[str]):
    """One panel per metric against training seconds: a line per run, the independent floor as
    a band (median dashed), the same-universe floor dotted."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7.5, 2.8 * len(metrics)), layout="constrained")
    axes = fig.subplots(len(metrics), 1, squeeze=False)[:, 0]
    floors = _distinct_floors(curves)
    for ax, metric in zip(axes, metrics, strict=True):
        positive = True
        for c in curves:
            pts = [(s, st[metric]) for s, st in zip(c.seconds, c.stats, strict=True)
                   if metric in st and math.isfinite(s) and math.isfinite(st[metric])]
            if pts:
                xs, ys = zip(*pts, strict=True)
                positive &= min(ys) > 0
                ax.plot(xs, ys, "o-", ms=3, label=f"{c.name} ({c.kind})")
        for i, fl in enumerate(floors):
            ind, same = fl.get("independent", {}), fl.get("same", {})
            if metric in ind.get("min", {}) and metric in ind.get("max", {}):
                ax.axhspan(ind["min"][metric], ind["max"][metric], color="0.6", alpha=0.3,
                           label="floor, independent universes" if i == 0 else None)
                ax.axhline(ind["median"][metric], color="0.4", ls="--", lw=1)
                positive &= ind["min"][metric] > 0
            if metric in same:
                ax.axhline(same[metric], color="0.2", ls=":", lw=1,
                           label="floor, same universes" if i == 0 else None)
                positive &= same[metric] > 0
        if positive:
            ax.set_yscale("log")
        ax.set_ylabel(metric)
        ax.grid(alpha=0.3)
    axes[-1].set_xlabel("training seconds (monitor and checkpoints excluded)")
    axes[0].legend(fontsize=7, loc="best")
    return fig


# ---------------------------------------------------------------------------------- command
def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m exagan_tf.cosmo.curves",
                                description=__doc__.split("\n\n")[0].replace("``", ""))
    p.add_argument("runs", nargs="+", help="run directories (expts/TAG/runN)")
    p.add_argument("--metric", action="append", default=None,
                   help="statistic to plot (repeatable; default pixel_ks, hist_chisq_dof, "
                   "pk_frac_err and peak_chisq_dof where recorded)")
    p.add_argument("--out", default=None, help="figure to write (png, pdf, svg)")
    p.add_argument("--force", action="store_true", help="overwrite an existing --out")
    return p.parse_args(argv)


DEFAULT_METRICS = ("pixel_ks", "hist_chisq_dof", "pk_frac_err", "peak_chisq_dof")


@cli_errors
def main(argv=None) -> int:
    args = parse_args(argv)
    curves = [read_run(r) for r in args.runs]
    recorded = sorted({k for c in curves for st in c.stats for k in st})
    if args.metric:
        unknown = [m for m in args.metric if m not in recorded]
        if unknown:
            raise UserError(f"--metric {unknown[0]}: not recorded by any of the runs; they "
                            f"record {', '.join(recorded)}")
        metrics = list(dict.fromkeys(args.metric))
    else:
        metrics = [m for m in DEFAULT_METRICS if m in recorded]
    if args.out and Path(args.out).exists() and not args.force:
        raise UserError(f"{args.out}: already exists; refusing to overwrite it (--force)")
    for c in curves:
        print(f"{c.name}: {c.kind}, {len(c.steps)} checkpoint(s), steps {c.steps[0]}-"
              f"{c.steps[-1]}, {c.seconds[-1]:.0f} training seconds, from {c.source}"
              + ("" if c.floors else "; no floors recorded"))
    print(format_table(curves, metrics))
    if args.out:
        from exagan_tf.core.plots import save_figure

        print(f"wrote {save_figure(curves_figure(curves, metrics), args.out, overwrite=True)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
