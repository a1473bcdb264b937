"""mentorkb: a mentoring knowledge assistant that hands sensitive questions to humans.

Results go to stdout, progress and errors to stderr. Expected failures exit 1
with a one-line message and no traceback; usage errors exit 2.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import click

from rag.backends.st import offline
from rag.core.errors import MentorKBError
from rag.core.settings import load_settings


class Group(click.Group):
    """Turns an expected failure (MentorKBError) in any command into a one-line
    message and exit 1, here once rather than in each command. Anything else is a
    bug and keeps its traceback."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except MentorKBError as e:
            raise click.ClickException(str(e)) from e


@click.group(cls=Group)
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Where MentorKB keeps its state (overrides MENTORKB_DATA_DIR).",
)
@click.option("-v", "--verbose", is_flag=True, help="Log debug detail to stderr.")
@click.version_option(package_name="mentorkb")
@click.pass_context
def cli(ctx: click.Context, data_dir: Path | None, verbose: bool) -> None:
    """MentorKB: answers mentees from mentors' documents, with citations,
    and hands anything sensitive to a human mentor.

    \b
    mentorkb ingest corpus/
    mentorkb ask "How often should I meet my mentor?"
    mentorkb serve
    """
    offline()
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    ctx.obj = {"settings": load_settings(data_dir=data_dir), "data_dir_given": data_dir is not None}


def _register() -> None:
    from mentorkb.cli.chat import ask, serve
    from mentorkb.cli.gaps import gaps
    from mentorkb.cli.index import backup, ingest, list_documents, reindex, remove
    from mentorkb.cli.measure import bench, evaluate
    from mentorkb.cli.people import handoffs, purge, users

    for command in (ingest, reindex, remove, list_documents, ask, serve, evaluate, bench, handoffs, users, purge,
                    backup, gaps):
        cli.add_command(command)


_register()


def main() -> None:
    cli(prog_name="mentorkb")


if __name__ == "__main__":
    sys.exit(main())
