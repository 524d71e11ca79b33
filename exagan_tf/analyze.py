"""``python -m exagan_tf.analyze CONFIG RUN`` (``make analyze``), the design card's entry point:
analyses an ExaGAN run (:mod:`exagan_tf.cosmo.analyze`); a tag of another system goes to that
system through ``exagan analyze``."""

from __future__ import annotations

import sys

from exagan_tf.cosmo.analyze import (  # noqa: F401
    CHECKPOINTS,
    analyze_run,
    format_table,
    generate_counts,
    load_generator,
    load_run_config,
    main,
    parse_args,
)

if __name__ == "__main__":
    sys.exit(main())
