"""The ``medbench`` command line: one thin module per command group over the library.

In: the user's command line. Out: calls into the library (each command is a function the tests
can call too), a clear message and exit code 1 for a user mistake, 130 for Ctrl-C.
Importing this package must stay cheap: no torch, mteb or sentence-transformers at import time.

Rooms (a new command group is one module and one entry in :data:`COMMANDS`):
    tasks.py    medbench tasks list | validate
    models.py   medbench models list | install
    run.py      medbench run
    train.py    medbench train | loop (also ``python -m medbench.cli.train`` under accelerate/torchrun)
    board.py    medbench leaderboard | publish | compare
    synth.py    medbench synth
    cache.py    medbench cache info | clear
    _util.py    shared options, the user-error handling, ``-q``
"""

from __future__ import annotations

import importlib
import sys

import click

from medbench import __version__
from medbench.cli._util import CONTEXT, UserErrorGroup

#: (module, command) of every command and command group
COMMANDS = [
    ("medbench.cli.tasks", "tasks"), ("medbench.cli.models", "models"), ("medbench.cli.run", "run"),
    ("medbench.cli.train", "train"), ("medbench.cli.train", "loop"),
    ("medbench.cli.board", "leaderboard"), ("medbench.cli.board", "publish"), ("medbench.cli.board", "compare"),
    ("medbench.cli.synth", "synth"), ("medbench.cli.cache", "cache"),
]


@click.group(cls=UserErrorGroup, context_settings=CONTEXT)
@click.version_option(__version__, "-V", "--version")
def cli() -> None:
    """medbench: benchmark clinical text embeddings (German and English) with MTEB.

    \b
    Examples:
      medbench tasks list
      medbench run --model sentence-transformers/all-MiniLM-L6-v2
      medbench run --model ./models/my-finetune --tasks-dir ./my_tasks --languages de
    """


for _module, _name in COMMANDS:  # each module imports the library only inside its callbacks
    cli.add_command(getattr(importlib.import_module(_module), _name))


INTERRUPTED = ("\ninterrupted: finished tasks are kept in results/; training checkpoints are kept "
               "and the same command resumes")


def main() -> None:
    """Entry point of the ``medbench`` console script.

    Runs click without its standalone handling, so that Ctrl-C prints medbench's own message and
    exits with 130 (click would print "Aborted!" and exit 1).
    """
    try:
        code = cli.main(standalone_mode=False)
    except (KeyboardInterrupt, click.exceptions.Abort):
        click.echo(INTERRUPTED, err=True)
        sys.exit(130)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()
