"""float16 and bfloat16 outputs widened to float32 from their bits, exactly, for the cell kernel.

A kernel of its own module, called once per chunk into a buffer the caller reuses: torch's cast
returned fresh arrays, whose pages each chunk faulted in again (the 16-bit cells' cast and
kernel took 0.80 of the time this way), and the decode written into the cell kernel added a
second to that kernel's cold compile.
"""

from __future__ import annotations

import numpy as np

from smcheck.kernels import kernel, warmup
from smcheck.kernels.cellterms import half_bits_value


@kernel
def to_float32(h, t, out):  # type: ignore[no-untyped-def]
    """out = the float16 (t = 11) or bfloat16 (t = 8) values whose bits are h (1-D uint16)."""
    for j in range(h.shape[0]):
        out[j] = np.float32(half_bits_value(h[j], t))


@warmup
def _warm() -> None:
    to_float32(np.array([0x3C00, 0xFC00], np.uint16), 11, np.empty(2, np.float32))
