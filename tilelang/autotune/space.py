"""Search spaces derived from the kernel itself, and pruning of configs that cannot fit.

The kernel's tile loops say what there is to tune: each tile-size symbol (grid loops and sequential
loops), and for a grid of two or more tiles the program-order group size. Each target adds its own
settings: warps and stages on GPU targets, the GEMM register block and the thread count on cpu.
Values are powers of two, capped at the next power of two of a concrete extent (a tile larger
than the whole dimension computes nothing more).

Pruning estimates from the IR, per config, before anything is compiled:
- GPU shared memory: the tiles loaded inside sequential loops (the operands a pipelined loop keeps
  in flight), times num_stages, must fit the architecture's shared memory per block;
- GPU registers: the largest tile value live in a program, spread over num_warps * 32 threads,
  must stay within 128 32-bit registers per thread (leaving room for addresses and operands);
- cpu: every tile value is a stack buffer of the worker thread; their total must stay under 4 MiB.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import sympy

from tilelang.config import Config
from tilelang.ir import dtypes
from tilelang.ir import nodes as ir

from .hardware import SHARED_MEMORY, host_isa


@dataclass(frozen=True)
class TileParam:
    """One tile-size symbol of a kernel: its name, whether its loop is the launch grid, its extent."""

    symbol: str
    parallel: bool
    extent: sympy.Expr
    grid_position: int  # index among the grid loop's tiles (-1 for sequential loops)


def tile_params(kernel: ir.Kernel) -> list[TileParam]:
    out: dict[str, TileParam] = {}
    for s in ir.walk(kernel.body):
        if isinstance(s, ir.TileLoop):
            for i, t in enumerate(s.tiles):
                if getattr(t, "whole", False):
                    continue  # a whole-dimension tile: its block is the tensor's size, not tunable
                if isinstance(t.block, sympy.Symbol) and t.block.name not in out:
                    out[t.block.name] = TileParam(t.block.name, s.parallel, t.extent, i if s.parallel else -1)
    return list(out.values())


def _pow2_range(lo: int, hi: int) -> list[int]:
    out, v = [], lo
    while v <= hi:
        out.append(v)
        v *= 2
    return out


def _cap(values: list[int], extent: sympy.Expr, sizes: dict[str, int]) -> list[int]:
    """Drop values past the next power of two of a concrete extent (they behave like it)."""
    e = extent.subs({sympy.Symbol(k, integer=True, positive=True): v for k, v in sizes.items()})
    e = e.subs({s: sizes[s.name] for s in e.free_symbols if s.name in sizes})
    if not e.is_Integer:
        return values
    limit = 1 << max(0, (int(e) - 1).bit_length())
    kept = [v for v in values if v <= limit]
    return kept or [limit]


def _has_dot(kernel: ir.Kernel) -> bool:
    return any(isinstance(s, ir.Assign) and isinstance(s.value, ir.Op) and s.value.name == "dot"
               for s in ir.walk(kernel.body))


def default_space(kernel: ir.Kernel, target: str, sizes: dict[str, int] | None = None,
                  device_arch: str | None = None) -> list[Config]:
    """Configs to try for a lowered (untiled) kernel on `target` ("cpu", "triton", "reference")."""
    sizes = sizes or {}
    params = tile_params(kernel)
    grid_tiles = len(kernel.grid_loop.tiles)
    gpu = target == "triton" and (device_arch or "").startswith(("sm_", "gfx"))
    choices: dict[str, list[int]] = {}
    for p in params:
        if target == "cpu":
            vals = [32, 64, 128] if p.grid_position == 0 else [64, 128] if p.parallel else [128, 256]
        elif gpu:
            vals = [64, 128, 256] if p.parallel else [32, 64]
        else:  # interpreters (reference, Triton on CPU tensors): only small, cheap spaces
            vals = [16, 32] if p.parallel else [16, 32]
        choices[p.symbol] = _cap(vals, p.extent, sizes)
    names = list(choices)
    settings: list[dict] = [{}]
    if gpu:
        groups = [0, 8] if grid_tiles >= 2 else [0]
        settings = [dict(num_warps=w, num_stages=st, group_m=g)
                    for w, st, g in itertools.product([4, 8], [3, 4], groups)]
    elif target == "cpu":
        settings = [{}]
        if _has_dot(kernel):  # the ISA's register block and one other shape that fits
            alt = "4x4" if host_isa().name == "avx512" else "4x3"
            settings = [dict(microkernel=""), dict(microkernel=alt)]
        cores = _cores()
        if cores >= 4:  # all cores, or half (memory-bound kernels may not scale)
            settings = [dict(s, num_threads=t) for s in settings for t in (0, cores // 2)]
    out, seen = [], set()
    for values in itertools.product(*(choices[n] for n in names)):
        for extra in settings:
            c = Config(dict(zip(names, values)), **extra)
            if c not in seen:
                seen.add(c)
                out.append(c)
    return out


# ---- pruning ------------------------------------------------------------------------------------

def _elems(shape, tiles: dict[str, int]) -> int | None:
    subs = {s: tiles[s.name] for d in shape for s in sympy.sympify(d).free_symbols if s.name in tiles}
    n = 1
    for d in shape:
        v = sympy.sympify(d).subs(subs)
        if not v.is_Integer:
            return None
        n *= int(v)
    return n


def _tile_values(kernel: ir.Kernel):
    """(type, inside a sequential loop, is a load) for every tile value of the grid body."""
    def rec(stmts, in_seq):
        for s in stmts:
            if isinstance(s, ir.Assign) and s.type.shape:
                yield s.type, in_seq, isinstance(s.value, ir.Load)
            elif isinstance(s, ir.TileLoop):
                yield from rec(s.body, in_seq or not s.parallel)
    return list(rec(kernel.grid_loop.body, False))


def prune_reason(kernel: ir.Kernel, config: Config, target: str, device_arch: str | None = None) -> str | None:
    """Why `config` cannot fit on the target (None: it may)."""
    tiles = dict(config.tiles)
    values = _tile_values(kernel)
    if target == "cpu":
        total = sum((_elems(t.shape, tiles) or 0) * _bytes(t.dtype) for t, _, _ in values)
        if total > 4 * 1024 * 1024:
            return f"tile buffers need {total // 1024} KiB of stack per thread (limit 4096 KiB)"
        if config.microkernel:
            mr, nv = (int(x) for x in config.microkernel.split("x"))
            isa = host_isa()
            if mr * nv + nv + 1 > isa.registers:
                return f"microkernel {config.microkernel} needs {mr * nv + nv + 1} vector registers ({isa.name} has {isa.registers})"
        return None
    if target == "triton" and device_arch:
        smem = sum((_elems(t.shape, tiles) or 0) * _bytes(t.dtype) for t, in_seq, is_load in values
                   if in_seq and is_load) * max(1, config.num_stages)
        limit = SHARED_MEMORY.get(device_arch, 99 * 1024 if device_arch.startswith("sm_") else 64 * 1024)
        if smem > limit:
            return f"needs {smem // 1024} KiB of shared memory ({device_arch} has {limit // 1024} KiB per block)"
        threads = config.num_warps * (32 if device_arch.startswith("sm_") else 64)
        regs = max([(_elems(t.shape, tiles) or 0) * max(4, _bytes(t.dtype)) // 4 for t, _, _ in values],
                   default=0) / threads
        if regs > 128:
            return f"the largest tile needs {regs:.0f} registers per thread (limit 128 with {config.num_warps} warps)"
    return None


def prune(kernel: ir.Kernel, configs: list[Config], target: str,
          device_arch: str | None = None) -> tuple[list[Config], list[tuple[Config, str]]]:
    """(configs that may fit, [(config, why not)])."""
    kept, dropped = [], []
    for c in configs:
        why = prune_reason(kernel, c, target, device_arch)
        if why is None:
            kept.append(c)
        else:
            dropped.append((c, why))
    return kept, dropped



def _bytes(dt: str) -> int:
    return max(1, dtypes.bits(dtypes.normalize(dt) or "f32") // 8)


def _cores() -> int:
    import os

    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
