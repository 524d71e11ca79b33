"""A full disk (ENOSPC) during a checkpoint or model write leaves the previous one loadable.

Three write paths: :mod:`exagan_tf.fileio`'s ``save_weights_atomic`` /
``save_model_atomic`` (temporary file + ``os.replace``) and the ``tf.train.CheckpointManager``
used by ``CheckpointSaver`` / ``PreemptionGuard`` (data files, then the ``checkpoint`` state file
written atomically by TensorFlow). The failure is injected at each write step in turn.
"""

from __future__ import annotations

import errno
import os

import keras
import numpy as np
import pytest
import tensorflow as tf
from tensorflow.python.lib.io import file_io

from exagan_tf import fileio


def _full(*args, **kwargs):
    raise OSError(errno.ENOSPC, "No space left on device")


def _model(value: float) -> keras.Model:
    x = keras.Input((3,))
    model = keras.Model(x, keras.layers.Dense(2, name="d")(x))
    model.set_weights([np.full_like(w, value) for w in model.get_weights()])
    return model


@pytest.mark.parametrize("save,suffix", [(fileio.save_weights_atomic, ".weights.h5"),
                                         (fileio.save_model_atomic, ".keras")])
@pytest.mark.parametrize("where", ["replace", "write"])
def test_keras_saves_keep_the_previous_file(tmp_path, monkeypatch, save, suffix, where):
    path = tmp_path / f"g_final{suffix}"
    save(_model(1.0), path)
    if where == "replace":
        monkeypatch.setattr(fileio.os, "replace", _full)
    else:  # the disk fills while Keras writes the temporary file
        monkeypatch.setattr(keras.Model, "save_weights" if suffix == ".weights.h5" else "save",
                            lambda self, p, *a, **k: (open(p, "wb").write(b"\0" * 10), _full()))
    with pytest.raises(OSError) as err:
        save(_model(2.0), path)
    assert err.value.errno == errno.ENOSPC
    monkeypatch.undo()
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]  # no temporary left
    back = _model(0.0)
    if suffix == ".keras":
        back = keras.saving.load_model(path, safe_mode=True)
    else:
        back.load_weights(path)
    assert all(np.all(np.asarray(w) == 1.0) for w in back.get_weights())


def _partial_write(original):
    """Checkpoint._write that leaves half-written files under the new prefix, then fails."""

    def write(self, prefix, *args, **kwargs):
        for suffix in (".index", ".data-00000-of-00001"):
            with open(prefix + suffix, "wb") as f:
                f.write(b"\x00" * 17)
        _full()

    return write


@pytest.mark.parametrize("where", ["data", "state_file"])
def test_checkpoint_manager_keeps_the_previous_checkpoint(tmp_path, monkeypatch, where):
    var = tf.Variable(1.0)
    step = tf.Variable(4, dtype=tf.int64)
    ckpt = tf.train.Checkpoint(v=var, step=step)
    manager = tf.train.CheckpointManager(ckpt, str(tmp_path), max_to_keep=1)
    manager.save(checkpoint_number=4)
    var.assign(99.0)
    step.assign(8)
    if where == "data":
        monkeypatch.setattr(tf.train.Checkpoint, "_write",
                            _partial_write(tf.train.Checkpoint._write))
    else:  # data written, then the 'checkpoint' state file cannot be written
        monkeypatch.setattr(file_io, "atomic_write_string_to_file", _full)
    with pytest.raises(OSError):
        manager.save(checkpoint_number=8)
    monkeypatch.undo()
    # a resumed run builds a new manager over the folder, as train.py does
    fresh_var, fresh_step = tf.Variable(0.0), tf.Variable(0, dtype=tf.int64)
    fresh = tf.train.Checkpoint(v=fresh_var, step=fresh_step)
    latest = tf.train.CheckpointManager(fresh, str(tmp_path), max_to_keep=1).latest_checkpoint
    assert latest is not None and latest.endswith("-4"), latest
    fresh.restore(latest).assert_existing_objects_matched()
    assert float(fresh_var.numpy()) == 1.0 and int(fresh_step.numpy()) == 4
    assert os.path.exists(latest + ".index")
