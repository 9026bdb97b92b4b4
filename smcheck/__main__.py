"""``python -m smcheck``."""

from smcheck.cli import cli

cli()
