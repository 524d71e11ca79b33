"""Loss functions as pure functions of tensors (TensorFlow, since they need gradients)."""

from __future__ import annotations

import tensorflow as tf


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
    per_element = tf.nn.sigmoid_cross_entropy_with_logits(labels=labels, logits=logits)
    return tf.reshape(tf.reduce_mean(tf.reshape(per_element, [tf.shape(logits)[0], -1]), 1), [-1])


def mean_probability(logits):
    """Mean sigmoid(logit): the discriminator's average probability that its inputs are real."""
    return tf.reduce_mean(tf.sigmoid(tf.cast(logits, tf.float32)))
