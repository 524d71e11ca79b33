"""One worker of the two-process tests: ``python -m tests.distributed.mw_worker MODE OUT [...]``.

With ``TF_CONFIG`` set the worker joins a ``MultiWorkerMirroredStrategy`` cluster
(``exagan_tf.distribute.get_strategy("multiworker")``); without it the same code trains in one
process, which is the reference the cluster must match. Every model family sees the same global
batches either way: batch ``k`` is ``X[k*B:(k+1)*B]``, and worker ``i`` of ``n`` feeds rows
``i*B/n:(i+1)*B/n`` of it through :func:`exagan_tf.distribute.distribute_input` (one process
with several replicas splits a global batch the same way).

Modes:
    families OUT   train tiny GAN, conditional VAE, ConditionalGAN, a classifier and RACOON;
                   write ``OUT/<family>_w<i>.npz`` (final weights) and, multi-worker, check that
                   the unpatched Keras path still fails (``OUT/upstream_w<i>.json``). Without
                   ``TF_CONFIG`` (the reference): ``OUT/<family>_one.npz`` after training on one
                   device, ``OUT/<family>_init.npz`` before, and for the ``--mirrored`` families
                   ``OUT/<family>_r<i>.npz``, replica ``i``'s values after training under
                   ``MirroredStrategy`` over 2 logical CPU devices in this one process.
    backup OUT     train a tiny VAE for ``--epochs`` x ``--period`` steps with
                   ``distribute.BackupAndRestore`` in ``OUT/backup``, logging every step done
                   to ``OUT/steps_w<i>.log`` (a line ``start`` first); restarting the command
                   resumes from the backup. ``families --then-backup`` runs both modes in the
                   same processes (one start of TensorFlow fewer).

Weights are saved under their index in ``model.weights`` with ``t`` (trainable) or ``n``:
``"007_t"`` (layer names carry counters that differ between processes).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

START = time.perf_counter()
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

GLOBAL_BATCH = 8
STEPS = 3


def global_data(seed: int, steps: int, *shape: int) -> np.ndarray:
    """``steps`` global batches of float32 uniform values in [-1, 0.9), stacked on axis 0."""
    rng = np.random.default_rng(seed)
    return rng.uniform(-1.0, 0.9, (steps * GLOBAL_BATCH, *shape)).astype("float32")


def worker_rows(a: np.ndarray, index: int, workers: int) -> np.ndarray:
    """Worker ``index``'s rows of every global batch of ``a`` (all rows for one worker)."""
    per = GLOBAL_BATCH // workers
    blocks = a.reshape(-1, workers, per, *a.shape[1:])[:, index]
    return blocks.reshape(-1, *a.shape[1:])


def input_for(strategy, arrays):
    """The distributed input of this worker's rows of ``arrays`` (a tuple, or one array)."""
    import tensorflow as tf

    from exagan_tf import distribute

    n, i = distribute.num_workers(strategy), distribute.worker_index(strategy)
    mine = tuple(worker_rows(a, i, n) for a in arrays) if isinstance(arrays, tuple) else None
    mine = mine if mine is not None else worker_rows(arrays, i, n)

    def make(batch):
        return tf.data.Dataset.from_tensor_slices(mine).batch(batch, drop_remainder=True).repeat()

    return distribute.distribute_input(strategy, make, GLOBAL_BATCH)


# ----- tiny models of every family ------------------------------------------------------------


def build_gan():
    """The ExaGAN test DCGAN (synchronized batch norm, label flips), compiled with SGD: its
    conv biases feed a batch norm, so their true gradient is zero and Adam would turn the
    round-off of summing in another order into learning-rate-sized steps (see
    tests/core/test_gan.py); SGD passes round-off on unamplified, so the comparison is tight."""
    import dataclasses

    import keras

    from exagan_tf.config import load_exagan
    from exagan_tf.cosmo.dcgan import build_gan as build

    cfg = dataclasses.replace(load_exagan("test"), label_flip=0.2)
    gan = build(cfg, "channels_last")
    gan.compile(keras.optimizers.SGD(0.05), keras.optimizers.SGD(0.05))
    return gan


