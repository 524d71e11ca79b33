"""``exagan sweep``: hyperparameter studies over any config tag, on Optuna.

    exagan sweep TAG --space SPACE.yaml --trials N --metric NAME [--direction minimize|maximize]
                 [--set KEY=VALUE ...] [--storage URL] [--study NAME] [--workers K] [--expts DIR]
    exagan sweep show STUDY [--storage URL] [--expts DIR] [--top N]

The space file maps config keys of the tag's system to a range or a list of choices::

    learning_rate: {low: 1.0e-5, high: 1.0e-3, log: true}   # float, log-uniform
    node_factor_G: {low: 0.5, high: 2.0}                     # float
    num_layersG:   {low: 1, high: 4}                         # int (both ends integers)
    optimizer_choice: [0, 1, 2]                              # categorical

Every key is checked before anything starts by the system's own ``--dry-run`` with each end and
each choice as ``--set`` (so a key, a type and a value are judged exactly as ``exagan train``
judges them); the metric against the statistics the system's monitor logs.

The study lives in ``expts/sweeps/STUDY/``: its storage (SQLite ``study.db`` by default; a path
ending in ``.log``/``.journal`` or ``journal:PATH`` is Optuna's journal file storage, for shared
file systems where SQLite locking is unreliable; any other ``dialect://`` URL goes to
SQLAlchemy, e.g. PostgreSQL for many nodes) and its trials, each an ordinary run directory
``expts/sweeps/STUDY/TAG/runN`` (``exagan analyze TAG N --expts expts/sweeps/STUDY`` reads it).
A trial is one ``exagan train`` through the shared lifecycle, in the worker's process: TF is
imported once per worker, not once per trial. At each checkpoint period the lifecycle hands the
monitor's statistics to a period hook (:data:`exagan_tf.core.callbacks.PERIOD_HOOKS`): the
metric is reported to the trial and the median pruner (:class:`optuna.pruners.MedianPruner`)
may stop it there. The trial's value is its metric at its last period.

Workers: ``--workers K`` starts K worker processes on the storage; a SLURM job array runs the
same command with ``--workers 1`` in every task. Each worker asks for trials until the study
holds N finished ones (complete, pruned or failed by their own error), so rerunning the command
continues a study and a larger N extends it.

A killed trial is marked failed and resumed: a worker touches the trial's heartbeat file
(``heartbeats/trialN``, host and pid inside) every ``HEARTBEAT`` seconds; any worker finds a
running trial whose process is gone (same host) or whose heartbeat is older than ``GRACE``
seconds, marks it failed (``killed``) and enqueues its parameters with ``resume_of``; the trial
that takes them trains the same run directory, which the lifecycle resumes from its latest
checkpoint. A SIGTERM makes the lifecycle checkpoint and stop; the worker then does the same at
once and exits 143. Chosen over "failed and forgotten" because a trial is minutes to hours of
training that its checkpoint keeps, and over Optuna's RDB heartbeat because that exists for
RDB storages only (not the journal one) and re-queues without the run directory. Finishing is
one ``tell``; a trial killed after training but before it is resumed, finds its run trained to
the end ("nothing to do") and takes its value from ``metrics/runN.json``: nothing is lost or
trained twice.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import socket
import threading
import time
from pathlib import Path

import yaml

from exagan_tf import registry
from exagan_tf.config import nearest_key
from exagan_tf.errors import UserError

HEARTBEAT = 10.0  # seconds between heartbeat touches
GRACE = 60.0  # a heartbeat older than this marks its trial killed
PRUNER_STARTUP = 4  # complete trials before the median pruner prunes
SPACE_KEYS = {"low", "high", "log", "type", "choices"}

# statistics each system's monitor logs (a Keras loss of the period is accepted too)
MONITOR_METRICS = {
    "muons": ("rchi2", "overlap", "nonoverlap", "auc", "auc_gap", "dof"),
    "exagan": ("chisq", "chisq_pspect", "pk_frac_err", "pk_frac_err_mean", "pixel_ks",
               "hist_chisq_dof"),
}


def _suffix(path: str) -> bool:
    return path.endswith((".log", ".journal", ".jsonl"))


# ---------------------------------------------------------------- the space


def read_space(path: str | Path) -> dict:
    """``key -> {"type": int|float|categorical, ...}`` of a space file (shape checked)."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text())
    except OSError as err:
        raise UserError(f"--space {path}: cannot read ({err.strerror})") from None
    except yaml.YAMLError as err:
        raise UserError(f"{path}: not YAML ({str(err).splitlines()[0]})") from None
    if not isinstance(raw, dict) or not raw:
        raise UserError(f"{path}: expected a mapping of config keys to ranges or choices")
    space = {}
    for key, spec in raw.items():
        where = f"{path}: {key}"
        if isinstance(spec, list):
            spec = {"choices": spec}
        if not isinstance(spec, dict) or not set(spec) <= SPACE_KEYS:
            raise UserError(f"{where}: expected {{low: A, high: B[, log: true]}} or a list "
                            "of choices")
        if "choices" in spec:
            if not isinstance(spec["choices"], list) or not spec["choices"]:
                raise UserError(f"{where}: empty list of choices")
            space[key] = {"type": "categorical", "choices": spec["choices"]}
            continue
        low, high, log = spec.get("low"), spec.get("high"), spec.get("log", False)
        nums = [v for v in (low, high) if isinstance(v, int | float) and not isinstance(v, bool)]
        if len(nums) != 2:
            raise UserError(f"{where}: low and high must be numbers (got {low!r}, {high!r})")
        kind = spec.get("type") or ("int" if all(isinstance(v, int) for v in nums) else "float")
        if kind not in ("int", "float"):
            raise UserError(f"{where}: type={kind!r}: expected int or float")
        if kind == "int" and not all(float(v).is_integer() for v in nums):
            raise UserError(f"{where}: type int with non-integer ends {low!r}, {high!r}")
        if not low < high:
            raise UserError(f"{where}: empty range: low={low!r} must be below high={high!r}")
        if log is not True and log is not False:
            raise UserError(f"{where}: log={log!r}: expected true or false")
        if log and low <= 0:
            raise UserError(f"{where}: log range needs low > 0 (got {low!r})")
        space[key] = {"type": kind, "low": int(low) if kind == "int" else float(low),
                      "high": int(high) if kind == "int" else float(high), "log": bool(log)}
    return space


