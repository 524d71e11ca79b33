"""exagan-tf: deep generative models for cosmology and particle physics in Keras 3 / TensorFlow 2.

Importing the package applies the measured runtime defaults of :mod:`exagan_tf.runtime` (oneDNN
on, quiet C++ logs) unless the user's environment already sets them, and makes the suite's
custom Keras layers loadable from a saved model as soon as Keras is imported
(:mod:`exagan_tf.keras_classes`).
"""

from exagan_tf import keras_classes
from exagan_tf.runtime import configure_environment

configure_environment()
keras_classes.install()

__version__ = "0.1.0"
