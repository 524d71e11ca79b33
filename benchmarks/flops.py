"""Analytic floating-point operation counts of Keras models, from their built shapes.

One multiply-add counts as 2 FLOPs. Only the layers that dominate every model of this project
are counted: ``Conv1D/2D/3D`` (and their depthwise-free ``groups``), ``Conv2DTranspose`` /
``Conv3DTranspose`` (this project's ``SameShapeConv2DTranspose`` included) and ``Dense`` (over
all leading axes of its input). Biases, batch normalisation, activations, pooling and
elementwise layers are left out: they are memory-bound and O(activations), a few per cent of a
convolutional network's work. Wrappers (``SpectralNormalization``) are counted through the
layer they wrap, nested models through their own layers, each layer once per call inside its
model's graph.

Per-step counts follow the usual rule: a network trained in a step costs 3x its forward pass
(forward, input gradient, weight gradient); a network only passed through on the way to another
network's gradient costs 2x (forward and input gradient, no weight gradient); a network only
evaluated costs 1x.

    from flops import forward_flops
    forward_flops(model)  # FLOPs of one forward pass for ONE sample (no batch axis)
"""

from __future__ import annotations

import math

TRAIN, THROUGH, FORWARD = 3, 2, 1  # forward-pass multiples (see the module docstring)


def _shape(tensor) -> tuple:
    return tuple(tensor.shape)


def _spatial(shape: tuple, data_format: str, rank: int) -> tuple[int, ...]:
    """Spatial sizes of a (batch, ...) shape."""
    dims = shape[2 : 2 + rank] if data_format == "channels_first" else shape[1 : 1 + rank]
    if any(d is None for d in dims):
        raise ValueError(f"shape {shape}: spatial sizes must be static to count FLOPs")
    return tuple(int(d) for d in dims)


def _channels(shape: tuple, data_format: str) -> int:
    return int(shape[1] if data_format == "channels_first" else shape[-1])


def layer_flops(layer, in_shape: tuple, out_shape: tuple) -> int:
    """Forward FLOPs of one call of ``layer`` for one sample, given its (batch, ...) shapes.

    Returns 0 for layers that are not counted (see the module docstring).
    """
    import keras

    L = keras.layers
    wrapped = getattr(layer, "layer", None)
    if isinstance(layer, L.Wrapper) and wrapped is not None:
        return layer_flops(wrapped, in_shape, out_shape)
    transposed = (L.Conv2DTranspose, L.Conv3DTranspose, L.Conv1DTranspose)
    if isinstance(layer, transposed):
        rank = len(layer.kernel_size)
        fmt = layer.data_format
        # each input pixel scatters a kernel-sized patch into every output channel
        return (2 * math.prod(_spatial(in_shape, fmt, rank)) * _channels(in_shape, fmt)
                * math.prod(layer.kernel_size) * layer.filters)
    if isinstance(layer, (L.Conv1D, L.Conv2D, L.Conv3D)) and not isinstance(
        layer, (L.DepthwiseConv2D, L.SeparableConv2D)
    ):
        rank = len(layer.kernel_size)
        fmt = layer.data_format
        cin = _channels(in_shape, fmt) // layer.groups
        return (2 * math.prod(_spatial(out_shape, fmt, rank)) * layer.filters
                * math.prod(layer.kernel_size) * cin)
    if isinstance(layer, L.Dense):
        rows = math.prod(int(d) for d in in_shape[1:-1])
        return 2 * rows * int(in_shape[-1]) * layer.units
    return 0


def forward_flops(model) -> int:
    """Forward FLOPs of a functional ``model`` for one sample: every counted layer call of its
    graph, nested models recursively (once per call of the nested model)."""
    import keras

    by_depth = getattr(model, "_nodes_by_depth", None)
    if by_depth is None:
        raise ValueError(f"{model.name}: FLOPs are counted for functional models only")
    total = 0
    for nodes in by_depth.values():
        for node in nodes:
            op = node.operation
            if isinstance(op, keras.Model):
                total += forward_flops(op)
            elif node.input_tensors:
                total += layer_flops(op, _shape(node.input_tensors[0]), _shape(node.outputs[0]))
    return total


def per_sample_step_flops(parts: list[tuple[int, float]]) -> float:
    """Sum of ``multiple x forward FLOPs`` over the network passes of one training step, per
    sample of the batch: ``parts`` = [(forward_flops, multiple * passes per sample), ...]."""
    return float(sum(f * m for f, m in parts))
