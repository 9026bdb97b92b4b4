"""``smcheck generate``: seeded synthetic logits written to a .npy file."""

from __future__ import annotations

import click

from smcheck.cli.completion import complete_generators
from smcheck.cli.options import user_errors


@click.command()
@click.argument("name", shell_complete=complete_generators)
@click.option("--shape", metavar="AxB", help="Shape, e.g. 64x10 (default: the generator's).")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--value", type=float, help="The value of the 'constant' generator.")
@click.option(
    "--param", "params", multiple=True, metavar="K=V", help="Generator parameter (repeatable)."
)
@click.option(
    "-o", "--output", type=click.Path(dir_okay=False), required=True, help="Output .npy file."
)
def generate(
    name: str,
    shape: str | None,
    seed: int,
    value: float | None,
    params: tuple[str, ...],
    output: str,
) -> None:
    """Write seeded synthetic logits to a .npy file (same seed, same bytes).

    \b
    Examples:
      smcheck generate llm --shape 4x32000 --seed 1 -o llm.npy
      smcheck generate constant --shape 1x4096 --value 0 -o zeros.npy
    """
    from smcheck import api
    from smcheck.output import write_output

    with user_errors():
        arr = api.generate(name, shape=shape, seed=seed, value=value, params=params)
        write_output(output, api.npy_bytes(arr))
    click.echo(f"wrote {output}: {arr.dtype} {list(arr.shape)}", err=True)
