"""The tile matrix product: out[BM, BN] (+)= a[BM, BK] @ b[BK, BN] on local row-major buffers (with a
leading batch axis on all three for a batched product: one product per batch index).

f32 with BN a multiple of the vector length VL (16 lanes on AVX-512, 8 on AVX2) takes a
register-blocked microkernel: a block of MR rows x NV vectors of VL columns of `out` lives in
vector registers for the whole BK loop (phi nodes, so LLVM keeps them there); each k step loads NV
vectors of a row of b and broadcasts MR elements of a, one FMA per (row, vector). Column panels of
b (BK x VL*NV) are the outer loop so a panel stays in L1 while the row blocks sweep over it. Other
dtypes and shapes take a plain i-k-j loop that LLVM vectorizes.

MR x NV defaults to what fits the ISA's register file (32 zmm or 16 ymm, see
tilelang.autotune.hardware.microkernel_shape); a Config's `microkernel="6x4"` or
TILELANG_CPU_MICROKERNEL=MRxNV overrides it (the environment wins).
"""

from __future__ import annotations

import os
import re

from llvmlite import ir

from tilelang.errors import BackendError

from . import loopir as L
from .llvm_ops import F32, I64, declare_intrinsic

MAX_MR, MAX_NV = 32, 8  # bounds for a requested block (registers unrolled: MR * NV)