def dry_config(tag, sets: list[str]) -> dict:
    """The tag's resolved config with ``sets``, from the system's own ``--dry-run``."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        tag.system.commands().train(tag, "0", list(sets), Path("expts"), True, [])
    return yaml.safe_load(out.getvalue())[tag.name]


def _flat_keys(cfg: dict, prefix: str = "") -> set[str]:
    keys = set()
    for k, v in cfg.items():
        keys.add(f"{prefix}{k}")
        if isinstance(v, dict):
            keys |= _flat_keys(v, f"{prefix}{k}.") | set(v)
    return keys


def _set_text(key: str, value) -> str:
    if isinstance(value, bool):
        return f"{key}={str(value).lower()}"
    return f"{key}={value}" if isinstance(value, str) else f"{key}={value!r}"


def check_space(tag, space: dict, sets: list[str], path) -> dict:
    """Validate every key, end and choice of ``space`` with the system's dry run; returns the
    base config (with ``sets``)."""
    base = dry_config(tag, sets)
    keys = _flat_keys(base)
    for key, spec in space.items():
        if key not in keys:
            raise UserError(f"{path}: {key}: not a config key of tag {tag.name} "
                            f"({tag.system.name}){nearest_key(key, sorted(keys))}")
        values = spec["choices"] if spec["type"] == "categorical" else [spec["low"], spec["high"]]
        for value in values:
            try:
                dry_config(tag, [*sets, _set_text(key, value)])
            except UserError as err:
                raise UserError(f"{path}: {key}: {err}") from None
    return base


def _lookup(cfg: dict, key: str):
    """``cfg[key]``, a dotted key into nested sections, or a key of any section."""
    node = cfg
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            break
        node = node[part]
    else:
        return node
    for value in cfg.values():
        if isinstance(value, dict) and key in value:
            return value[key]
    raise KeyError(key)


def check_metric(tag, metric: str) -> None:
    """A metric the system's monitor does not log is a UserError (systems without a list here
    are checked at the first checkpoint period)."""
    known = MONITOR_METRICS.get(tag.system.name)
    if known is not None and metric not in known and not metric.endswith("loss"):
        raise UserError(f"--metric {metric}: not a statistic the {tag.system.name} monitor logs "
                        f"(logs: {', '.join(known)}, and the losses){nearest_key(metric, known)}")


# ---------------------------------------------------------------- storage and study


def open_storage(spec: str | None, study_dir: Path):
    """The Optuna storage of ``spec`` (None: SQLite ``study_dir/study.db``)."""
    import optuna

    try:
        if spec is None:
            study_dir.mkdir(parents=True, exist_ok=True)
            spec = f"sqlite:///{(study_dir / 'study.db').resolve()}"
        if spec.startswith("journal:") or (_suffix(spec) and "://" not in spec):
            from optuna.storages.journal import JournalFileBackend, JournalStorage

            path = Path(spec.removeprefix("journal:"))
            if not path.parent.is_dir():
                raise OSError(f"no such directory {path.parent}")
            return JournalStorage(JournalFileBackend(str(path)))
        if "://" not in spec:
            raise UserError(f"--storage {spec}: expected a database URL (sqlite:///study.db, "
                            "postgresql://...) or a journal file (journal:PATH or *.log)")
        kwargs = {"connect_args": {"timeout": 120}} if spec.startswith("sqlite") else {}
        return optuna.storages.RDBStorage(spec, engine_kwargs=kwargs)
    except UserError:
        raise
    except Exception as err:  # noqa: BLE001 - any driver's refusal becomes one line
        first = (str(err).splitlines() or [""])[0]
        raise UserError(f"--storage {spec}: cannot open ({type(err).__name__}: {first:.160})"
                        ) from None


def open_study(name: str, storage, record: dict | None):
    """Load or create the study; ``record`` (tag, metric, direction, space, sets) must equal
    the stored one. ``record`` None: load only."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    if record is None:
        try:
            return optuna.load_study(study_name=name, storage=storage)
        except KeyError:
            raise UserError(f"no study '{name}' in the storage") from None
    study = optuna.create_study(
        study_name=name, storage=storage, direction=record["direction"], load_if_exists=True,
        pruner=optuna.pruners.MedianPruner(n_startup_trials=PRUNER_STARTUP, n_warmup_steps=0))
    stored = study.user_attrs.get("sweep")
    if stored is None:
        study.set_user_attr("sweep", record)
    elif stored != record:
        from exagan_tf.runs import first_difference

        raise UserError(f"study '{name}' exists with a different definition "
                        f"({first_difference(stored, record)}); choose another --study")
    return study


