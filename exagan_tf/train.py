"""``python -m exagan_tf.train CONFIG RUN`` (``make train``), the design card's entry point:
trains an ExaGAN tag (:mod:`exagan_tf.cosmo.train`); a tag of another system goes to that
system through ``exagan train``."""

from __future__ import annotations

import sys

from exagan_tf.cosmo.train import main, parse_args, total_steps, train  # noqa: F401

if __name__ == "__main__":
    sys.exit(main())
