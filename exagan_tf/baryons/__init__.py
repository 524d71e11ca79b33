"""Baryon painting: a conditional VAE and a conditional GAN that paint electron pressure onto
projected dark-matter tiles (Tröster et al. 2019, seed 000).

Modules: :mod:`~exagan_tf.baryons.simulate` (N-body dark matter + a stochastic, non-local gas
model -> slabs; the command line over :mod:`~exagan_tf.baryons.gas`,
:mod:`~exagan_tf.baryons.haloes`, :mod:`~exagan_tf.baryons.snapshots`,
:mod:`~exagan_tf.baryons.projection` and :mod:`~exagan_tf.baryons.mapfiles`),
:mod:`~exagan_tf.baryons.transforms` (the original's log transforms with per-redshift
sigma(z)), :mod:`~exagan_tf.baryons.data` (two-tile combinations, tf.data),
:mod:`~exagan_tf.baryons.cvae` and :mod:`~exagan_tf.baryons.cgan` (the networks as tabled),
:mod:`~exagan_tf.baryons.train`, :mod:`~exagan_tf.baryons.paint`,
:mod:`~exagan_tf.baryons.evaluate`.
"""
