"""Code generation for scans, sort / top-k and atomic stores (a mixin of codegen.Codegen).

Scans run in row-major order over the tile, each point combining the value before it along the
axis with its own: in place is safe (a point is read before it is written, and only earlier points
are read back). Sort ranks every element by counting the elements that go before it (unsigned
order-preserving keys, ties by position), then writes it at its rank: O(n^2) per line with static
trip counts, no data-dependent branches, and an exact match of the reference's stable order.
Atomic stores are LLVM `atomicrmw` instructions, so programs running on several threads at once
(and duplicate indices in one tile) all count.
"""

from __future__ import annotations

from llvmlite import ir

from tilelang.errors import BackendError
from tilelang.ir.dtypes import bits, is_float, is_unsigned

from . import loopir as L
from .llvm_ops import I32, I64, buf_type

_SCAN_COMBINE = {"cumsum": "add", "cumprod": "mul", "cummax": "maximum", "cummin": "minimum"}


def _c64(v: int) -> ir.Constant:
    return ir.Constant(I64, v)


class OpsCodegen:
    def entry_alloca(self, ty, count: int, name: str):
        """A stack buffer allocated once in the entry block (not per program in the grid loop)."""
        b = self.b
        here = b.block
        b.position_before(self.fn.entry_basic_block.terminator)
        a = b.alloca(ty, size=max(count, 1), name=name)
        a.align = 64
        b.position_at_end(here)
        return a

    def temp_buf(self, like: L.Buf, dtype: str, suffix: str) -> L.Buf:
        buf = L.Buf(like.name + suffix, dtype, like.shape)
        if buf not in self.bufs:
            self.bufs[buf] = self.entry_alloca(buf_type(dtype), buf.size, buf.name)
        return buf

    # ---- scans ------------------------------------------------------------------------------------

    def s_Scan(self, s: L.Scan):
        b, ops = self.b, self.ops
        sdt, odt = L.dtype_of(s.src), s.out.dtype
        combine = _SCAN_COMBINE[s.op]

        def step(ivs):
            v = ops.convert(self.expr(s.src, ivs, {}), sdt, odt)
            k = ivs[s.axis]
            first = b.icmp_signed("==", k, _c64(0))
            prev_idx = list(ivs)
            prev_idx[s.axis] = b.select(first, _c64(0), b.sub(k, _c64(1)))
            prev = ops.from_buf(b.load(self.buf_ptr(s.out, prev_idx)), odt)
            r = b.select(first, v, ops.round_to(ops.binary(combine, prev, v, odt), odt))
            b.store(ops.to_buf(r, odt), self.buf_ptr(s.out, ivs))

        self.nest(list(s.shape), step, "c")

    # ---- sort / top-k -----------------------------------------------------------------------------

    def sort_key(self, v, dt: str):
        """An unsigned integer whose order is the sort order of `v` (NaN largest, -0.0 < +0.0)."""
        b = self.b
        if dt == "bool":
            raise BackendError("cpu backend: cannot sort bool tiles")
        if is_float(dt):
            t = I64 if dt == "f64" else I32
            raw = b.bitcast(v, t)
            sign = ir.Constant(t, -(1 << (t.width - 1)))
            neg = b.icmp_signed("<", raw, ir.Constant(t, 0))
            key = b.select(neg, b.xor(raw, ir.Constant(t, -1)), b.or_(raw, sign))
            return b.select(b.fcmp_unordered("uno", v, v), ir.Constant(t, -1), key)
        t = I64 if bits(dt) == 64 else I32
        if is_unsigned(dt):
            return b.zext(v, t) if v.type.width < t.width else v
        wide = b.sext(v, t) if v.type.width < t.width else v
        return b.xor(wide, ir.Constant(t, -(1 << (t.width - 1))))

    def s_Sort(self, s: L.Sort):
        b, ops = self.b, self.ops
        sdt = L.dtype_of(s.src)
        ax, n = s.axis, s.shape[s.axis]
        src_like = L.Buf(s.out.name + "_src", sdt, s.shape)
        vbuf = self.temp_buf(src_like, sdt, "_v")
        key_dt = "u64" if sdt == "f64" or bits(sdt) == 64 else "u32"
        kbuf = self.temp_buf(src_like, key_dt, "_k")
        count = self.entry_alloca(I64, 1, s.out.name + "_rank")

        def fill(ivs):
            v = self.expr(s.src, ivs, {})
            b.store(ops.to_buf(v, sdt), self.buf_ptr(vbuf, ivs))
            b.store(self.sort_key(v, sdt), self.buf_ptr(kbuf, ivs))

        def place(ivs):
            ki = b.load(self.buf_ptr(kbuf, ivs))
            i = ivs[ax]
            b.store(_c64(0), count)
            with self.loop(0, n, "j") as j:
                jdx = list(ivs)
                jdx[ax] = j
                kj = b.load(self.buf_ptr(kbuf, jdx))
                ahead = b.icmp_unsigned(">" if s.descending else "<", kj, ki)
                tie = b.and_(b.icmp_unsigned("==", kj, ki), b.icmp_signed("<", j, i))
                b.store(b.add(b.load(count), b.zext(b.or_(ahead, tie), I64)), count)
            rank = b.load(count)
            with b.if_then(b.icmp_signed("<", rank, _c64(s.k))):
                odx = list(ivs)
                odx[ax] = rank
                if s.index:
                    b.store(b.trunc(i, I32) if i.type != I32 else i, self.buf_ptr(s.out, odx))
                else:
                    v = ops.from_buf(b.load(self.buf_ptr(vbuf, ivs)), sdt)
                    b.store(ops.to_buf(ops.convert(v, sdt, s.out.dtype), s.out.dtype), self.buf_ptr(s.out, odx))

        self.nest(list(s.shape), fill, "q")
        self.nest(list(s.shape), place, "p")

    # ---- atomics ----------------------------------------------------------------------------------

    def atomic_store(self, kind: str, ptr, v, dt: str):
        if is_float(dt) and kind != "add":
            # A compare-and-swap loop rather than `atomicrmw fmin/fmax`, which follow minnum/maxnum
            # (NaN ignored): the loop uses the reference's NaN-propagating maximum / minimum.
            return self.float_cas(kind, ptr, v, dt)
        if is_float(dt):
            op = "fadd"
        elif kind == "add":
            op = "add"
        else:
            op = ("u" if is_unsigned(dt) else "") + kind
        self.b.atomic_rmw(op, ptr, v, "monotonic")

    def float_cas(self, kind: str, ptr, v, dt: str):
        b = self.b
        it = I64 if dt == "f64" else I32
        iptr = b.bitcast(ptr, it.as_pointer())
        first = b.load_atomic(iptr, "monotonic", 8 if dt == "f64" else 4)
        pre = b.block
        head, done = self.block("cas.head"), self.block("cas.done")
        b.branch(head)
        b.position_at_end(head)
        old = b.phi(it)
        old.add_incoming(first, pre)
        new = self.ops.binary("maximum" if kind == "max" else "minimum", b.bitcast(old, v.type), v, dt)
        pair = b.cmpxchg(iptr, old, b.bitcast(new, it), "monotonic", "monotonic")
        old.add_incoming(b.extract_value(pair, 0), head)
        b.cbranch(b.extract_value(pair, 1), done, head)
        b.position_at_end(done)
