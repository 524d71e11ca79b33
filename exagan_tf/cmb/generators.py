"""Generators of astroDGAN: the pix2pix U-Net and the DeepCMB UResNet ("astroencoder").

Both map ``(N, N, C_in)`` input maps (channels last) to ``(N, N, C_out)`` predictions with a
linear output (CMB maps are not bounded, so no tanh), and share the original's switches:

* ``skip_connections``: U-Net concatenations from each encoder level to the decoder;
* ``residuals``: residual additions (UResNet blocks; for pix2pix the high-resolution stem);
* ``use_bias``: biases of every convolution (the original experiments run without);
* ``dropout``: the generator dropout ratio (``-gdrop``);
* ``high_res_len``: convolution blocks at full resolution before the output layer (the
  "high-resolution output stem");
* ``input_skips`` (added here, ``--analytic-skip``): input channels added to output channels
  with fixed factors (:class:`InputChannelSkip`), so that with the analytic E (B) among the
  inputs the network predicts only the correction to it. The output convolution then starts at
  zero: an untrained generator returns the analytic baseline exactly;
* ``kappa_stage`` (added here, ``--kappa-stage``, :func:`kappa_stage_generator`): a first
  generator predicts kappa from the inputs and a second one predicts the other outputs from the
  inputs and that kappa, trained together. Delensing E needs the deflection field; given the
  true kappa as an extra input a UResNet learns to delens E within a few hundred steps, so the
  map stage gets the network's own kappa estimate.

pix2pix (TensorFlow pix2pix tutorial, Isola et al. 2017): down blocks Conv 4x4 stride 2 + batch
norm (not on the first) + LeakyReLU 0.3 down to 1x1; up blocks transposed conv 4x4 stride 2 +
batch norm + dropout (the first three) + ReLU, each followed by the skip concatenation; filters
64, 128, 256, 512, 512, ... (``filters`` scales them). Weights N(0, 0.02).

Dropout is applied at test time too (:class:`TestTimeDropout`), as Isola et al. (2017) do for
pix2pix: a dropout layer followed by batch norm otherwise shifts the variance the norm layers were
trained with (Li et al. 2019, "Understanding the disharmony between dropout and batch
normalization"); measured here on a UResNet after 180 steps, the inference-mode output had 0.15
of the target's rms against 0.78 with dropout on. Batch-norm momentum is 0.9 (ExaGAN's value), so
that short CPU runs have converged moving statistics.

UResNet (Caldeira et al. 2019, DeepCMB): 5x5 convolutions throughout; a stem conv, then per level
(64, 128, 256 filters) a residual block [conv, BN, ReLU, dropout, conv, BN, + shortcut, ReLU] and
a stride-2 5x5 convolution down; a residual block at the bottom; on the way up a stride-2 5x5
transposed convolution, the skip concatenation and a residual block per level.
"""

from __future__ import annotations

import math

import keras
from keras import layers

INIT_STD = 0.02
BN_MOMENTUM = 0.9


def _init():
    return keras.initializers.RandomNormal(0.0, INIT_STD)


def _bn(name: str) -> layers.BatchNormalization:
    return layers.BatchNormalization(momentum=BN_MOMENTUM, name=name)


@keras.saving.register_keras_serializable(package="exagan_tf")
class TestTimeDropout(layers.Dropout):
    """Dropout that is active at inference as well as in training (pix2pix's test-time noise).

    Keeps the statistics seen by the batch norms that follow the same at training and inference.
    """

    def call(self, inputs, training=None):
        return super().call(inputs, training=True)


@keras.saving.register_keras_serializable(package="exagan_tf")
class InputChannelSkip(layers.Layer):
    """``y[..., j] + sum_i M[i, j] x[..., i]``: fixed (untrained) input-to-output channel skips.

    Args:
        pairs: ``[(i, j, factor), ...]``: input channel i times ``factor`` is added to output
            channel j (the factor converts between the two channels' normalisations).
        in_channels, out_channels: channel counts of ``x`` and ``y``.
    """

    def __init__(self, pairs, in_channels: int, out_channels: int, **kwargs):
        super().__init__(**kwargs)
        self.pairs = [(int(i), int(j), float(f)) for i, j, f in pairs]
        self.in_channels = int(in_channels)
        self.out_channels = int(out_channels)
        matrix = [[0.0] * self.out_channels for _ in range(self.in_channels)]
        for i, j, f in self.pairs:
            matrix[i][j] += f
        self.matrix = matrix

    def call(self, inputs):
        x, y = inputs
        m = keras.ops.convert_to_tensor(self.matrix, dtype=y.dtype)
        return y + keras.ops.tensordot(keras.ops.cast(x, y.dtype), m, axes=1)

    def get_config(self):
        return {**super().get_config(), "pairs": [list(p) for p in self.pairs],
                "in_channels": self.in_channels, "out_channels": self.out_channels}