def study_pruner(study):
    """Re-attach the median pruner to a loaded study."""
    import optuna

    study.pruner = optuna.pruners.MedianPruner(n_startup_trials=PRUNER_STARTUP, n_warmup_steps=0)
    return study


# ---------------------------------------------------------------- heartbeats and recovery


class Heartbeat:
    """Touch ``path`` (host and pid inside) every ``every`` seconds in a thread."""

    def __init__(self, path: Path, every: float):
        self.path, self.every, self._stop = path, every, threading.Event()
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"{socket.gethostname()} {os.getpid()}\n")
        self._thread = threading.Thread(target=self._beat, daemon=True)
        self._thread.start()

    def _beat(self):
        while not self._stop.wait(self.every):
            with contextlib.suppress(OSError):
                os.utime(self.path)

    def stop(self):
        self._stop.set()
        self._thread.join()
        with contextlib.suppress(OSError):
            self.path.unlink()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _stale(trial, hb_dir: Path, grace: float) -> bool:
    path = hb_dir / f"trial{trial.number}"
    try:
        host, pid = path.read_text().split()
        age = time.time() - path.stat().st_mtime
    except (OSError, ValueError):
        start = trial.datetime_start.timestamp() if trial.datetime_start else time.time()
        return time.time() - start > grace
    if host == socket.gethostname() and not _alive(int(pid)):
        return True
    return age > grace


def fail_and_requeue(study, trial) -> bool:
    """Mark a killed running ``trial`` failed and enqueue its parameters to resume its run
    directory; False when another worker did it first."""
    import optuna
    from optuna.trial import TrialState

    storage = study._storage
    try:
        storage.set_trial_user_attr(trial._trial_id, "killed", True)
        if not storage.set_trial_state_values(trial._trial_id, TrialState.FAIL):
            return False
    except optuna.exceptions.UpdateFinishedTrialError:
        return False
    run = trial.user_attrs.get("run", trial.number)
    study.enqueue_trial(trial.params, user_attrs={"resume_of": run})
    return True


def recover(study, study_dir: Path, grace: float) -> list[int]:
    """Fail and re-queue every running trial whose worker is gone; their numbers."""
    from optuna.trial import TrialState

    found = []
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        if _stale(trial, study_dir / "heartbeats", grace) and fail_and_requeue(study, trial):
            found.append(trial.number)
    return found


