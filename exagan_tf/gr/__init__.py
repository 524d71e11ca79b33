"""RACOON and PENGUIN: CNN classifiers telling general-relativistic from Newtonian potentials.

Modules: ``simulate`` (stand-in GR/Newton pairs, HDF5 in the original layout: the command line
over ``potentials``, the field equations, and ``pairs``, one pair per seed and the file), ``data``
(``WholeCubeDataset`` / ``WholeCubeDataset2`` as tf.data pipelines of 2-D slices),
``architectures`` (RACOON, PENGUIN), ``config`` (the original YAML sections), ``run_controller``
(training by name with resume) and ``evaluate`` (metrics, ROC, the power-spectrum baseline).
"""
