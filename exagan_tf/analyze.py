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
    parse_args,
)
from exagan_tf.errors import UserError, cli_errors


@cli_errors
def main(argv=None) -> int:
    """Analyse the run ``CONFIG RUN`` (see ``--help``)."""
    raw = list(argv if argv is not None else sys.argv[1:])
    valued = {"--checkpoint", "--n", "--expts", "--seed"}
    positional = [a for i, a in enumerate(raw)
                  if not a.startswith("-") and (i == 0 or raw[i - 1] not in valued)]
    if positional:
        from exagan_tf import registry

        try:
            system = registry.find_tag(positional[0]).system.name
        except UserError:
            system = "exagan"  # an unknown tag is reported with the run's own message
        if system != "exagan":
            from exagan_tf import cli

            return cli.main(["analyze", *raw])
    return analyze_run(raw)


if __name__ == "__main__":
    sys.exit(main())
