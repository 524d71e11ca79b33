"""``python -m exagan_tf.cosmo.nbody``: simulate universes (:mod:`exagan_tf.cosmo.nbody.cli`)."""

from exagan_tf.cosmo.nbody.cli import main

if __name__ == "__main__":
    main()
