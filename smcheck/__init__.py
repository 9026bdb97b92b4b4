"""smcheck: numerical-stability diagnostics for softmax in float16, bfloat16, float32 and float64."""

from __future__ import annotations

__version__ = "0.1.0"
