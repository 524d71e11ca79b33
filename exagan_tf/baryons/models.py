"""The baryon painters' networks and their compiled training models: the CVAE (encoder,
decoder, prior: :mod:`exagan_tf.baryons.cvae`) in the core :class:`~exagan_tf.core.vae.VAE`, the
CGAN (generator, discriminator: :mod:`exagan_tf.baryons.cgan`) in the core
:class:`~exagan_tf.core.cgan.ConditionalGAN`, the conditional flow (velocity:
:mod:`exagan_tf.baryons.cfm`) in the core
:class:`~exagan_tf.core.flow_matching.FlowMatching`. Training and painting both build from
here, so painting never imports the trainer.
"""

from __future__ import annotations


def build_networks(cfg, data_format: str) -> dict:
    """The config's networks by name (CVAE: encoder, decoder, prior; CGAN: generator,
    discriminator; CFM: velocity), with float32 outputs under a mixed-precision policy."""
    from exagan_tf.precision import float32_outputs

    return {name: float32_outputs(net) for name, net in _networks(cfg, data_format).items()}


def _networks(cfg, data_format: str) -> dict:
    if cfg.model == "cvae":
        from exagan_tf.baryons import cvae

        return {"encoder": cvae.build_encoder(cfg.tile_size, data_format),
                "decoder": cvae.build_decoder(cfg.tile_size, data_format),
                "prior": cvae.build_prior(cfg.tile_size, data_format)}
    if cfg.model == "cfm":
        from exagan_tf.baryons import cfm

        return {"velocity": cfm.build_velocity(cfg.tile_size, cfg.fm_widths, data_format)}
    from exagan_tf.baryons import cgan

    return {"generator": cgan.build_generator(cfg.tile_size, data_format,
                                              cfg.spectral_norm_generator,
                                              cfg.g_last_batchnorm, cfg.g_filters,
                                              cfg.g_res_blocks),
            "discriminator": cgan.build_discriminator(cfg.tile_size, data_format,
                                                      cfg.spectral_norm_discriminator,
                                                      cfg.d_sigmoid)}


def build_model(cfg, nets: dict):
    """The compiled core model (VAE, ConditionalGAN or FlowMatching) around ``nets``."""
    import keras

    from exagan_tf.precision import loss_scaled  # mixed_float16: loss scaling

    if cfg.model == "cvae":
        from exagan_tf.core.vae import VAE

        model = VAE(nets["encoder"], nets["decoder"], nets["prior"], recon_loss="gaussian",
                    kl_weight=cfg.beta_KL, seed=cfg.seed, name="cvae")
        # PyTorch Adam defaults (the original's optimiser); the stage sets the learning rate
        model.compile(loss_scaled(keras.optimizers.Adam(cfg.schedule()[0][2], epsilon=1e-8)),
                      jit_compile=cfg.jit_compile)
        return model

    def adam():
        lr = keras.optimizers.schedules.ExponentialDecay(
            cfg.learning_rate, cfg.lr_decay_iterations, cfg.learning_rate_decay, staircase=True)
        return loss_scaled(keras.optimizers.Adam(lr, beta_1=cfg.adam_betas[0],
                                                 beta_2=cfg.adam_betas[1], epsilon=1e-8))

    if cfg.model == "cfm":
        from exagan_tf.core.flow_matching import FlowMatching

        model = FlowMatching(nets["velocity"], seed=cfg.seed, name="cfm")
        model.compile(optimizer=adam(), jit_compile=cfg.jit_compile)
        model.optimizer.build(nets["velocity"].trainable_variables)  # before a restore
        return model
    from exagan_tf.baryons.cgan import pixel_l2_loss
    from exagan_tf.core.cgan import ConditionalGAN

    model = ConditionalGAN(nets["generator"], nets["discriminator"],
                           l1_weight=cfg.lambda_perceptual, d_from_logits=not cfg.d_sigmoid,
                           extra_loss=pixel_l2_loss if cfg.lambda_l2 else None,
                           extra_weight=cfg.lambda_l2,
                           seed=cfg.seed, name="cgan")
    model.compile(d_optimizer=adam(), g_optimizer=adam(), jit_compile=cfg.jit_compile)
    return model
