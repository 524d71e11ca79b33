"""The ``exagan sweep`` workers: ask the study for trials and train each in the process.

``exagan sweep TAG ...`` (:func:`main`) checks its input and opens the study
(:func:`exagan_tf.sweep.prepare`), then works itself (``--workers 1``, what every task of a
SLURM array runs) or starts K worker processes of the same command and prints the study's
progress until they end.

Per trial: find and re-queue killed trials (:func:`exagan_tf.sweep.recover`), ``ask`` (a
re-queued trial first), suggest the space's parameters, train the run directory
``expts/sweeps/STUDY/TAG/runN`` through the system's ``train`` with the parameters as ``--set``
overrides while a heartbeat thread touches ``heartbeats/trialN``, report the monitor's metric at
each checkpoint period (:data:`exagan_tf.core.callbacks.PERIOD_HOOKS`), let the median pruner
stop it, and ``tell`` the metric of the last period. Training runs in the worker's process: the
TensorFlow import and graph-building caches are paid once per worker (``keras.backend.
clear_session`` between trials). The worker's time outside training (ask, tell, heartbeats,
checks, clearing) is logged at its end as a fraction of its training time.
"""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from exagan_tf.errors import UserError
from exagan_tf.fileio import write_json_atomic
from exagan_tf.sweep import Heartbeat, counts, parse_args, prepare, progress_line, recover


class Terminated(Exception):
    """A SIGTERM stopped the trial's training after its checkpoint."""


class MetricMissing(UserError):
    """The monitor did not log the study's metric."""


def _suggest(trial, space: dict) -> dict:
    params = {}
    for key, spec in space.items():
        if spec["type"] == "categorical":
            params[key] = trial.suggest_categorical(key, spec["choices"])
        elif spec["type"] == "int":
            params[key] = trial.suggest_int(key, spec["low"], spec["high"], log=spec["log"])
        else:
            params[key] = trial.suggest_float(key, spec["low"], spec["high"], log=spec["log"])
    return params


class Reporter:
    """The period hook of one trial: record the metric per step in ``metrics/runN.json``,
    report it to the trial and prune; note a SIGTERM stop."""

    def __init__(self, trial, metric: str, record: Path):
        self.trial, self.metric, self.record = trial, metric, record
        self.values: dict[int, float] = {}
        if record.is_file():  # a resumed run: its periods so far count for the pruner
            self.values = {int(k): v for k, v in json.loads(record.read_text()).items()}
            for step, value in self.values.items():
                trial.report(value, step)

    def __call__(self, step: int, metrics: dict, stopped: bool) -> None:
        import optuna

        if stopped:
            raise Terminated(step)
        if self.metric not in metrics:
            raise MetricMissing(f"--metric {self.metric}: the monitor logs "
                                f"{', '.join(sorted(metrics))}")
        value = float(metrics[self.metric])
        self.values[step] = value
        write_json_atomic(self.record, self.values, overwrite=True)
        self.trial.report(value, step)
        if self.trial.should_prune():
            raise optuna.TrialPruned(f"pruned at step {step}: {self.metric}={value:.4g}")

    def value(self) -> float | None:
        """The metric of the last period."""
        return self.values[max(self.values)] if self.values else None


