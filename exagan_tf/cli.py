"""``exagan``: one command for the five systems.

    exagan list                                     every config tag: tag, system, description
    exagan train TAG RUN [--set KEY=VALUE ...] [--dry-run] [--expts DIR]
    exagan analyze TAG RUN [ARGS ...]               the system's analysis of a trained run
    exagan generate TAG RUN [ARGS ...]              samples of a trained run (baryons, muons)
    exagan simulate SYSTEM [ARGS ...]               the system's simulator
    exagan import SYSTEM [ARGS ...]                 the original tool's files -> training data
    exagan sweep TAG --space S.yaml --trials N --metric M [...]   an Optuna study over a tag
    exagan sweep show STUDY                         its best trials, figures and best tag

A run is ``expts/TAG/runRUN/`` for every system. ``--set`` overrides any key of the tag's
config, typed and validated like the YAML; the resolved config is the run's ``config.yaml``, so
running the same command again resumes and a different value for an existing run is refused.
Bad input (an unknown tag or key, a value of the wrong type) is one line on stderr, exit 2,
nothing written.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from exagan_tf import registry
from exagan_tf.errors import UserError, cli_errors


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="exagan", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog=__doc__.split("\n\n")[1])
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="every config tag of every system")
    t = sub.add_parser("train", help="train (or resume) expts/TAG/runRUN")
    t.add_argument("tag", help="config tag (exagan list)")
    t.add_argument("run", help="run number or name")
    t.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE",
                   help="override a key of the tag's config (repeatable)")
    t.add_argument("--dry-run", action="store_true", help="print the resolved config and stop")
    t.add_argument("--expts", default="expts", help="root of the run directories (expts)")
    for name, what in (("analyze", "analyse a trained run"),
                       ("generate", "samples of a trained run")):
        a = sub.add_parser(name, help=what)
        a.add_argument("tag", help="config tag of the run")
        a.add_argument("run", help="run number or name")
        a.add_argument("--expts", default="expts", help="root of the run directories (expts)")
    for name, what in (("simulate", "a system's simulator (its own options follow)"),
                       ("import", "read the original tool's files (its own options follow)")):
        s = sub.add_parser(name, help=what, add_help=False)  # --help goes to the tool
        s.add_argument("system", help=", ".join(sys_.name for sys_ in registry.SYSTEMS))
    sub.add_parser("sweep", help="hyperparameter study over a tag (exagan sweep --help)",
                   add_help=False)
    return p


def _check_run(run: str) -> str:
    if not run or "/" in run or run.startswith(".") or run != run.strip():
        raise UserError(f"RUN={run!r}: expected a run number or a name without '/'")
    return run


@cli_errors
def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``exagan`` (``python -m exagan_tf.cli``)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args, rest = _parser().parse_known_args(argv)
    if args.command == "list":
        if rest:
            raise UserError(f"exagan list: unexpected arguments {' '.join(rest)}")
        tags = registry.all_tags()
        width = max(map(len, tags))
        for tag in tags.values():
            print(f"{tag.name:<{width}}  {tag.system.name:<8} {tag.description}")
        return 0
    if args.command == "sweep":
        words = argv[argv.index("sweep") + 1:]
        if words[:1] == ["show"]:
            from exagan_tf import sweep_show

            return sweep_show.main(words[1:])
        from exagan_tf import sweep_worker

        return sweep_worker.main(words)
    if args.command == "simulate":
        return registry.get_system(args.system).commands().simulate(rest)
    if args.command == "import":
        return registry.get_system(args.system).import_data(rest)
    if rest and args.command == "train":
        raise UserError(f"exagan train: unexpected arguments {' '.join(rest)} "
                        "(config keys go in --set KEY=VALUE)")
    tag = registry.find_tag(args.tag)
    run = _check_run(args.run)
    commands = tag.system.commands()
    expts = Path(args.expts)
    if args.command == "train":
        return commands.train(tag, run, args.sets, expts, args.dry_run,
                              ["-m", "exagan_tf.cli", *argv])
    if args.command == "analyze":
        return commands.analyze(tag, run, expts, rest)
    return commands.generate(tag, run, expts, rest)


if __name__ == "__main__":
    sys.exit(main())
