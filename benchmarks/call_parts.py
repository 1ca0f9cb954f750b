"""Where a cached cpu-backend call's time goes: the whole call, then each part of the call path
(argument key, watched globals, the autotune hook's state and memo key, the generated Runner).

    python benchmarks/call_parts.py        # min of 5 repeats of 20000 calls per line, in us

A 4096-element f32 add (`out = x + y`), compiled before timing. Compare lines within one run only:
the machine is shared and its load moves every figure.
"""

from __future__ import annotations

import timeit

import torch

import tilelang as tl
from tilelang.autotune.hook import _db_present, call_memo_key
from tilelang.autotune.sweep import autotune_enabled


@tl.tile
def add(x, y, out):
    N, = x.shape
    for i in tl.tile(N):
        out[i] = x[i] + y[i]


def per_call_us(fn, number: int = 20000) -> float:
    return min(timeit.repeat(fn, number=number, repeat=5)) / number * 1e6


def main():
    x, y, o = torch.randn(4096), torch.randn(4096), torch.empty(4096)
    args = (x, y, o)
    add(*args)
    akey = add._arg_key(args)
    runner = add._compiled[call_memo_key(add, args, akey, None, add._watch())]
    parts = [("whole call", lambda: add(x, y, o)),
             ("argument key", lambda: add._arg_key(args)),
             ("watched globals", add._watch),
             ("autotune on?", autotune_enabled),
             ("database present?", _db_present),
             ("hook memo key", lambda: call_memo_key(add, args, akey, None, ())),
             ("Runner (launch)", lambda: runner.run(args))]
    for name, fn in parts:
        print(f"{name:20s} {per_call_us(fn):8.3f} us")


if __name__ == "__main__":
    main()