def counts(study) -> dict:
    """Trials by state: complete, pruned, failed (own error), killed, running, waiting."""
    from optuna.trial import TrialState

    out = dict.fromkeys(("complete", "pruned", "failed", "killed", "running", "waiting"), 0)
    for t in study.get_trials(deepcopy=False):
        if t.state == TrialState.FAIL:
            out["killed" if t.user_attrs.get("killed") else "failed"] += 1
        elif t.state.name.lower() in out:
            out[t.state.name.lower()] += 1
    out["done"] = out["complete"] + out["pruned"] + out["failed"]
    return out


def progress_line(study, n: int, metric: str) -> str:
    """``done / running / pruned, best so far, time left``."""
    from optuna.trial import TrialState

    c = counts(study)
    trials = study.get_trials(deepcopy=False)
    spans = [(t.datetime_complete - t.datetime_start).total_seconds() for t in trials
             if t.state in (TrialState.COMPLETE, TrialState.PRUNED) and t.datetime_start
             and t.datetime_complete]
    try:
        best = study.best_trial
        best_s = f"best {metric}={best.value:.4g} (trial {best.number})"
    except ValueError:
        best_s = "no complete trial yet"
    left = max(0, n - c["done"])
    eta = ""
    if spans and left:
        secs = sum(spans) / len(spans) * left / max(1, c["running"])
        eta = f" | ~{secs / 60:.1f} min left"
    return (f"{study.study_name}: {c['done']}/{n} done ({c['complete']} complete, "
            f"{c['pruned']} pruned, {c['failed']} failed, {c['killed']} killed and resumed), "
            f"{c['running']} running | {best_s}{eta}")


def parse_args(argv: list[str]) -> argparse.Namespace:
    """Options of ``exagan sweep TAG``."""
    p = argparse.ArgumentParser(prog="exagan sweep", description=__doc__.split("\n\n")[0])
    p.add_argument("tag", help="config tag (exagan list)")
    p.add_argument("--space", required=True, help="YAML file: config key -> range or choices")
    p.add_argument("--trials", type=int, required=True, help="finished trials the study holds")
    p.add_argument("--metric", required=True, help="a statistic the system's monitor logs")
    p.add_argument("--direction", choices=("minimize", "maximize"), default="minimize")
    p.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE",
                   help="fixed override for every trial (repeatable)")
    p.add_argument("--storage", default=None, help="default sqlite expts/sweeps/STUDY/study.db")
    p.add_argument("--study", default=None, help="study name (default: TAG)")
    p.add_argument("--workers", type=int, default=1, help="worker processes on the storage")
    p.add_argument("--expts", default="expts", help="root of the run directories (expts)")
    p.add_argument("--baseline", action="store_true",
                   help="first trial: the tag's own values of the space's keys")
    p.add_argument("--heartbeat", type=float, default=HEARTBEAT, help=argparse.SUPPRESS)
    p.add_argument("--grace", type=float, default=GRACE, help=argparse.SUPPRESS)
    p.add_argument("--quiet", action="store_true", help=argparse.SUPPRESS)  # a child worker
    args = p.parse_args(argv)
    if args.trials < 1 or args.workers < 1:
        raise UserError(f"--trials {args.trials} --workers {args.workers}: expected >= 1")
    args.study = args.study or args.tag
    if not args.study or "/" in args.study or args.study.startswith("."):
        raise UserError(f"--study {args.study!r}: expected a name without '/'")
    return args


def prepare(args) -> tuple:
    """Validate everything and open the study: (tag, space, study, study_dir)."""
    tag = registry.find_tag(args.tag)
    check_metric(tag, args.metric)
    space = read_space(args.space)
    base = check_space(tag, space, args.sets, args.space)
    study_dir = Path(args.expts) / "sweeps" / args.study
    storage = open_storage(args.storage, study_dir)
    record = {"tag": tag.name, "metric": args.metric, "direction": args.direction,
              "space": space, "sets": list(args.sets)}
    study = open_study(args.study, storage, record)
    if args.baseline and not study.get_trials(deepcopy=False):
        study.enqueue_trial({k: _lookup(base, k) for k in space}, skip_if_exists=True)
    study_dir.mkdir(parents=True, exist_ok=True)
    return tag, space, study, study_dir
