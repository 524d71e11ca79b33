"""Loss functions as pure functions of tensors (TensorFlow, since they need gradients)."""

from __future__ import annotations

import tensorflow as tf


def per_example_mean(values):
    """float32 mean over every axis but the first: one value per example (a patch map or a
    feature vector counts as one example)."""
    values = tf.cast(values, tf.float32)
    return tf.reduce_mean(tf.reshape(values, [tf.shape(values)[0], -1]), axis=1)


def per_example_sum(values):
    """float32 sum over every axis but the first: one value per example."""
    values = tf.cast(values, tf.float32)
    return tf.reduce_sum(tf.reshape(values, [tf.shape(values)[0], -1]), axis=1)


def bce_from_logits(labels, logits):
    """Per-example binary cross-entropy computed from logits (no sigmoid, no clipping).

    The original ExaGAN removed the discriminator's sigmoid because Keras' probability-space
    cross-entropy clips and destabilised training; this is the numerically stable form
    max(l, 0) - l*y + log(1 + exp(-|l|)).

    Args:
        labels: targets in [0, 1], shape (batch, 1) or (batch,).
        logits: discriminator outputs, same shape.

    Returns:
        float32 tensor of shape (batch,): the loss of each example, averaged over trailing axes.
    """
    logits = tf.cast(logits, tf.float32)
    labels = tf.cast(labels, tf.float32)
    return per_example_mean(tf.nn.sigmoid_cross_entropy_with_logits(labels=labels, logits=logits))


def bce_from_probabilities(labels, probabilities):
    """Per-example binary cross-entropy of probabilities, clipped to [1e-7, 1 - 1e-7].

    For networks that end in a sigmoid (the baryon CGAN's ``d_sigmoid`` discriminator, the muon
    VAE's decoder). The clip is Keras' own epsilon: it bounds each term by -log(1e-7) = 16.1.

    Args:
        labels: targets in [0, 1], any shape with the batch first.
        probabilities: network outputs in [0, 1], same shape.

    Returns:
        float32 tensor of shape (batch,): the loss of each example, averaged over trailing axes.
    """
    labels = tf.cast(labels, tf.float32)
    p = tf.clip_by_value(tf.cast(probabilities, tf.float32), 1e-7, 1.0 - 1e-7)
    return per_example_mean(-(labels * tf.math.log(p) + (1.0 - labels) * tf.math.log1p(-p)))


def binary_cross_entropy(labels, outputs, from_logits: bool):
    """Per-example binary cross-entropy of logits (:func:`bce_from_logits`) or probabilities
    (:func:`bce_from_probabilities`)."""
    if from_logits:
        return bce_from_logits(labels, outputs)
    return bce_from_probabilities(labels, outputs)


def mean_probability(logits):
    """Mean sigmoid(logit): the discriminator's average probability that its inputs are real."""
    return tf.reduce_mean(tf.sigmoid(tf.cast(logits, tf.float32)))


def log_spectrum_moments_loss(log_pk, target_mean, target_std):
    """Distance of a batch's log power spectra from target moments (ExaGANv2's spectral loss).

    ``mean_k [(mean_b log P - m_k)^2 + (std_b log P - s_k)^2]``: the first term matches the
    typical (geometric-mean) spectrum, the second its image-to-image scatter, so a generator
    cannot meet the target by making every image alike.

    Args:
        log_pk: ``(batch, nk)`` log power spectra of generated images.
        target_mean, target_std: ``(nk,)`` mean and standard deviation over training images of
            their log power spectra.

    Returns:
        scalar float32 tensor.
    """
    log_pk = tf.cast(log_pk, tf.float32)
    mean = tf.reduce_mean(log_pk, axis=0)
    std = tf.math.reduce_std(log_pk, axis=0)
    return tf.reduce_mean(
        tf.square(mean - tf.cast(target_mean, tf.float32))
        + tf.square(std - tf.cast(target_std, tf.float32))
    )
