"""``python -m exagan_tf.train CONFIG RUN`` (``make train``), the design card's entry point:
trains an ExaGAN tag (:mod:`exagan_tf.cosmo.train`); a baryon tag goes to its trainer (which
takes the same options), a tag of another system to ``exagan train``."""

from __future__ import annotations

import sys

from exagan_tf.cosmo.train import parse_args, total_steps, train  # noqa: F401
from exagan_tf.errors import UserError, cli_errors


@cli_errors
def main(argv=None) -> int:
    """Train the tag ``CONFIG`` into ``expts/CONFIG/runRUN`` (see ``--help``)."""
    argv = list(argv if argv is not None else sys.argv[1:])
    args = parse_args(argv)
    if args.config_file is None:
        from exagan_tf import registry

        tag = registry.find_tag(args.config)
        if tag.system.name == "baryons":
            from exagan_tf.baryons.train import main as baryons_main

            return baryons_main(argv)
        if tag.system.name != "exagan":
            if args.max_steps is not None:
                raise UserError(f"--max-steps: not an option of {tag.system.name} tags")
            from exagan_tf import cli

            return cli.main(["train", args.config, args.run, "--expts", args.expts,
                             *(["--dry-run"] if args.dry_run else [])])
    from exagan_tf.cosmo.train import main as exagan_main

    return exagan_main(argv)


if __name__ == "__main__":
    sys.exit(main())
