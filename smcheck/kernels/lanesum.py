"""Compensated sums of a row in vector lanes: LANES running TwoSum sums, element j in lane
j % LANES, which the loop vectoriser runs as vectors (fastmath off), merged in lane order at
the row's end. One sum per row, so the chunking changes nothing; the lane order only moves the
last bits of the merged low part. Used for 1 - p[t] (smcheck.kernels.gradients), the bounds'
weighted sum (smcheck.kernels.bounds) and the float64 reference's row sum
(smcheck.kernels.reference).
"""

from __future__ import annotations

from smcheck.kernels import kernel

LANES = 32
"""Running sums per row: a recurrence the vectoriser runs as vectors of these lanes (measured:
32 and 64 alike, 16 slower, 128 no faster)."""


@kernel
def two_sum(s, c, hi, lo):  # type: ignore[no-untyped-def]
    """Add hi + lo to the running sum s (rounded) + c (its accumulated error): TwoSum."""
    t = s + hi
    b = t - s
    return t, c + (((s - (t - b)) + (hi - b)) + lo)


@kernel
def add_lanes(ph, pl, dd, skip, s, c):  # type: ignore[no-untyped-def]
    """Add every ph[j] + pl[j] but j = skip to the TwoSum lanes (s, c): element j to lane
    j % LANES, a tail shorter than LANES to lane 0. (Loops index from 0, callers pass slices:
    numba's negative-index wraparound then folds away and the loads stay contiguous.)"""
    n = ph.shape[0]
    m = n - n % LANES
    for a in range(0, m, LANES):
        for k in range(LANES):
            j = a + k
            keep = j != skip
            hi = ph[j] if keep else 0.0
            lo = (pl[j] if keep else 0.0) if dd else 0.0
            s[k], c[k] = two_sum(s[k], c[k], hi, lo)
    for j in range(m, n):
        keep = j != skip
        hi = ph[j] if keep else 0.0
        lo = (pl[j] if keep else 0.0) if dd else 0.0
        s[0], c[0] = two_sum(s[0], c[0], hi, lo)


@kernel
def merge_lanes(s, c):  # type: ignore[no-untyped-def]
    """The lanes' sum as a double-double (hi, lo), hi = fl(hi + lo): the lanes added in order,
    each addition a TwoSum whose error term is exact (the order changes only lo's last bits)."""
    a, e = s[0], c[0]
    for k in range(1, LANES):
        a, e = two_sum(a, e, s[k], c[k])
    hi = a + e
    return hi, e - (hi - a)
