"""Config: the tile sizes (and launch settings) a kernel is compiled with.

Tile sizes are named after the tile loop variables (`BLOCK_M` for `for m in tl.tile(M)`) unless
the kernel names them with `block=`. A Config is plain data: JSON in, JSON out.
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

    def __init__(self, tiles: dict | None = None, *, num_warps: int = 4, num_stages: int = 2, **named: int):
        entries = dict(tiles or {}, **named)
        for k, v in entries.items():
            if not isinstance(k, str) or not k.isidentifier():
                raise ValueError(f"Config entry name {k!r} is not an identifier")
            if type(v) is not int or v <= 0:
                raise ValueError(f"Config entry {k}={v!r}: a tile size is a positive int")
        object.__setattr__(self, "tiles", tuple(sorted(entries.items())))
        object.__setattr__(self, "num_warps", int(num_warps))
        object.__setattr__(self, "num_stages", int(num_stages))

    def get(self, name: str) -> int | None:
        return dict(self.tiles).get(name)

    def to_dict(self) -> dict:
        return {"tiles": dict(self.tiles), "num_warps": self.num_warps, "num_stages": self.num_stages}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, d: dict) -> "Config":
        return cls(d.get("tiles", {}), num_warps=d.get("num_warps", 4), num_stages=d.get("num_stages", 2))

    def __repr__(self) -> str:
        items = [f"{k}={v}" for k, v in self.tiles]
        items += [f"num_warps={self.num_warps}", f"num_stages={self.num_stages}"]
        return f"Config({', '.join(items)})"
