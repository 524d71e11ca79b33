"""The CMB decomposition networks of a run's flags: the generator (pix2pix U-Net or UResNet
astroencoder, optionally the two-stage kappa network, with the ``--analytic-skip`` connections),
the PatchGAN discriminator and the core :class:`~exagan_tf.core.cgan.ConditionalGAN` around them
with the loss the flags choose (L1 or squared error, optional spectra term).
"""

from __future__ import annotations

import argparse


def analytic_skips(inputs: str, outputs: str, scales: dict | None = None) -> list:
    """``[(input index, output index, factor)]`` of the ``--analytic-skip`` connections: E to e
    and B to b where both are present; the factor ``scale(E) / scale(e)`` turns the normalised
    analytic map into the normalisation of the target."""
    out = []
    for j, c in enumerate(outputs):
        analytic = {"e": "E", "b": "B"}.get(c)
        if analytic is not None and analytic in inputs:
            factor = 1.0 if scales is None else scales[analytic] / scales[c]
            out.append((inputs.index(analytic), j, factor))
    return out


def seeded_generator(args: argparse.Namespace, npix: int, scales: dict | None = None):
    """The global seeds set to ``args.seed``, then the generator of the flags: the first draws
    of :func:`build_models`, so a run starts from these weights (the untrained generator of
    :func:`exagan_tf.cmb.evaluate.untrained_metrics`)."""
    import keras

    from exagan_tf.cmb.generators import build_generator, kappa_stage_generator
    from exagan_tf.precision import float32_outputs

    keras.utils.set_random_seed(args.seed)
    cin, cout = len(args.inputs), len(args.outputs)
    make, first = build_generator, ()
    if args.kappa_stage:
        make, first = kappa_stage_generator, (args.outputs.index("k"),)
    gen = make(
        args.architecture, npix, cin, cout, *first,
        filters=args.filters,
        skip_connections=not args.no_skip_connections,
        residuals=not args.no_residuals,
        use_bias=not args.no_generator_use_bias,
        dropout=args.generator_dropout_ratio,
        high_res_len=args.high_res_len,
        input_skips=analytic_skips(args.inputs, args.outputs, scales) if args.analytic_skip
        else (),
    )
    return float32_outputs(gen)  # float32 maps and logits under a mixed-precision policy


def build_models(args: argparse.Namespace, npix: int, strategy=None, scales: dict | None = None):
    """Generator (:func:`seeded_generator`), discriminator (None without adversarial training)
    and the ConditionalGAN; ``scales`` (the data's normalisation) set the ``--analytic-skip``
    factors."""
    import keras

    from exagan_tf.cmb.discriminators import patchgan_discriminator
    from exagan_tf.cmb.losses import SpectraLoss, WeightedSum, squared_error
    from exagan_tf.core.cgan import ConditionalGAN
    from exagan_tf.precision import float32_outputs, loss_scaled

    gen = seeded_generator(args, npix, scales)
    cin, cout = len(args.inputs), len(args.outputs)
    disc = None
    if not args.no_adversarial:
        disc = float32_outputs(patchgan_discriminator(
            npix, cin, cout, filters=args.filters,
            use_bias=not args.no_discriminator_use_bias,
            dropout=args.discriminator_dropout_ratio,
        ))
    extra = SpectraLoss(npix) if args.spectra_weight > 0 else None
    l1_weight, extra_weight = args.lambda_, args.spectra_weight
    if args.loss == "mse":  # the squared error joins the extra losses; the L1 term is dropped
        extra = WeightedSum([(args.lambda_, squared_error), (args.spectra_weight, extra)])
        l1_weight, extra_weight = 0.0, 1.0
    gan = ConditionalGAN(
        gen, disc,
        l1_weight=l1_weight,
        adversarial=not args.no_adversarial,
        d_interval=args.discriminator_interval,
        extra_loss=extra,
        extra_weight=extra_weight,
        seed=args.seed,
    )

    def adam():  # mixed_float16: loss scaling
        return loss_scaled(keras.optimizers.Adam(args.learning_rate, beta_1=0.5))

    gan.compile(d_optimizer=adam() if disc is not None else None, g_optimizer=adam(),
                jit_compile=args.jit_compile)
    return gen, disc, gan