def build_vae(seed: int = 0):
    import keras

    from exagan_tf.core.vae import VAE

    keras.utils.set_random_seed(seed)
    x, y = keras.Input((8,)), keras.Input((2,))
    h = keras.layers.Dense(8, activation="tanh")(keras.layers.Concatenate()([x, y]))
    encoder = keras.Model([x, y], [keras.layers.Dense(2)(h), keras.layers.Dense(2)(h)])
    z, yd = keras.Input((2,)), keras.Input((2,))
    h = keras.layers.Dense(8, activation="tanh")(keras.layers.Concatenate()([z, yd]))
    decoder = keras.Model([z, yd], keras.layers.Dense(8)(h))
    yp = keras.Input((2,))
    hp = keras.layers.Dense(4, activation="tanh")(yp)
    prior = keras.Model(yp, [keras.layers.Dense(2)(hp), keras.layers.Dense(2)(hp)])
    vae = VAE(encoder, decoder, prior, seed=seed)
    vae.compile(keras.optimizers.Adam(1e-2))
    return vae


def build_cgan():
    import keras

    from exagan_tf.core.cgan import ConditionalGAN

    keras.utils.set_random_seed(1)
    x = keras.Input((8, 8, 1))
    h = keras.layers.Conv2D(4, 3, padding="same", activation="relu")(x)
    generator = keras.Model(x, keras.layers.Conv2D(1, 3, padding="same")(h))
    xd, yd = keras.Input((8, 8, 1)), keras.Input((8, 8, 1))
    h = keras.layers.Conv2D(4, 3, strides=2, padding="same")(
        keras.layers.Concatenate()([xd, yd])
    )
    h = keras.layers.LeakyReLU(0.2)(h)
    discriminator = keras.Model([xd, yd], keras.layers.Conv2D(1, 3, padding="same")(h))
    cgan = ConditionalGAN(generator, discriminator, l1_weight=10.0, d_interval=2)
    cgan.compile(keras.optimizers.Adam(1e-3, beta_1=0.5), keras.optimizers.Adam(1e-3, beta_1=0.5))
    return cgan


def compile_classifier(model):
    """Compiled as the GR trainer compiles RACOON/PENGUIN (BCE from logits, its metrics)."""
    import keras

    model.compile(
        optimizer=keras.optimizers.Adam(1e-3),
        loss=keras.losses.BinaryCrossentropy(from_logits=True),
        metrics=[
            keras.metrics.BinaryAccuracy(threshold=0.0, name="accuracy"),
            keras.metrics.Precision(thresholds=0.0, name="precision"),
            keras.metrics.Recall(thresholds=0.0, name="recall"),
            keras.metrics.AUC(from_logits=True, name="auc"),
        ],
    )
    model.optimizer.build(model.trainable_variables)
    return model


def build_classifier(plain: bool = False):
    """A tiny conv classifier; batch norm synchronized so N workers equal one process.
    ``plain``: a ``keras.Model`` without the multi-worker fix (the upstream check)."""
    import keras

    from exagan_tf.core import compat

    keras.utils.set_random_seed(2)
    x = keras.Input((8, 8, 1))
    h = keras.layers.Conv2D(4, 3, strides=2, padding="same", use_bias=False)(x)
    h = keras.layers.BatchNormalization(synchronized=True)(h)
    h = keras.layers.ReLU()(keras.layers.Flatten()(h))
    logit = keras.layers.Dense(1)(h)
    return compile_classifier((keras.Model if plain else compat.Model)(x, logit))


def build_racoon():
    """The GR trainer's RACOON at 16x16 (dropout 0; its batch norm is per worker)."""
    import keras

    from exagan_tf.core import compat
    from exagan_tf.gr.architectures import build_racoon as build

    keras.utils.set_random_seed(3)
    net = build((16, 16, 1), layer_param=2, dropout=0.0)
    return compile_classifier(compat.Model(net.inputs, net.outputs, name="RACOON"))


