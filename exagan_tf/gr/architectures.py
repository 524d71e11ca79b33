"""RACOON and PENGUIN, the original classifier tables, as Keras functional models.

The original tables (Johanmkr/MasterThesis ``ML_CNN/architectures.py``), for 256^2 inputs::

    RACOON:  Conv(k4, s4, p0) (C, 256, 256) -> (lp, 64, 64)
             Conv(k4, s4, p0) -> (4 lp, 16, 16)
             Conv(k4, s4, p0) -> (8 lp, 4, 4)
             Linear(8 lp * 4 * 4 -> lp), act, Dropout;  Linear(lp -> 1)   (no biases anywhere)
    PENGUIN: 6 x Conv(k4, s2, p1): (C, 256, 256) -> (lp, 128, 128) -> (2 lp, 64, 64)
             -> (4 lp, 32, 32) -> (6 lp, 16, 16) -> (8 lp, 8, 8) -> (10 lp, 4, 4)   (no conv bias)
             Linear(10 lp * 16 -> 10 lp), BatchNorm1d, act, Dropout;
             Linear(10 lp -> lp), BatchNorm1d, act, Dropout;  Linear(lp -> 1)

Each convolution is followed by batch normalisation (PyTorch defaults: eps 1e-5, momentum 0.1,
i.e. Keras momentum 0.9) and the activation (ReLU by default; the original run controller passed
LeakyReLU(0.2), ``activation: leaky_relu`` here). One logit out: train with binary cross-entropy
from logits. The logit layer is float32 whatever the global dtype policy (under mixed precision
the rest computes in 16 bits; the logit and the loss stay float32).

Other input sizes (the table is for 256^2): the widths and the final 4^2 map are kept, and only
the strides change, so a 32^2 or 64^2 slice on a CPU meets the same layers. The input side ``s``
must be a power of two from 8 to 256; the network must downsample by s / 4:

* RACOON spreads the log2(s/4) halvings evenly over its three layers (the earlier layers
  take the extra ones); a layer with stride t > 1 has kernel t and no padding (the original's
  non-overlapping k = s = 4), a layer with stride 1 has kernel 3 and 'same' padding.
  256 -> strides (4, 4, 4) (the table); 64 -> (4, 2, 2); 32 -> (2, 2, 2).
* PENGUIN's first log2(s/4) layers keep k4, s2, p1 ('same' padding is exactly p = 1 for even
  inputs); the rest have stride 1 (k3, 'same'). 256 -> six stride-2 layers (the table);
  32 -> three stride-2 layers, then three stride-1 layers at 4^2.

Initialisers are Keras defaults (Glorot uniform), not PyTorch's Kaiming uniform.

Batch-norm statistics of a trained model (:func:`recalibrate_batch_norm`, off unless
``train_params.bn_recalibration_batches`` > 0): with momentum 0.9 the moving mean and variance
remember about ten batches, so at the end of training they describe the last few batches, and on
GR/Newton slices, whose variance is dominated by a few deep wells and differs between the
classes, that shifts the logits: at A_s x 1e6 RACOON ranked the test slices with AUC 0.997 but
called 61 % of the GR slices Newton at the threshold 0.5. Re-estimating them ("precise batch
norm", Wu & Johnson 2021, arXiv:2105.07576) from many training batches, layer by layer in
inference mode (dropout off), fixes the threshold and leaves the weights alone.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import keras
import numpy as np

from exagan_tf.errors import UserError

ARCHITECTURES = ("RACOON", "PENGUIN")
ALIASES = {
    "racoon": "RACOON",
    "raccoon": "RACOON",
    "r": "RACOON",
    "penguin": "PENGUIN",
    "p": "PENGUIN",
}
BN_EPSILON = 1e-5
BN_MOMENTUM = 0.9
FINAL_SIZE = 4


def canonical_name(architecture: str) -> str:
    """``RACCOON`` / ``racoon`` / ``r`` -> ``RACOON``; ``penguin`` / ``p`` -> ``PENGUIN``."""
    name = ALIASES.get(str(architecture).lower())
    if name is None:
        raise UserError(f"architecture {architecture!r}: expected RACOON (or RACCOON) or PENGUIN")
    return name


def _halvings(size: int) -> int:
    if size < 8 or size > 256 or size & (size - 1):
        raise UserError(
            f"input size {size}: RACOON/PENGUIN take square slices whose side is a power of two "
            f"from 8 to 256 (the original table is for 256)"
        )
    return int(math.log2(size // FINAL_SIZE))


def racoon_strides(size: int) -> tuple[int, int, int]:
    """Strides of RACOON's three convolutions for an input side ``size`` (see module doc)."""
    m = _halvings(size)
    per_layer = [m // 3 + (1 if i < m % 3 else 0) for i in range(3)]
    return tuple(2**p for p in per_layer)  # type: ignore[return-value]


def penguin_strides(size: int) -> tuple[int, ...]:
    """Strides of PENGUIN's six convolutions for an input side ``size`` (see module doc)."""
    m = _halvings(size)
    return tuple(2 if i < m else 1 for i in range(6))


def _activation(name: str) -> keras.layers.Layer:
    if name == "relu":
        return keras.layers.ReLU()
    if name == "leaky_relu":
        return keras.layers.LeakyReLU(negative_slope=0.2)
    raise UserError(f"activation {name!r}: expected relu or leaky_relu")


def _conv_block(
    x,
    filters: int,
    stride: int,
    kernel: int,
    padding: str,
    data_format: str,
    activation: str,
    name: str,
):
    bn_axis = 1 if data_format == "channels_first" else -1
    x = keras.layers.Conv2D(
        filters,
        kernel,
        strides=stride,
        padding=padding,
        use_bias=False,
        data_format=data_format,
        name=f"{name}_conv",
    )(x)
    x = keras.layers.BatchNormalization(
        axis=bn_axis, epsilon=BN_EPSILON, momentum=BN_MOMENTUM, name=f"{name}_bn"
    )(x)
    return _activation(activation)(x)


def _input(input_shape: tuple[int, int, int], data_format: str) -> tuple[keras.KerasTensor, int]:
    if len(input_shape) != 3:
        raise UserError(f"input shape {input_shape}: expected (height, width, channels)")
    h, w, c = input_shape
    if h != w:
        raise UserError(f"input shape {input_shape}: RACOON/PENGUIN take square slices")
    shape = (c, h, w) if data_format == "channels_first" else (h, w, c)
    return keras.Input(shape=shape, name="slice"), h


def build_racoon(
    input_shape: tuple[int, int, int],
    layer_param: int = 64,
    dropout: float = 0.5,
    activation: str = "relu",
    data_format: str = "channels_last",
) -> keras.Model:
    """RACOON for slices of ``input_shape`` = (size, size, num_channels); one logit out."""
    inputs, size = _input(input_shape, data_format)
    x = inputs
    widths = (layer_param, 4 * layer_param, 8 * layer_param)
    for i, (filters, stride) in enumerate(zip(widths, racoon_strides(size)), start=1):
        kernel, padding = (stride, "valid") if stride > 1 else (3, "same")
        x = _conv_block(x, filters, stride, kernel, padding, data_format, activation, f"conv{i}")
    x = keras.layers.Flatten(data_format=data_format, name="flatten")(x)
    x = keras.layers.Dense(layer_param, use_bias=False, name="fc1")(x)
    x = _activation(activation)(x)
    x = keras.layers.Dropout(dropout, name="fc1_dropout")(x)
    logit = keras.layers.Dense(1, use_bias=False, dtype="float32", name="logit")(x)
    return keras.Model(inputs, logit, name="RACOON")


def build_penguin(
    input_shape: tuple[int, int, int],
    layer_param: int = 64,
    dropout: float = 0.5,
    activation: str = "relu",
    data_format: str = "channels_last",
) -> keras.Model:
    """PENGUIN for slices of ``input_shape`` = (size, size, num_channels); one logit out."""
    inputs, size = _input(input_shape, data_format)
    x = inputs
    widths = tuple(m * layer_param for m in (1, 2, 4, 6, 8, 10))
    for i, (filters, stride) in enumerate(zip(widths, penguin_strides(size)), start=1):
        kernel = 4 if stride > 1 else 3
        x = _conv_block(x, filters, stride, kernel, "same", data_format, activation, f"conv{i}")
    x = keras.layers.Flatten(data_format=data_format, name="flatten")(x)
    for name, units in (("fc1", 10 * layer_param), ("fc2", layer_param)):
        x = keras.layers.Dense(units, name=name)(x)
        x = keras.layers.BatchNormalization(
            epsilon=BN_EPSILON, momentum=BN_MOMENTUM, name=f"{name}_bn"
        )(x)
        x = _activation(activation)(x)
        x = keras.layers.Dropout(dropout, name=f"{name}_dropout")(x)
    logit = keras.layers.Dense(1, dtype="float32", name="logit")(x)
    return keras.Model(inputs, logit, name="PENGUIN")


def build_model(
    architecture: str,
    input_shape: tuple[int, int, int],
    layer_param: int,
    dropout: float,
    activation: str = "relu",
    data_format: str = "channels_last",
) -> keras.Model:
    """RACOON or PENGUIN by name (``RACCOON``, ``racoon``, ``PENGUIN``, ``p``, ...)."""
    if layer_param < 1:
        raise UserError(f"layer_param={layer_param}: expected a positive integer")
    if not 0.0 <= dropout < 1.0:
        raise UserError(f"dropout={dropout}: expected a probability in [0, 1)")
    builder = build_racoon if canonical_name(architecture) == "RACOON" else build_penguin
    return builder(input_shape, layer_param, dropout, activation, data_format)


def build_classifier(cfg, input_shape, data_format: str):
    """The compiled model (BCE from logits, Adam with the original's betas) and its optimizer."""
    from exagan_tf.precision import loss_scaled

    m, t = cfg.model_params, cfg.train_params
    model = build_model(
        m.architecture, input_shape, m.layer_param, m.dropout, m.activation, data_format
    )
    from exagan_tf.core import compat

    if compat.is_multi_worker():  # Keras 3.15 fit across workers needs the workaround
        model = compat.Model(model.inputs, model.outputs, name=model.name)
    optimizer = loss_scaled(  # mixed_float16: loss scaling
        keras.optimizers.Adam(
            learning_rate=t.lr,
            beta_1=t.betas[0],
            beta_2=t.betas[1],
            weight_decay=t.weight_decay or None,
        )
    )
    model.compile(
        optimizer=optimizer,
        jit_compile=t.jit_compile,
        loss=keras.losses.BinaryCrossentropy(from_logits=True),
        metrics=[
            keras.metrics.BinaryAccuracy(threshold=0.0, name="accuracy"),
            keras.metrics.Precision(thresholds=0.0, name="precision"),
            keras.metrics.Recall(thresholds=0.0, name="recall"),
            keras.metrics.AUC(from_logits=True, name="auc"),
        ],
    )
    optimizer.build(model.trainable_variables)
    return model, optimizer


def recalibrate_batch_norm(model: keras.Model, batches: Iterable[np.ndarray]) -> int:
    """Set every batch-norm layer's moving mean and variance to its mean per-batch statistics.

    Layer by layer in the model's order: the inputs of a batch-norm layer are computed in
    inference mode (dropout off, the earlier batch-norm layers already recalibrated), and its
    moving mean and variance become the averages over ``batches`` of the per-batch mean and
    (biased) variance per channel, the statistics it normalised with in training.

    Args:
        model: a functional model (RACOON or PENGUIN).
        batches: input batches (images only), as many as wanted (e.g. 100 of 32 slices).

    Returns:
        The number of batches used (0 leaves the model unchanged).
    """
    xs = [np.asarray(x) for x in batches]
    if not xs:
        return 0
    for layer in model.layers:
        if not isinstance(layer, keras.layers.BatchNormalization):
            continue
        probe = keras.Model(model.input, layer.input)
        means, variances = [], []
        for x in xs:
            h = np.asarray(probe(x, training=False), dtype=np.float64)
            axes = tuple(i for i in range(h.ndim) if i != layer.axis % h.ndim)
            means.append(h.mean(axis=axes))
            variances.append(h.var(axis=axes))
        layer.moving_mean.assign(np.mean(means, axis=0).astype("float32"))
        layer.moving_variance.assign(np.mean(variances, axis=0).astype("float32"))
    return len(xs)
