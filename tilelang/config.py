"""Config: the tile sizes (and launch settings) a kernel is compiled with.

Tile sizes are named after the tile loop variables (`BLOCK_M` for `for m in tl.tile(M)`) unless
the kernel names them with `block=`. A Config is plain data: JSON in, JSON out.

Besides tile sizes: `num_warps` / `num_stages` (GPU launch settings), `group_m` (grouped program
order: GROUP_M rows of grid tiles per group, 0 = the kernel's own order), and for the cpu backend
`microkernel` ("6x4": GEMM register block of rows x vectors, "" = chosen from the host's ISA) and
`num_threads` (0 = all cores). The autotuner searches all of them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

SETTINGS = {"num_warps": 4, "num_stages": 2}


@dataclass(frozen=True)
class Config:
    tiles: tuple[tuple[str, int], ...] = ()
    num_warps: int = SETTINGS["num_warps"]
    num_stages: int = SETTINGS["num_stages"]
    group_m: int = 0
    microkernel: str = ""
    num_threads: int = 0

    def __init__(self, tiles: dict | None = None, *, num_warps: int = 4, num_stages: int = 2, group_m: int = 0,
                 microkernel: str = "", num_threads: int = 0, **named: int):
        entries = dict(tiles or {}, **named)
        for k, v in entries.items():
            if not isinstance(k, str) or not k.isidentifier():
                raise ValueError(f"Config entry name {k!r} is not an identifier")
            if type(v) is not int or v <= 0:
                raise ValueError(f"Config entry {k}={v!r}: a tile size is a positive int")
        object.__setattr__(self, "tiles", tuple(sorted(entries.items())))
        object.__setattr__(self, "num_warps", int(num_warps))
        object.__setattr__(self, "num_stages", int(num_stages))
        for k, v in (("group_m", group_m), ("num_threads", num_threads)):
            if type(v) is not int or v < 0:
                raise ValueError(f"Config {k}={v!r}: a non-negative int")
        if microkernel and not _is_block(microkernel):
            raise ValueError(f"Config microkernel={microkernel!r}: rows x vectors, e.g. '6x4'")
        object.__setattr__(self, "group_m", group_m)
        object.__setattr__(self, "microkernel", str(microkernel).lower())
        object.__setattr__(self, "num_threads", num_threads)

    def get(self, name: str) -> int | None:
        return dict(self.tiles).get(name)

    def to_dict(self) -> dict:
        d = {"tiles": dict(self.tiles), "num_warps": self.num_warps, "num_stages": self.num_stages}
        for k in _OPTIONAL:  # written only when set, so older JSON stays as it was
            if getattr(self, k):
                d[k] = getattr(self, k)
        return d

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, d: dict) -> "Config":
        return cls(d.get("tiles", {}), num_warps=d.get("num_warps", 4), num_stages=d.get("num_stages", 2),
                   **{k: d[k] for k in _OPTIONAL if k in d})

    def __repr__(self) -> str:
        items = [f"{k}={v}" for k, v in self.tiles]
        items += [f"num_warps={self.num_warps}", f"num_stages={self.num_stages}"]
        items += [f"{k}={getattr(self, k)!r}" for k in _OPTIONAL if getattr(self, k)]
        return f"Config({', '.join(items)})"


_OPTIONAL = ("group_m", "microkernel", "num_threads")


def _is_block(text: str) -> bool:
    parts = str(text).lower().split("x")
    return len(parts) == 2 and all(p.isdigit() and int(p) > 0 for p in parts)
