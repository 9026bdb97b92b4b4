"""``smcheck generate``: seeded synthetic logits written to a .npy file."""

from __future__ import annotations

import click

from smcheck.cli.completion import complete_generators
from smcheck.cli.options import output_path, user_errors

_HELP = """Write seeded synthetic logits to a .npy file (same seed, same bytes).

NAME is a generator below; --param K=V sets its parameters (as gen:NAME:K=V does).

\b
Examples:
  smcheck generate llm --shape 4x32000 --seed 1 -o llm.npy
  smcheck generate constant --shape 1x4096 --value 0 -o zeros.npy
  smcheck generate spike -o - | smcheck analyze -
"""


class GenerateCommand(click.Command):
    """``generate``, whose help lists the generators and their parameters from config's
    table, read only when that help is shown: config loads numpy, which ``smcheck --help``
    must not."""

    def format_help_text(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        super().format_help_text(ctx, formatter)
        from smcheck.config import GENERATOR_SPECS

        with formatter.section("Generators (default shape; parameters and their defaults)"):
            formatter.write_dl(
                [
                    (
                        g.name,
                        f"{g.description} ({'x'.join(map(str, g.default_shape))}; "
                        + " ".join(f"{k}={v!r}" for k, v in g.defaults.items())
                        + ("" if g.seeded else "; ignores --seed")
                        + ")",
                    )
                    for g in GENERATOR_SPECS
                ]
            )


@click.command(cls=GenerateCommand, help=_HELP)
@click.argument("name", shell_complete=complete_generators)
@click.option("--shape", metavar="AxB", help="Shape, e.g. 64x10 (default: the generator's).")
@click.option("--seed", type=int, default=None, help="Random seed.  [default: 0]")
@click.option("--value", type=float, help="The value of the 'constant' generator.")
@click.option(
    "--param",
    "params",
    multiple=True,
    metavar="K=V",
    help="Generator parameter, as in gen:NAME:K=V (repeatable); --shape, --seed and --value "
    "win over the same key.",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, allow_dash=True),
    callback=output_path,
    required=True,
    help="Output .npy file; - writes the .npy bytes to standard output (not a terminal).",
)
def generate(
    name: str,
    shape: str | None,
    seed: int | None,
    value: float | None,
    params: tuple[str, ...],
    output: str,
) -> None:
    import sys

    from smcheck import api
    from smcheck.output import STDOUT, write_output

    with user_errors():
        to_stdout = output == STDOUT
        if not to_stdout:
            api.check_data_name(output, ".npy")
        if to_stdout and sys.stdout is not None and sys.stdout.isatty():
            raise click.UsageError("-o - writes binary .npy: redirect it to a file or a pipe")
        arr = api.generate(name, shape=shape, seed=seed, value=value, params=params)
        write_output(output, api.npy_bytes(arr))
    where = "standard output" if to_stdout else output
    click.echo(f"wrote {where}: {arr.dtype} {list(arr.shape)}", err=True)
