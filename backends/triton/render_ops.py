"""Triton rendering for atomics, shifts, scans, sort / top-k and Philox random numbers.

Sort and top-k have no Triton primitive with the semantics the IR defines (stable, NaN largest,
any k, indices): each use gets a small generated @triton.jit helper that maps values to unsigned
keys whose integer order is the documented total order, ranks every element by counting the ones
that go before it (key, then position), and picks, for each output position, the element of that
rank. That is O(n^2) work per line: fine for the tile sizes a kernel sorts, and branch-free.
"""

from __future__ import annotations

import re

import sympy

from tilelang.errors import BackendError
from tilelang.ir import dtypes
from tilelang.ir import nodes as ir
from tilelang.ir.ops_random import PHILOX_M0, PHILOX_M1, PHILOX_ROUNDS, PHILOX_W0, PHILOX_W1

# Helpers a kernel may call, by name; only the ones it uses go into its source (goldens stay small).
HELPERS = {
    "_shl": '''
@triton.jit
def _shl(a, b):
    # counts outside [0, bits) shift every bit out (LLVM would make them poison)
    ok = (b >= 0) & (b < a.dtype.primitive_bitwidth)
    return tl.where(ok, a << tl.where(ok, b, 0), 0)
''',
    "_shr": '''
@triton.jit
def _shr(a, b):
    ok = (b >= 0) & (b < a.dtype.primitive_bitwidth)
    fill = a >> (a.dtype.primitive_bitwidth - 1)  # 0, or -1 for negative signed values
    if a.dtype.is_int_unsigned():
        fill = a * 0
    return tl.where(ok, a >> tl.where(ok, b, 0), fill)
''',
    "_max_combine": '''
@triton.jit
def _max_combine(a, b):
    return tl.maximum(a, b, propagate_nan=tl.PropagateNan.ALL)
''',
    "_min_combine": '''
@triton.jit
def _min_combine(a, b):
    return tl.minimum(a, b, propagate_nan=tl.PropagateNan.ALL)
''',
    "_philox_randint": f'''
@triton.jit
def _philox_randint(k0, k1, c0, c1):
    # Philox4x32-{PHILOX_ROUNDS} on counter (c0, c1, 0, 0), key (k0, k1); all uint32. Returns word 0.
    zero = c0 * 0 + c1 * 0 + k0 * 0 + k1 * 0
    c0 = c0 + zero
    c1 = c1 + zero
    c2 = zero
    c3 = zero
    k0 = k0 + zero
    k1 = k1 + zero
    m0 = tl.full([], {PHILOX_M0}, tl.uint32)
    m1 = tl.full([], {PHILOX_M1}, tl.uint32)
    w0 = tl.full([], {PHILOX_W0}, tl.uint32)
    w1 = tl.full([], {PHILOX_W1}, tl.uint32)
    for _ in tl.static_range({PHILOX_ROUNDS}):
        hi0 = tl.umulhi(c0, m0)
        lo0 = c0 * m0
        hi1 = tl.umulhi(c2, m1)
        lo1 = c2 * m1
        c0, c1, c2, c3 = hi1 ^ c1 ^ k0, lo1, hi0 ^ c3 ^ k1, lo0
        k0 = k0 + w0
        k1 = k1 + w1
    return c0
''',
    "_philox_rand": '''
@triton.jit
def _philox_rand(k0, k1, c0, c1):
    bits = _philox_randint(k0, k1, c0, c1)
    return (bits >> 8).to(tl.float32) * 5.9604644775390625e-08  # exact: top 24 bits times 2**-24
''',
}
_DEPENDS = {"_philox_rand": ("_philox_randint",)}


def used_helpers(source: str) -> str:
    """The helper definitions `source` calls (dependencies first)."""
    names = [n for n in HELPERS if re.search(rf"\b{n}\b", source)]
    for n in list(names):
        names = [d for d in _DEPENDS.get(n, ()) if d not in names] + names
    return "".join("\n" + HELPERS[n] for n in names)


def atomic_call(kind: str, ptrs: str, value: str, mask_kw: str) -> str:
    return f"tl.atomic_{kind}({ptrs}, {value}{mask_kw})"


def _split32(r, v) -> tuple[str, str]:
    """(low word, high word) as uint32 expressions: signed values sign-extended to 64 bits."""
    from .render import TL_DTYPE
    dt = r.dtype_of(v)
    text = r.operand(v)
    if isinstance(v, ir.Const):
        text = f"tl.full([], {text}, {TL_DTYPE[dt]})"
    if dtypes.bits(dt) == 64:
        u = f"{text}.to(tl.uint64, bitcast=True)" if not dtypes.is_unsigned(dt) else text
        return f"{u}.to(tl.uint32)", f"({u} >> 32).to(tl.uint32)"
    if dtypes.is_unsigned(dt):
        return f"{text}.to(tl.uint32)", "tl.full([], 0, tl.uint32)"
    lo = f"{text}.to(tl.int32).to(tl.uint32, bitcast=True)"
    return lo, f"tl.where({text} < 0, tl.full([], 4294967295, tl.uint32), tl.full([], 0, tl.uint32))"


