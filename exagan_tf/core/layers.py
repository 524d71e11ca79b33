"""Keras layers shared by the systems. Every layer is registered, so models that use them save
and load with ``safe_mode=True`` (no Lambda layers, no pickled closures)."""

from __future__ import annotations

import keras
import tensorflow as tf
from keras import ops

PACKAGE = "exagan_tf"


def channel_axis(data_format: str) -> int:
    """The channel axis of a 4-D image tensor: 1 for channels_first (NCHW), -1 for NHWC."""
    return 1 if data_format == "channels_first" else -1


@keras.saving.register_keras_serializable(package=PACKAGE)
class SameShapeConv2DTranspose(keras.layers.Conv2DTranspose):
    """Transposed convolution whose output is always exactly ``input * stride`` ('same' padding).

    The original ExaGAN hard-coded this output shape because Keras 2 could not infer it. Keras 3
    infers the same shape, but this layer keeps the contract explicit: it computes the output shape
    from the dynamic input shape and calls ``tf.nn.conv2d_transpose`` with it, for any kernel size,
    stride and spatial size, in both data formats.
    """

    def __init__(self, filters, kernel_size, strides=(1, 1), padding="same", **kwargs):
        if str(padding).lower() != "same":
            raise ValueError(f"SameShapeConv2DTranspose needs padding='same', got {padding!r}")
        if kwargs.get("output_padding") is not None:
            raise ValueError("SameShapeConv2DTranspose takes no output_padding")
        super().__init__(filters, kernel_size, strides=strides, padding="same", **kwargs)

    def _spatial_axes(self) -> tuple[int, int]:
        return (2, 3) if self.data_format == "channels_first" else (1, 2)

    def compute_output_shape(self, input_shape):
        shape = list(input_shape)
        for axis, stride in zip(self._spatial_axes(), self.strides):
            shape[axis] = None if shape[axis] is None else shape[axis] * stride
        shape[channel_axis(self.data_format)] = self.filters
        return tuple(shape)

    def call(self, inputs):
        dyn = tf.shape(inputs)
        h_axis, w_axis = self._spatial_axes()
        out_h, out_w = dyn[h_axis] * self.strides[0], dyn[w_axis] * self.strides[1]
        if self.data_format == "channels_first":
            out_shape = tf.stack([dyn[0], self.filters, out_h, out_w])
            fmt, strides = "NCHW", (1, 1, *self.strides)
        else:
            out_shape = tf.stack([dyn[0], out_h, out_w, self.filters])
            fmt, strides = "NHWC", (1, *self.strides, 1)
        kernel = ops.cast(self.kernel, inputs.dtype)
        outputs = tf.nn.conv2d_transpose(
            inputs, kernel, out_shape, strides=strides, padding="SAME", data_format=fmt
        )
        if self.use_bias:
            outputs = tf.nn.bias_add(outputs, ops.cast(self.bias, inputs.dtype), data_format=fmt)
        if self.activation is not None:
            outputs = self.activation(outputs)
        return outputs


def scale_transform(x, a: float):
    """s(x) = 2x/(x+a) - 1: maps counts x in [0, inf) to [-1, 1) (Rodriguez et al. 2018)."""
    return 2.0 * x / (x + a) - 1.0


def inverse_scale_transform(s, a: float, eps: float = 1e-6):
    """x = a (1+s)/(1-s), the inverse of :func:`scale_transform`.

    ``1 - s`` is floored at ``eps`` so a generator output of exactly 1 (tanh saturating in
    float32) gives a large finite count (about a * 2e6) instead of inf and NaN gradients.
    """
    return a * (1.0 + s) / ops.maximum(1.0 - s, eps)


@keras.saving.register_keras_serializable(package=PACKAGE)
class MultiChannelRescale(keras.layers.Layer):
    """Multi-channel rescaling (MCR): append the channel tanh(invtransform(s) / linear_scaler).

    The first channel is the image in s(x) space; the second is a linear rescaling of the counts,
    squashed by tanh, which gives the discriminator gradients in the heavy tail of the pixel
    distribution that s(x) compresses. Applied identically to generated and real images.
    """

    def __init__(
        self,
        datascale: float = 4.0,
        linear_scaler: float = 1000.0,
        data_format: str = "channels_last",
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.datascale = float(datascale)
        self.linear_scaler = float(linear_scaler)
        self.data_format = data_format

    def call(self, inputs):
        counts = inverse_scale_transform(inputs, self.datascale)
        second = ops.tanh(counts / self.linear_scaler)
        return ops.concatenate([inputs, second], axis=channel_axis(self.data_format))

    def compute_output_shape(self, input_shape):
        shape = list(input_shape)
        axis = channel_axis(self.data_format)
        shape[axis] = None if shape[axis] is None else 2 * shape[axis]
        return tuple(shape)

    def get_config(self):
        return {
            **super().get_config(),
            "datascale": self.datascale,
            "linear_scaler": self.linear_scaler,
            "data_format": self.data_format,
        }