@keras.saving.register_keras_serializable(package="exagan_tf")
class InsertChannel(layers.Layer):
    """``[y, k] -> y`` with the single channel ``k`` inserted at channel ``position``."""

    def __init__(self, position: int, **kwargs):
        super().__init__(**kwargs)
        self.position = int(position)

    def call(self, inputs):
        y, k = inputs
        p = self.position
        return keras.ops.concatenate([y[..., :p], keras.ops.cast(k, y.dtype), y[..., p:]],
                                     axis=-1)

    def get_config(self):
        return {**super().get_config(), "position": self.position}


def _output(inp, x, out_channels: int, use_bias: bool, input_skips):
    """The 1x1 linear output convolution, plus the input-channel skips when asked."""
    init = "zeros" if input_skips else _init()
    out = layers.Conv2D(out_channels, 1, padding="same", use_bias=use_bias,
                        kernel_initializer=init, name="maps_out")(x)
    if input_skips:
        out = InputChannelSkip(input_skips, inp.shape[-1], out_channels,
                               name="analytic_skip")([inp, out])
    return out


def _check_size(npix: int, levels: int, name: str) -> None:
    from exagan_tf.errors import UserError

    if npix % (2**levels):
        raise UserError(f"{name}: maps of {npix} pixels do not halve {levels} times")


def _highres_stem(x, filters: int, length: int, kernel: int, use_bias: bool, residuals: bool):
    """``length`` blocks [conv, BN, ReLU] at full resolution, residual when asked."""
    for i in range(length):
        y = layers.Conv2D(filters, kernel, padding="same", use_bias=use_bias,
                          kernel_initializer=_init(), name=f"highres_{i}_conv")(x)
        y = _bn(f"highres_{i}_bn")(y)
        if residuals:
            y = layers.Add(name=f"highres_{i}_add")([x, y])
        x = layers.ReLU(name=f"highres_{i}_relu")(y)
    return x


def pix2pix_generator(
    npix: int,
    in_channels: int,
    out_channels: int,
    *,
    filters: int = 64,
    skip_connections: bool = True,
    residuals: bool = True,
    use_bias: bool = False,
    dropout: float = 0.5,
    high_res_len: int = 2,
    input_skips=(),
    name: str = "pix2pix_generator",
) -> keras.Model:
    """The pix2pix U-Net generator for square maps of side ``npix`` (a power of 2, >= 4)."""
    n_down = int(round(math.log2(npix)))
    if 2**n_down != npix or npix < 4:
        from exagan_tf.errors import UserError

        raise UserError(f"pix2pix: map side {npix} is not a power of 2 >= 4")
    widths = [filters * min(2**i, 8) for i in range(n_down)]
    inp = keras.Input((npix, npix, in_channels), name="maps_in")
    x = inp
    skips = []
    for i, f in enumerate(widths):
        x = layers.Conv2D(f, 4, strides=2, padding="same", use_bias=use_bias,
                          kernel_initializer=_init(), name=f"down{i}_conv")(x)
        if i > 0:
            x = _bn(f"down{i}_bn")(x)
        x = layers.LeakyReLU(0.3, name=f"down{i}_lrelu")(x)
        skips.append(x)
    # decoder: back up to npix / 2, with skips from the matching encoder level
    for j, (f, skip) in enumerate(zip(reversed(widths[:-1]), reversed(skips[:-1]))):
        x = layers.Conv2DTranspose(f, 4, strides=2, padding="same", use_bias=use_bias,
                                   kernel_initializer=_init(), name=f"up{j}_deconv")(x)
        x = _bn(f"up{j}_bn")(x)
        if j < 3 and dropout > 0:
            x = TestTimeDropout(dropout, name=f"up{j}_dropout")(x)
        x = layers.ReLU(name=f"up{j}_relu")(x)
        if skip_connections:
            x = layers.Concatenate(name=f"up{j}_skip")([x, skip])
    x = layers.Conv2DTranspose(filters, 4, strides=2, padding="same", use_bias=use_bias,
                               kernel_initializer=_init(), name="up_last_deconv")(x)
    x = _bn("up_last_bn")(x)
    x = layers.ReLU(name="up_last_relu")(x)
    x = _highres_stem(x, filters, high_res_len, 4, use_bias, residuals)
    return keras.Model(inp, _output(inp, x, out_channels, use_bias, input_skips), name=name)


def _res_block(x, filters: int, use_bias: bool, residuals: bool, dropout: float, name: str):
    y = layers.Conv2D(filters, 5, padding="same", use_bias=use_bias,
                      kernel_initializer=_init(), name=f"{name}_conv1")(x)
    y = _bn(f"{name}_bn1")(y)
    y = layers.ReLU(name=f"{name}_relu1")(y)
    if dropout > 0:
        y = TestTimeDropout(dropout, name=f"{name}_dropout")(y)
    y = layers.Conv2D(filters, 5, padding="same", use_bias=use_bias,
                      kernel_initializer=_init(), name=f"{name}_conv2")(y)
    y = _bn(f"{name}_bn2")(y)
    if residuals:
        shortcut = x
        if x.shape[-1] != filters:
            shortcut = layers.Conv2D(filters, 1, use_bias=use_bias, kernel_initializer=_init(),
                                     name=f"{name}_shortcut")(x)
        y = layers.Add(name=f"{name}_add")([shortcut, y])
    return layers.ReLU(name=f"{name}_relu2")(y)


