"""The `modelkb` command line: one sub-command per module, imported lazily."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from modelkb.errors import ModelkbError, TerminalFormatter, terminal_safe

# name -> (module, one-line help). Each module has add_arguments(parser) and run(args) -> int.
COMMANDS: dict[str, tuple[str, str]] = {
    "check": ("modelkb.commands.check", "validate catalog.yml and report every problem"),
    "restore": ("modelkb.commands.restore", "deblur photos with MSSNet"),
    "import": ("modelkb.commands.importer", "merge recommender prompts into catalog.yml"),
    "gallery": ("modelkb.commands.gallery", "run the gallery workflows into the cache"),
    "train": ("modelkb.commands.train", "train MSSNet weights"),
}


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every sub-command registered."""
    parser = argparse.ArgumentParser(prog="modelkb", description=__doc__)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, (module_name, help_text) in COMMANDS.items():
        module = importlib.import_module(module_name)
        module.add_arguments(sub.add_parser(name, help=help_text, description=help_text))
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point: parse, dispatch, turn user errors into messages and exit codes (errors and
    log lines are printed terminal safe: control characters escaped)."""
    args = build_parser().parse_args(argv)
    module = importlib.import_module(COMMANDS[args.command][0])
    core = logging.getLogger("modelkb")  # the core modules' progress lines, as plain text
    if not core.handlers:
        handler = logging.StreamHandler(sys.stdout)
        handler.setFormatter(TerminalFormatter("%(message)s"))
        core.addHandler(handler)
        core.setLevel(logging.INFO)
    try:
        return int(module.run(args) or 0)
    except ModelkbError as exc:
        print(terminal_safe(f"modelkb {args.command}: error: {exc}"), file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("modelkb: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # output piped into `head` and closed early: not an error
        sys.stderr.close()
        return 0


if __name__ == "__main__":
    sys.exit(main())
