"""The ``reprlab`` command.

Each sub-command is a module of this package (``reprlab.cli.train``, ``reprlab.cli.run``, ...),
imported only when that sub-command runs (so ``reprlab --help`` is instant). A command module
provides ``configure(parser)``, which adds its arguments to an ``argparse.ArgumentParser``, and
``run(args) -> int``.

Every error is one line on stderr and an exit status: 2 for usage (a bad option or value,
``ConfigError``), 1 for data and runtime (a missing or corrupt data set, a full disk, a bug).
``REPRLAB_TRACEBACK=1`` shows the traceback of an unexpected error as well.
"""

import argparse
import importlib
import os
import sys
import traceback

from reprlab import __version__
from reprlab.errors import ReprlabError

# name -> (module, one-line help). Order is the order --help shows.
COMMANDS: dict[str, tuple[str, str]] = {
    "demo": ("reprlab.cli.demo", "fit the adaptive loss to Cauchy and Normal samples"),
    "train": ("reprlab.cli.train", "train one model (AE, VAE, VQ-VAE, ...) into a run dir"),
    "run": ("reprlab.cli.run", "run a study (default: a quick loss comparison on digits)"),
    "eval": ("reprlab.cli.eval", "evaluate a trained run: metrics.json and figures"),
    "results": ("reprlab.cli.results", "aggregate a study's metrics over seeds with CIs"),
    "report": ("reprlab.cli.report", "write a study's report.html and report.md"),
    "data": ("reprlab.cli.data", "list data sets and where they are; describe one"),
}


def _top_parser() -> argparse.ArgumentParser:
    lines = [f"  {name:<10} {help_}" for name, (_, help_) in COMMANDS.items()]
    parser = argparse.ArgumentParser(
        prog="reprlab",
        description="Learn image representations with robust and adaptive losses, "
        "and judge them with repeatable statistics.",
        epilog="commands:\n" + "\n".join(lines) + "\n\nRun 'reprlab COMMAND --help' for a "
        "command's options.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"reprlab {__version__}")
    parser.add_argument(
        "command", choices=list(COMMANDS), metavar="COMMAND", help="one of: " + ", ".join(COMMANDS)
    )
    parser.add_argument("args", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    top = _top_parser().parse_args(argv[:1] if argv and not argv[0].startswith("-") else argv)
    module_name, help_ = COMMANDS[top.command]
    module = importlib.import_module(module_name)
    parser = argparse.ArgumentParser(
        prog=f"reprlab {top.command}",
        description=help_,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    module.configure(parser)
    args = parser.parse_args(argv[1:])
    try:
        return int(module.run(args) or 0)
    except ReprlabError as error:
        print(f"reprlab {top.command}: error: {error}", file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:
        print(f"reprlab {top.command}: interrupted", file=sys.stderr)
        return 130
    except OSError as error:  # a full disk, a read-only folder, a vanished file
        print(f"reprlab {top.command}: error: {_one_line(error)}", file=sys.stderr)
        return 1
    except Exception as error:
        if os.environ.get("REPRLAB_TRACEBACK"):
            traceback.print_exc()
        print(
            f"reprlab {top.command}: error: {_one_line(error)} (an unexpected error; "
            "REPRLAB_TRACEBACK=1 shows where)",
            file=sys.stderr,
        )
        return 1


def _one_line(error: BaseException) -> str:
    """``Type: message`` on one line, at most 400 characters."""
    text = " ".join(str(error).split()) or "(no message)"
    return f"{type(error).__name__}: {text}"[:400]


if __name__ == "__main__":
    sys.exit(main())
