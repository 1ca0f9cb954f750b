"""Program order: which grid tile the program with launch index `pid` computes.

row-major ("row"): the last grid tile varies fastest.

grouped ("grouped", GROUP_M = G): the grid is cut into bands of G rows of the first tile; inside a
band, programs go down a column of G rows before moving to the next column (the other grid tiles,
row-major, form the columns). Programs that run at the same time then share rows of A and columns
of B, which stay in L2. The last band has fewer rows when G does not divide the row count:

    width = G * cols;  band = pid // width;  first = band * G;  rows = min(count0 - first, G)
    row = first + (pid % width) % rows;  col = (pid % width) // rows

It is a bijection from [0, count0 * cols) onto the grid (checked exhaustively in
tests/test_program_order.py, and by `is_bijection` for any small grid); every backend renders
this same formula and the reference interpreter runs programs in this order.
"""

from __future__ import annotations

DEFAULT_GROUP = 8


def tile_ids(pid: int, counts: tuple[int, ...], order: str = "row", group: int = 0) -> tuple[int, ...]:
    """The grid tile ids (one per grid dimension) of program `pid`."""
    if order == "grouped" and len(counts) >= 2:
        g = group or DEFAULT_GROUP
        cols = 1
        for c in counts[1:]:
            cols *= c
        width = g * cols
        first = (pid // width) * g
        rows = min(counts[0] - first, g)
        row = first + (pid % width) % rows
        rest = (pid % width) // rows
        return (row,) + _row_major(rest, counts[1:])
    return _row_major(pid, counts)


def _row_major(pid: int, counts) -> tuple[int, ...]:
    out = []
    for c in reversed(counts[1:]):
        out.append(pid % c)
        pid //= c
    out.append(pid)
    return tuple(reversed(out))


def is_bijection(counts: tuple[int, ...], order: str, group: int = 0) -> bool:
    """Whether programs 0 .. prod(counts)-1 hit every grid tile exactly once (exhaustive)."""
    total = 1
    for c in counts:
        total *= c
    seen = {tile_ids(p, counts, order, group) for p in range(total)}
    return len(seen) == total and all(all(0 <= i < c for i, c in zip(t, counts)) for t in seen)
