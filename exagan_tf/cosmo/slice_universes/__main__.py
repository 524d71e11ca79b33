"""``python -m exagan_tf.cosmo.slice_universes`` (:mod:`exagan_tf.cosmo.slice_universes.cli`)."""

from exagan_tf.cosmo.slice_universes.cli import main

if __name__ == "__main__":
    main()