def choose_block(bm: int, bn: int, requested: str = "", isa=None) -> tuple[int, int]:
    """(MR, NV) for a BM x BN tile: TILELANG_CPU_MICROKERNEL, else `requested` ("6x4"), else the
    block that fits the ISA's registers. A requested block larger than the tile is clipped to it."""
    from tilelang.autotune.hardware import host_isa, microkernel_shape

    isa = isa or host_isa()
    env = os.environ.get("TILELANG_CPU_MICROKERNEL")
    text = env or requested
    if text:
        m = re.fullmatch(r"\s*(\d+)\s*x\s*(\d+)\s*", text.lower())
        if m is None or not (1 <= int(m[1]) <= MAX_MR and 1 <= int(m[2]) <= MAX_NV):
            source = "TILELANG_CPU_MICROKERNEL" if env else "Config(microkernel=...)"
            raise BackendError(f"{source} must be MRxNV with 1 <= MR <= {MAX_MR} and "
                               f"1 <= NV <= {MAX_NV} (e.g. 6x4), got {text!r}")
        mr, nv = int(m[1]), int(m[2])
        return max(1, min(mr, bm)), max(1, min(nv, bn // isa.lanes_f32))
    return microkernel_shape(bm, bn, isa)


def emit_dot(cg, s: L.Dot):
    """2-D buffers, or 3-D ones (a batched product): then one product per leading index `pre`."""
    a, b_, out = s.a, s.b, s.out
    bm, bk = a.shape[-2:]
    bn = b_.shape[-1]
    if out.dtype == "f32" and a.dtype in ("f32", "f16", "bf16") and b_.dtype in ("f32", "f16", "bf16") \
            and bn % cg.vl == 0:
        kernel = _microkernel
    else:
        kernel = _generic
    if len(a.shape) == 3:
        with cg.loop(0, a.shape[0], "db") as bi:
            kernel(cg, s, bm, bn, bk, [bi])
    else:
        kernel(cg, s, bm, bn, bk, [])


def _generic(cg, s, bm, bn, bk, pre):
    b, ops = cg.b, cg.ops
    dt = s.out.dtype
    zero = ops.convert(ir.Constant(ir.IntType(32), 0), "i32", dt)
    if not s.accumulate:
        cg.nest([bm, bn], lambda ivs: b.store(ops.to_buf(zero, dt), cg.buf_ptr(s.out, pre + list(ivs))), "dz")

    def body(ivs):
        i, k = ivs

        def inner(jv):
            j = jv[0]
            x = ops.convert(ops.from_buf(b.load(cg.buf_ptr(s.a, pre + [i, k])), s.a.dtype), s.a.dtype, dt)
            y = ops.convert(ops.from_buf(b.load(cg.buf_ptr(s.b, pre + [k, j])), s.b.dtype), s.b.dtype, dt)
            p = cg.buf_ptr(s.out, pre + [i, j])
            cur = b.load(p)
            if dt in ("f32", "f64"):
                b.store(b.fadd(cur, b.fmul(x, y)), p)
            else:
                b.store(b.add(cur, b.mul(x, y)), p)
        cg.nest([bn], inner, "dj")

    cg.nest([bm, bk], body, "dk")


def _microkernel(cg, s, bm, bn, bk, pre):
    b = cg.b
    VL = cg.vl
    vty = ir.VectorType(F32, VL)
    mr, nv = choose_block(bm, bn, cg.microkernel, cg.isa)
    nvec = bn // VL
    fma = declare_intrinsic(cg.m, "llvm.fma", [vty], [vty] * 3)

    def vptr(buf, i, j):
        return b.bitcast(cg.buf_ptr(buf, pre + [i, j]), vty.as_pointer())

    def block(i0, j0, rows, vecs):
        entry = b.block
        if s.accumulate:
            init = [[b.load(vptr(s.out, b.add(i0, ir.Constant(I64, r)), b.add(j0, ir.Constant(I64, VL * v))), align=4)
                     for v in range(vecs)] for r in range(rows)]
        else:
            zero = ir.Constant(vty, [0.0] * VL)
            init = [[zero] * vecs for _ in range(rows)]
        head, body, done = cg.block("mk.head"), cg.block("mk.body"), cg.block("mk.done")
        b.branch(head)
        b.position_at_end(head)
        k = b.phi(I64, name="k")
        k.add_incoming(ir.Constant(I64, 0), entry)
        accs = []
        for r in range(rows):
            row = []
            for v in range(vecs):
                ph = b.phi(vty)
                ph.add_incoming(init[r][v], entry)
                row.append(ph)
            accs.append(row)
        b.cbranch(b.icmp_signed("<", k, ir.Constant(I64, bk)), body, done)
        b.position_at_end(body)
        bv = [b.load(vptr(s.b, k, b.add(j0, ir.Constant(I64, VL * v))), align=4) for v in range(vecs)]
        new = []
        for r in range(rows):
            av = b.load(cg.buf_ptr(s.a, pre + [b.add(i0, ir.Constant(I64, r)), k]))
            splat = b.shuffle_vector(b.insert_element(ir.Constant(vty, ir.Undefined), av, ir.Constant(ir.IntType(32), 0)),
                                     ir.Constant(vty, ir.Undefined), ir.Constant(ir.VectorType(ir.IntType(32), VL), [0] * VL))
            new.append([b.call(fma, [splat, bv[v], accs[r][v]]) for v in range(vecs)])
        for r in range(rows):
            for v in range(vecs):
                accs[r][v].add_incoming(new[r][v], b.block)
        k.add_incoming(b.add(k, ir.Constant(I64, 1)), b.block)
        b.branch(head)
        b.position_at_end(done)
        for r in range(rows):
            for v in range(vecs):
                b.store(accs[r][v], vptr(s.out, b.add(i0, ir.Constant(I64, r)), b.add(j0, ir.Constant(I64, VL * v))),
                        align=4)

    def row_blocks(j0, vecs):
        full = (bm // mr) * mr
        if full:
            with cg.loop(0, full, "mi", step=mr) as i0:
                block(i0, j0, mr, vecs)
        if bm % mr:
            block(ir.Constant(I64, full), j0, bm % mr, vecs)

    fullv = (nvec // nv) * nv
    if fullv:
        with cg.loop(0, fullv * VL, "nj", step=nv * VL) as j0:
            row_blocks(j0, nv)
    if nvec % nv:
        row_blocks(ir.Constant(I64, fullv * VL), nvec % nv)