def render_random(r, name: str, args) -> str:
    k0, k1 = _split32(r, args[0])
    c0, c1 = _split32(r, args[1])
    if dtypes.bits(r.dtype_of(args[1])) != 64:
        c1 = "tl.full([], 0, tl.uint32)"  # offsets of 32 bits or fewer: their 32-bit pattern only
    return f"_philox_{name}({k0}, {k1}, {c0}, {c1})"


def _key_code(dt: str) -> tuple[str, str, str]:
    """(key dtype, lines computing `key` from `x`, lines computing `v` from key `k`)."""
    if dt in ("f16", "bf16", "f32", "f64"):
        w, ft = (64, "tl.float64") if dt == "f64" else (32, "tl.float32")
        ut = f"tl.uint{w}"
        sign = f"tl.full([], {1 << (w - 1)}, {ut})"
        ones = f"tl.full([], {(1 << w) - 1}, {ut})"
        enc = (f"    xb = x.to({ft}).to({ut}, bitcast=True)\n"
               f"    key = tl.where((xb & {sign}) != 0, ~xb, xb | {sign})\n"
               f"    key = tl.where(x != x, {ones}, key)\n")
        dec = (f"    b = tl.where((k & {sign}) != 0, k & ~{sign}, ~k)\n"
               f"    v = b.to({ft}, bitcast=True)\n")
        return ut, enc, dec
    w = 64 if dtypes.bits(dt) == 64 else 32
    ut, st = f"tl.uint{w}", f"tl.int{w}"
    if dtypes.is_unsigned(dt):
        return ut, f"    key = x.to({ut})\n", "    v = k\n"
    sign = f"tl.full([], {1 << (w - 1)}, {ut})"
    return ut, (f"    key = x.to({st}).to({ut}, bitcast=True) ^ {sign}\n"), f"    v = (k ^ {sign}).to({st}, bitcast=True)\n"


def render_sort(r, name: str, x, attrs: dict, vt) -> str:
    """A call to a generated helper computing sort / topk / topk_index of operand `x`."""
    from .render import TL_DTYPE, size_py

    xt = r.types[x.name] if isinstance(x, ir.Var) else None
    if xt is None:
        raise BackendError("triton backend: sort needs a tile operand")
    rank, axis = xt.rank, attrs["axis"] % xt.rank
    n = size_py(xt.shape[axis])
    k = attrs.get("k")
    p = n if k is None else str(k)
    if k is not None and sympy.Integer(k) & (sympy.Integer(k) - 1):
        raise BackendError(f"triton backend: tl.topk needs k to be a power of two (Triton tiles are), got {k}")
    descending = bool(attrs.get("descending", False)) or k is not None
    ut, enc, dec = _key_code(xt.dtype)

    def placed(at: int) -> str:
        sel = ["None"] * (rank + 1)
        sel[at] = ":"
        return "[" + ", ".join(sel) + "]"

    cmp = ">" if descending else "<"
    body = (enc
            + f"    ki = tl.expand_dims(key, {axis + 1})\n"
            + f"    kj = tl.expand_dims(key, {axis})\n"
            + f"    pi = tl.arange(0, {n}){placed(axis)}\n"
            + f"    pj = tl.arange(0, {n}){placed(axis + 1)}\n"
            + f"    before = (kj {cmp} ki) | ((kj == ki) & (pj < pi))\n"
            + f"    rank = tl.expand_dims(tl.sum(before.to(tl.int32), axis={axis + 1}), {axis})\n"
            + f"    sel = rank == tl.arange(0, {p}){placed(axis)}\n")
    if name == "topk_index":
        body += f"    return tl.max(tl.where(sel, pj, 0), axis={axis + 1})\n"
    else:
        body += (f"    k = tl.max(tl.where(sel, tl.expand_dims(key, {axis}), tl.full([], 0, {ut})), axis={axis + 1})\n"
                 + dec + f"    return v.to({TL_DTYPE[vt.dtype]})\n")
    sizes = sorted({str(s) for s in sympy.sympify(xt.shape[axis]).free_symbols})
    helper = f"_tl_{name}_{len(r.helpers)}"
    params = ", ".join(["x"] + [f"{s}: tl.constexpr" for s in sizes])
    r.helpers.append(f"@triton.jit\ndef {helper}({params}):\n{body}")
    return f"{helper}({', '.join([r.operand(x)] + sizes)})"