def _train_trial(args, tag, space, study, study_dir: Path, trial, say) -> tuple[str, float]:
    """Run one trial; (state, seconds in training)."""
    import keras
    import optuna

    from exagan_tf.core import callbacks as cb
    from exagan_tf.sweep import _set_text, fail_and_requeue

    params = _suggest(trial, space)
    run = trial.user_attrs.get("resume_of", trial.number)
    trial.set_user_attr("run", run)
    trial.set_user_attr("host", socket.gethostname())
    sets = [*args.sets, *(_set_text(k, v) for k, v in params.items())]
    expts = Path(args.expts) / "sweeps" / args.study
    reporter = Reporter(trial, args.metric, study_dir / "metrics" / f"run{run}.json")
    beat = Heartbeat(study_dir / "heartbeats" / f"trial{trial.number}", args.heartbeat)
    say(f"trial {trial.number} (run {run}{', resumed' if run != trial.number else ''}): "
        + " ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                   for k, v in params.items()))
    command = ["-m", "exagan_tf.cli", "train", tag.name, str(run), "--expts", str(expts),
               *(w for s in sets for w in ("--set", s))]
    cb.PERIOD_HOOKS.append(reporter)
    t0 = time.perf_counter()
    try:
        tag.system.commands().train(tag, str(run), sets, expts, False, command)
        state = "complete"
    except optuna.TrialPruned as why:
        state = "pruned"
        say(f"trial {trial.number} {why}")
    except Terminated:
        state = "terminated"
    except MetricMissing:
        study.tell(trial, state=optuna.trial.TrialState.FAIL)
        raise
    except UserError as err:  # the trial's own failure (e.g. a non-finite loss)
        say(f"trial {trial.number} failed: {err}")
        state = "failed"
    finally:
        spent = time.perf_counter() - t0
        cb.PERIOD_HOOKS.remove(reporter)
        keras.backend.clear_session()
    if state == "terminated":
        beat.stop()
        fail_and_requeue(study, study.get_trials(deepcopy=False)[trial.number])
        return state, spent
    if state == "complete":
        value = reporter.value()
        if value is None:
            state = "failed"
            say(f"trial {trial.number} failed: no checkpoint period reported {args.metric}")
        else:
            study.tell(trial, value)
            say(f"trial {trial.number} complete: {args.metric}={value:.4g}")
    if state == "pruned":
        study.tell(trial, state=optuna.trial.TrialState.PRUNED)
    elif state == "failed":
        study.tell(trial, state=optuna.trial.TrialState.FAIL)
    beat.stop()
    return state, spent


def run_worker(args, tag, space: dict, study, study_dir: Path) -> int:
    """Ask and train trials until the study holds ``args.trials`` finished ones; 143 after a
    SIGTERM (the trial re-queued to resume)."""
    t_start = time.perf_counter()
    import keras  # noqa: F401 - the TF import, once per worker, before the first trial

    from exagan_tf.sweep import study_pruner

    study_pruner(study)
    t_ready = time.perf_counter()

    def say(text: str) -> None:
        print(text, flush=True)

    trained = 0.0
    n_trials = 0
    code = 0
    while True:
        for number in recover(study, study_dir, args.grace):
            say(f"trial {number}: its worker is gone; marked failed, re-queued to resume")
        c = counts(study)
        if c["waiting"] == 0 and c["done"] + c["running"] >= args.trials:
            break
        trial = study.ask()
        state, spent = _train_trial(args, tag, space, study, study_dir, trial, say)
        trained += spent
        n_trials += 1
        if state == "terminated":
            say(f"trial {trial.number}: SIGTERM; checkpointed, re-queued to resume")
            code = 143
            break
        say(progress_line(study, args.trials, args.metric))
    total = time.perf_counter() - t_start
    other = total - trained - (t_ready - t_start)
    if n_trials:
        say(f"worker: {n_trials} trials, {trained:.1f} s training, {other:.2f} s bookkeeping "
            f"({100 * other / max(trained, 1e-9):.2f}%), TF import {t_ready - t_start:.1f} s")
        write_json_atomic(study_dir / "workers" / f"{socket.gethostname()}_{_pid()}.json",
                          {"trials": n_trials, "training_s": trained, "bookkeeping_s": other,
                           "import_s": t_ready - t_start, "total_s": total}, overwrite=True)
    if not args.quiet and code == 0:
        say(progress_line(study, args.trials, args.metric))
    sys.stdout.flush()
    return code


def _pid() -> int:
    import os

    return os.getpid()


def main(argv: list[str]) -> int:
    """``exagan sweep TAG ...``: validate, open the study, then work in this process
    (``--workers 1``) or start the workers."""
    args = parse_args(argv)
    tag, space, study, study_dir = prepare(args)
    if args.workers == 1:
        return run_worker(args, tag, space, study, study_dir)
    return run_workers(args, argv, study, study_dir)


def _child_argv(argv: list[str]) -> list[str]:
    out, skip = [], False
    for word in argv:
        if skip:
            skip = False
        elif word == "--workers":
            skip = True
        elif not word.startswith("--workers="):
            out.append(word)
    return [*out, "--workers", "1", "--quiet"]


def run_workers(args, argv: list[str], study, study_dir: Path) -> int:
    """Start ``args.workers`` worker processes on the study and print progress until done."""
    cmd = [sys.executable, "-m", "exagan_tf.cli", "sweep", *_child_argv(argv)]
    procs = []
    for i in range(args.workers):
        log = open(study_dir / f"worker{i}.log", "a")  # noqa: SIM115 - held by the child
        procs.append(subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT))
        log.close()

    def forward(signum, frame):
        for p in procs:
            if p.poll() is None:
                p.send_signal(signum)

    previous = signal.signal(signal.SIGTERM, forward)
    last = ""
    try:
        while any(p.poll() is None for p in procs):
            line = progress_line(study, args.trials, args.metric)
            if line != last:
                print(line, flush=True)
                last = line
            time.sleep(2.0)
    except KeyboardInterrupt:
        forward(signal.SIGTERM, None)
        for p in procs:
            p.wait()
        raise
    finally:
        signal.signal(signal.SIGTERM, previous)
    print(progress_line(study, args.trials, args.metric), flush=True)
    codes = [p.returncode for p in procs]
    if any(codes):
        print(f"workers exited with {codes} (logs: {study_dir}/worker*.log)", file=sys.stderr)
    write_json_atomic(study_dir / "last_command.json", {"argv": argv, "codes": codes},
                      overwrite=True)
    return max(codes, key=abs)