def uresnet_generator(
    npix: int,
    in_channels: int,
    out_channels: int,
    *,
    filters: int = 64,
    levels: int = 3,
    skip_connections: bool = True,
    residuals: bool = True,
    use_bias: bool = False,
    dropout: float = 0.5,
    high_res_len: int = 2,
    input_skips=(),
    name: str = "astroencoder",
) -> keras.Model:
    """The DeepCMB UResNet ("astroencoder"): widths ``filters * (1, 2, 4)``, 5x5 kernels."""
    _check_size(npix, levels, "astroencoder")
    widths = [filters * 2**i for i in range(levels)]
    inp = keras.Input((npix, npix, in_channels), name="maps_in")
    x = layers.Conv2D(widths[0], 5, padding="same", use_bias=use_bias,
                      kernel_initializer=_init(), name="stem_conv")(inp)
    x = _bn("stem_bn")(x)
    x = layers.ReLU(name="stem_relu")(x)
    skips = []
    for i, f in enumerate(widths):
        x = _res_block(x, f, use_bias, residuals, dropout, f"enc{i}")
        skips.append(x)
        x = layers.Conv2D(widths[min(i + 1, levels - 1)], 5, strides=2, padding="same",
                          use_bias=use_bias, kernel_initializer=_init(), name=f"down{i}_conv")(x)
        x = _bn(f"down{i}_bn")(x)
        x = layers.ReLU(name=f"down{i}_relu")(x)
    x = _res_block(x, widths[-1], use_bias, residuals, dropout, "bottom")
    for j, (f, skip) in enumerate(zip(reversed(widths), reversed(skips))):
        x = layers.Conv2DTranspose(f, 5, strides=2, padding="same", use_bias=use_bias,
                                   kernel_initializer=_init(), name=f"up{j}_deconv")(x)
        x = _bn(f"up{j}_bn")(x)
        x = layers.ReLU(name=f"up{j}_relu")(x)
        if skip_connections:
            x = layers.Concatenate(name=f"up{j}_skip")([x, skip])
        x = _res_block(x, f, use_bias, residuals, dropout, f"dec{j}")
    x = _highres_stem(x, widths[0], high_res_len, 5, use_bias, residuals)
    return keras.Model(inp, _output(inp, x, out_channels, use_bias, input_skips), name=name)


ARCHITECTURES = ("pix2pix", "astroencoder")


def kappa_stage_generator(architecture: str, npix: int, in_channels: int, out_channels: int,
                          kappa_output: int, *, input_skips=(), **kwargs) -> keras.Model:
    """Two generators of ``architecture`` in a row: ``kappa_stage`` maps the inputs to kappa,
    ``map_stage`` maps the inputs and that kappa to the other outputs.

    Args:
        kappa_output: the position of kappa among the ``out_channels`` outputs.
        input_skips: :class:`InputChannelSkip` pairs ``(input, output, factor)`` in the
            numbering of the whole model's inputs and outputs (applied in the map stage).
        kwargs: the switches of :func:`pix2pix_generator` / :func:`uresnet_generator`, shared.

    Returns:
        a model ``(N, N, in_channels) -> (N, N, out_channels)`` whose channel ``kappa_output``
        is the first stage's kappa; both stages are trained by the losses on every output.
    """
    if out_channels < 2 or not 0 <= kappa_output < out_channels:
        from exagan_tf.errors import UserError

        raise UserError("kappa stage: expected kappa and at least one other output channel")
    rest = [j for j in range(out_channels) if j != kappa_output]
    skips = [(i, rest.index(j), f) for i, j, f in input_skips if j != kappa_output]
    first = build_generator(architecture, npix, in_channels, 1, name="kappa_stage", **kwargs)
    second = build_generator(architecture, npix, in_channels + 1, len(rest), input_skips=skips,
                             name="map_stage", **kwargs)
    inp = keras.Input((npix, npix, in_channels), name="maps_in")
    kappa = first(inp)
    maps = second(layers.Concatenate(name="inputs_and_kappa")([inp, kappa]))
    out = InsertChannel(kappa_output, name="outputs")([maps, kappa])
    return keras.Model(inp, out, name=f"{architecture}_kappa_stage")


def build_generator(architecture: str, npix: int, in_channels: int, out_channels: int,
                    **kwargs) -> keras.Model:
    """The generator named by ``--architecture`` (pix2pix | astroencoder)."""
    if architecture == "pix2pix":
        return pix2pix_generator(npix, in_channels, out_channels, **kwargs)
    if architecture == "astroencoder":
        return uresnet_generator(npix, in_channels, out_channels, **kwargs)
    from exagan_tf.errors import UserError

    raise UserError(f"--architecture={architecture!r}: expected pix2pix or astroencoder")