def family_data():
    """(builder, global arrays, steps) of every family."""
    x8 = global_data(10, STEPS, 8)
    y2 = global_data(11, STEPS, 2)
    img = global_data(12, STEPS, 8, 8, 1)
    steps_cgan = 4
    cx = global_data(13, steps_cgan, 8, 8, 1)
    labels = (global_data(14, STEPS, 1) > 0).astype("float32")
    return {
        "gan": (build_gan, global_data(15, STEPS, 16, 16, 1), STEPS),
        "vae": (build_vae, (x8, y2), STEPS),
        "cgan": (build_cgan, (cx, np.tanh(2 * cx[:, ::-1])), steps_cgan),
        "classifier": (build_classifier, (img, labels), STEPS),
        "racoon": (build_racoon, (global_data(16, STEPS, 16, 16, 1), labels), STEPS),
    }


def train_family(strategy, name: str, before=None):
    """Train one family for its steps under ``strategy``; returns the model. ``before(model)``
    is called between building and training."""
    build, arrays, steps = family_data()[name]
    with strategy.scope():
        model = build()
    if before is not None:
        before(model)
    model.fit(input_for(strategy, arrays), steps_per_epoch=steps, epochs=1, verbose=0)
    return model


def weights_of(model, replica: int | None = None) -> dict:
    """``{"<index>_<t|n>": value}`` of ``model.weights``; ``replica``: that replica's copy of
    each variable of a one-process distribution strategy (the local value otherwise)."""
    out = {}
    for i, w in enumerate(model.weights):
        value = w.value
        if replica is not None and hasattr(value, "values"):
            value = value.values[replica]
        out[f"{i:03d}_{'t' if w.trainable else 'n'}"] = np.asarray(value.numpy())
    return out


def save_logs(model, path: Path) -> None:
    """The logs ``fit`` reported for its (only) epoch, as JSON."""
    logs = {k: float(v[-1]) for k, v in model.history.history.items()}
    path.write_text(json.dumps(logs, sort_keys=True))


# ----- the unpatched Keras path --------------------------------------------------------------


def upstream_failures(strategy) -> dict:
    """Run ``fit`` without :mod:`exagan_tf.core.compat` for each defect it works around;
    the error message per defect, or ``"passed"`` when upstream no longer fails."""
    import keras
    import tensorflow as tf

    class ScalarLogs(keras.Model):
        """A custom train_step returning scalar metric results, on one-tensor batches."""

        def __init__(self):
            super().__init__()
            self.dense = keras.layers.Dense(1)
            self.tracker = keras.metrics.Mean(name="loss")

        def call(self, x):
            return self.dense(x)

        def train_step(self, x):
            with tf.GradientTape() as tape:
                loss = tf.nn.compute_average_loss(tf.reduce_sum(tf.square(self(x)), axis=1))
            grads = tape.gradient(loss, self.trainable_variables)
            self.optimizer.apply_gradients(zip(grads, self.trainable_variables))
            self.tracker.update_state(loss)
            return {"loss": self.tracker.result()}

    results = {}
    x = global_data(20, 1, 4)
    with strategy.scope():
        scalar = ScalarLogs()
        scalar(np.zeros((1, 4), "float32"))
        scalar.compile(keras.optimizers.SGD(0.1))
        scalar.optimizer.build(scalar.trainable_variables)
    with strategy.scope():
        nested = build_classifier(plain=True)
    cases = (
        ("scalar_logs", scalar, x),
        ("nested_batch", nested, (global_data(21, 1, 8, 8, 1), np.ones((GLOBAL_BATCH, 1), "f4"))),
    )
    for name, model, arrays in cases:
        try:
            model.fit(input_for(strategy, arrays), steps_per_epoch=1, epochs=1, verbose=0)
            results[name] = "passed"
        except Exception as e:  # noqa: BLE001 - the message is the result
            results[name] = f"{type(e).__name__}: {str(e)[:400]}"
    return results


# ----- modes ---------------------------------------------------------------------------------


def families(strategy, out: Path, names) -> None:
    """Multi-worker: this worker's final weights of every family, and the upstream check."""
    from exagan_tf import distribute

    index = distribute.worker_index(strategy)
    t0 = time.perf_counter()
    failures = upstream_failures(strategy)
    (out / f"upstream_w{index}.json").write_text(json.dumps(failures))
    print(f"upstream check: {time.perf_counter() - t0:.1f} s", flush=True)
    for name in names:
        t0 = time.perf_counter()
        model = train_family(strategy, name)
        np.savez(out / f"{name}_w{index}.npz", **weights_of(model))
        save_logs(model, out / f"{name}_logs_w{index}.json")
        print(f"{name}: {time.perf_counter() - t0:.1f} s", flush=True)


