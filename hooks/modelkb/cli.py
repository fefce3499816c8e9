"""The `modelkb` command line: one sub-command per module, imported lazily."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from modelkb.errors import ModelkbError, TerminalFormatter, TerminalStream, terminal_safe

# name -> (module, one-line help). Each module has add_arguments(parser) and run(args) -> int.
COMMANDS: dict[str, tuple[str, str]] = {
    "check": ("modelkb.commands.check", "validate catalog.yml and report every problem"),
    "links": ("modelkb.commands.check_links", "check the catalog's outbound links (cached, dated)"),
    "restore": ("modelkb.commands.restore", "deblur photos with MSSNet"),
    "import": ("modelkb.commands.import_prompts", "merge recommender prompts into catalog.yml"),
    "gallery": ("modelkb.commands.gallery", "run the gallery workflows into the cache"),
    "plan": ("modelkb.commands.plan", "what the next build would compute, why, and how long"),
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


class _StdoutHandler(logging.StreamHandler):
    """Log lines to whatever ``sys.stdout`` is when they are written (a caller that captures
    output, such as a test calling :func:`main` in-process, gets them too)."""

    def __init__(self) -> None:
        super().__init__(sys.stdout)

    @property
    def stream(self):  # type: ignore[override]
        return sys.stdout

    @stream.setter
    def stream(self, value) -> None:  # StreamHandler.__init__ sets it
        pass


def main(argv: list[str] | None = None) -> int:
    """Entry point: parse, dispatch, turn user errors into messages and exit codes. Whatever
    a command prints, and every error and log line, is terminal safe (control characters
    escaped; stderr keeps carriage returns for progress bars, errors escape them too)."""
    core = logging.getLogger("modelkb")  # the core modules' progress lines, as plain text
    if not any(isinstance(h, _StdoutHandler) for h in core.handlers):
        handler = _StdoutHandler()
        handler.setFormatter(TerminalFormatter("%(message)s"))
        core.addHandler(handler)
    core.setLevel(logging.INFO)
    streams = sys.stdout, sys.stderr
    sys.stdout = TerminalStream(sys.stdout)  # type: ignore[assignment]
    sys.stderr = TerminalStream(sys.stderr, keep="\r")  # type: ignore[assignment]  # tqdm
    args = argparse.Namespace(command="")
    try:
        args = build_parser().parse_args(argv)  # its usage errors echo arguments
        module = importlib.import_module(COMMANDS[args.command][0])
        return int(module.run(args) or 0)
    except ModelkbError as exc:
        print(terminal_safe(f"modelkb {args.command}: error: {exc}"), file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("modelkb: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # output piped into `head` and closed early: not an error
        streams[1].close()
        return 0
    finally:
        sys.stdout, sys.stderr = streams


if __name__ == "__main__":
    sys.exit(main())