def reference(out: Path, names, mirrored) -> None:
    """One process: every family on one device (and its initial weights); the ``mirrored``
    families also under MirroredStrategy over 2 logical CPUs, saving each replica's values."""
    import tensorflow as tf

    for name in names:

        def keep_init(model, name=name):
            np.savez(out / f"{name}_init.npz", **weights_of(model))

        model = train_family(tf.distribute.get_strategy(), name, keep_init)
        np.savez(out / f"{name}_one.npz", **weights_of(model))
        save_logs(model, out / f"{name}_logs_one.json")
    if mirrored:
        strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
        for name in mirrored:
            model = train_family(strategy, name)
            for r in range(2):
                np.savez(out / f"{name}_r{r}.npz", **weights_of(model, r))
            save_logs(model, out / f"{name}_logs_mirrored.json")


def backup(strategy, out: Path, epochs: int, period: int, delay: float) -> None:
    """Tiny VAE on one fixed global batch (so the result depends on the step count only),
    ``epochs`` Keras epochs of ``period`` steps, backed up every epoch."""
    import keras

    from exagan_tf import distribute

    index = distribute.worker_index(strategy)
    with strategy.scope():
        vae = build_vae()
    log = out / f"steps_w{index}.log"
    with open(log, "a") as f:
        f.write("start\n")

    class StepLog(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            with open(log, "a") as f:
                f.write(f"{int(vae.step.numpy())}\n")
            time.sleep(delay)

    arrays = (global_data(30, 1, 8), global_data(31, 1, 2))
    keep = distribute.BackupAndRestore(out / "backup", period, lambda: vae.step.numpy(), strategy)
    vae.fit(
        input_for(strategy, arrays),
        epochs=epochs,
        steps_per_epoch=period,
        callbacks=[keep, StepLog()],
        verbose=0,
    )
    np.savez(out / f"backup_final_w{index}.npz", **weights_of(vae))
    (out / f"done_w{index}").write_text(str(int(vae.step.numpy())))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("mode", choices=("families", "backup"))
    p.add_argument("out", type=Path)
    p.add_argument("--names", nargs="*", default=list(family_data()))
    p.add_argument("--epochs", type=int, default=8)
    p.add_argument("--period", type=int, default=4)
    p.add_argument("--delay", type=float, default=0.0, help="seconds to sleep after each step")
    p.add_argument(
        "--mirrored", nargs="*", default=[], help="reference only: families also run mirrored"
    )
    p.add_argument(
        "--then-backup",
        action="store_true",
        help="families, then the backup mode in OUT/backup (reference: OUT/backup_ref, with no "
        "delay) in the same processes; a worker writes OUT/families_done_w<i> (the reference "
        "OUT/families_done_ref) and waits for a file OUT/go before the backup part",
    )
    args = p.parse_args(argv)

    from exagan_tf import distribute

    multi = "TF_CONFIG" in os.environ
    if args.mirrored and not multi:
        from exagan_tf.runtime import split_cpu

        split_cpu(2)  # before TensorFlow initialises its devices
    t0 = time.perf_counter()
    strategy = distribute.get_strategy("multiworker" if multi else "none")
    print(f"started in {time.perf_counter() - START:.1f} s, strategy in "
          f"{time.perf_counter() - t0:.1f} s", flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    if args.mode == "families":
        if multi:
            families(strategy, args.out, args.names)
        else:
            reference(args.out, args.names, args.mirrored)
        if not args.then_backup:
            return 0
        me = f"w{distribute.worker_index(strategy)}" if multi else "ref"
        (args.out / f"families_done_{me}").write_text("")
        if multi:
            while not (args.out / "go").exists():
                time.sleep(0.05)
        backup_dir = args.out / ("backup" if multi else "backup_ref")
        backup_dir.mkdir(exist_ok=True)
        backup(strategy, backup_dir, args.epochs, args.period, args.delay if multi else 0.0)
    else:
        backup(strategy, args.out, args.epochs, args.period, args.delay)
    return 0


if __name__ == "__main__":
    sys.exit(main())
