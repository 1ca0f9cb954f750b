"""Scalar LLVM IR for the op registry: dtype conversions, elementwise ops, math functions.

Values in registers: bool is i1, f16/bf16/f32 are `float` (f16/bf16 rounded to their precision
after every op whose result type says so), f64 is `double`, ints are their width. The loop
vectorizer turns the scalar code of a loop body into AVX-512 code; exp/exp2/sigmoid are written out
here as branch-free polynomials so that it can (a libm call would keep the loop scalar).
"""

from __future__ import annotations

import math

from llvmlite import ir

from tilelang.errors import BackendError
from tilelang.ir.dtypes import bits, is_float, is_int, is_unsigned

I1, I8, I16, I32, I64 = ir.IntType(1), ir.IntType(8), ir.IntType(16), ir.IntType(32), ir.IntType(64)
F16, F32, F64 = ir.HalfType(), ir.FloatType(), ir.DoubleType()

_INT_TYPES = {"bool": I1, "i8": I8, "i32": I32, "i64": I64, "u8": I8, "u16": I16, "u32": I32, "u64": I64}


def reg_type(dt: str) -> ir.Type:
    if dt in _INT_TYPES:
        return _INT_TYPES[dt]
    if dt == "f64":
        return F64
    if dt in ("f16", "bf16", "f32"):
        return F32
    raise BackendError(f"cpu backend: unsupported dtype {dt}")


def buf_type(dt: str) -> ir.Type:
    """Element type of a local buffer."""
    return I8 if dt == "bool" else reg_type(dt)


def mem_type(dt: str) -> ir.Type:
    """Element type of a tensor in memory."""
    return {"bool": I8, "f16": F16, "bf16": I16}.get(dt) or reg_type(dt)


def const(dt: str, value) -> ir.Constant:
    t = reg_type(dt)
    if dt == "bool":
        return ir.Constant(t, int(bool(value)))
    if is_int(dt):
        bits = t.width
        v = int(value) & ((1 << bits) - 1)
        if v >= 1 << (bits - 1):
            v -= 1 << bits
        return ir.Constant(t, v)
    v = float(value)
    if dt == "f16":
        import numpy as np
        v = float(np.float16(v))
    elif dt == "bf16":
        import numpy as np
        from tilelang.backends.reference.interp import round_bf16
        v = float(round_bf16(np.float32(v)))
    elif dt == "f32":
        import numpy as np
        v = float(np.float32(v))
    return ir.Constant(t, v)


def _suffix(t) -> str:
    if isinstance(t, ir.VectorType):
        return f"v{t.count}{_suffix(t.element)}"
    if isinstance(t, ir.IntType):
        return f"i{t.width}"
    return {F16: "f16", F32: "f32", F64: "f64"}[t]


def declare_intrinsic(m: ir.Module, name: str, types, arg_types) -> ir.Function:
    full = name + "".join("." + _suffix(t) for t in types)
    fn = m.globals.get(full)
    if fn is None:
        fn = ir.Function(m, ir.FunctionType(types[0], list(arg_types)), full)
    return fn


class Ops:
    """Emits scalar code with a builder; `intrinsic(name, types)` declares LLVM intrinsics."""

    def __init__(self, builder: ir.IRBuilder, module: ir.Module):
        self.b = builder
        self.m = module

    def intrinsic(self, name, types, args):
        """Call llvm.NAME overloaded on `types` (the first is the result type)."""
        return self.b.call(declare_intrinsic(self.m, name, types, [a.type for a in args]), args)

    def fn_call(self, name, ret, args):
        """A call to a C library function (declared once)."""
        fn = self.m.globals.get(name)
        if fn is None:
            fn = ir.Function(self.m, ir.FunctionType(ret, [a.type for a in args]), name)
        return self.b.call(fn, args)

    # ---- rounding and conversion ------------------------------------------------------------

    def round_to(self, v, dt):
        """Round an f32 register value to f16/bf16 precision (identity for other dtypes)."""
        b = self.b
        if dt == "f16":
            return b.fpext(b.fptrunc(v, F16), F32)
        if dt == "bf16":
            bits = b.bitcast(v, I32)
            lsb = b.and_(b.lshr(bits, ir.Constant(I32, 16)), ir.Constant(I32, 1))
            r = b.and_(b.add(b.add(bits, ir.Constant(I32, 0x7FFF)), lsb), ir.Constant(I32, 0xFFFF0000 - (1 << 32)))
            rounded = b.bitcast(r, F32)
            isnan = b.fcmp_unordered("uno", v, v)
            return b.select(isnan, v, rounded)
        return v

    def convert(self, v, src: str, dst: str):
        b = self.b
        if src == dst:
            return v
        if dst == "bool":
            if is_float(src):
                return b.fcmp_unordered("une", v, ir.Constant(v.type, 0.0))
            return b.icmp_signed("!=", v, ir.Constant(v.type, 0))
        if is_float(dst):
            t = reg_type(dst)
            if src == "bool" or is_unsigned(src):
                out = b.uitofp(v, F16) if dst == "f16" and src != "bool" else b.uitofp(v, t)
                if dst == "f16" and src != "bool":
                    return b.fpext(out, F32)
            elif is_int(src):
                out = b.sitofp(v, F16) if dst == "f16" else b.sitofp(v, t)
                if dst == "f16":
                    return b.fpext(out, F32)
            elif src == "f64" and dst == "f16":
                return b.fpext(b.fptrunc(v, F16), F32)
            elif v.type == t:
                out = v
            elif isinstance(t, ir.DoubleType):
                out = b.fpext(v, t)
            else:
                out = b.fptrunc(v, t)
            return self.round_to(out, dst)
        # integer destination
        t = reg_type(dst)
        if src == "bool":
            return b.zext(v, t)
        if is_float(src):
            sat = "llvm.fptoui.sat" if is_unsigned(dst) else "llvm.fptosi.sat"
            return self.intrinsic(sat, [t, v.type], [v])
        if v.type.width < t.width:
            return b.zext(v, t) if is_unsigned(src) else b.sext(v, t)
        if v.type.width > t.width:
            return b.trunc(v, t)
        return v

    def from_mem(self, v, dt):
        """A loaded tensor element -> register value."""
        b = self.b
        if dt == "f16":
            return b.fpext(v, F32)
        if dt == "bf16":
            return b.bitcast(b.shl(b.zext(v, I32), ir.Constant(I32, 16)), F32)
        if dt == "bool":
            return b.icmp_signed("!=", v, ir.Constant(I8, 0))
        return v

    def to_mem(self, v, dt):
        b = self.b
        if dt == "f16":
            return b.fptrunc(v, F16)
        if dt == "bf16":
            r = self.round_to(v, "bf16")
            return b.trunc(b.lshr(b.bitcast(r, I32), ir.Constant(I32, 16)), I16)
        if dt == "bool":
            return b.zext(v, I8)
        return v

    def from_buf(self, v, dt):
        return self.b.icmp_signed("!=", v, ir.Constant(I8, 0)) if dt == "bool" else v

    def to_buf(self, v, dt):
        return self.b.zext(v, I8) if dt == "bool" else v

    # ---- elementwise ops ------------------------------------------------------------------------

    def apply(self, op: str, args: list, arg_dts: list[str], out: str, attrs: dict):
        """The op on register values; operands are first converted as the reference does."""
        b = self.b
        if op == "cast":
            return self.convert(args[0], arg_dts[0], out)
        if op == "where":
            x, y = (self.convert(a, d, out) for a, d in zip(args[1:], arg_dts[1:]))
            return b.select(args[0], x, y)
        if op in ("randint", "rand"):
            word = self.philox(args[0], arg_dts[0], args[1], arg_dts[1])
            if op == "randint":
                return word
            top = b.uitofp(b.lshr(word, ir.Constant(I32, 8)), F32)
            return b.fmul(top, ir.Constant(F32, 2.0 ** -24))
        if op in ("lt", "le", "gt", "ge", "eq", "ne"):
            from tilelang.ir.dtypes import promote
            common = promote(arg_dts[0], arg_dts[1])
            x, y = (self.convert(a, d, common) for a, d in zip(args, arg_dts))
            sym = {"lt": "<", "le": "<=", "gt": ">", "ge": ">=", "eq": "==", "ne": "!="}[op]
            if is_float(common):
                return b.fcmp_unordered(sym, x, y) if op == "ne" else b.fcmp_ordered(sym, x, y)
            if common == "bool" or is_unsigned(common):
                return b.icmp_unsigned(sym, x, y)
            return b.icmp_signed(sym, x, y)
        if op in ("neg", "not", "abs"):
            x = args[0]
            if op == "neg":
                r = b.fneg(x) if is_float(out) else b.sub(ir.Constant(x.type, 0), x)
            elif op == "not":
                r = b.xor(x, ir.Constant(x.type, -1 if out != "bool" else 1))
            elif is_float(out):
                r = self.intrinsic("llvm.fabs", [x.type], [x])
            elif out == "bool" or is_unsigned(out):
                r = x
            else:
                r = b.select(b.icmp_signed("<", x, ir.Constant(x.type, 0)), b.sub(ir.Constant(x.type, 0), x), x)
            return r
        if len(args) == 1:  # float unary
            x = self.convert(args[0], arg_dts[0], out)
            return self.round_to(self.unary(op, x, out), out)
        x, y = (self.convert(a, d, out) for a, d in zip(args, arg_dts))
        return self.round_to(self.binary(op, x, y, out), out)

    def binary(self, op, x, y, dt):
        b = self.b
        if is_float(dt):
            if op == "add":
                return b.fadd(x, y)
            if op == "sub":
                return b.fsub(x, y)
            if op == "mul":
                return b.fmul(x, y)
            if op == "truediv":
                return b.fdiv(x, y)
            if op == "maximum":
                return self.intrinsic("llvm.maximum", [x.type], [x, y])
            if op == "minimum":
                return self.intrinsic("llvm.minimum", [x.type], [x, y])
            raise BackendError(f"cpu backend: `{op}` is not defined on {dt}")
        if op == "add":
            return b.add(x, y)
        if op == "sub":
            return b.sub(x, y)
        if op == "mul":
            return b.mul(x, y)
        if op == "and":
            return b.and_(x, y)
        if op == "or":
            return b.or_(x, y)
        if op == "xor":
            return b.xor(x, y)
        if dt == "bool" and op in ("maximum", "minimum"):
            return b.or_(x, y) if op == "maximum" else b.and_(x, y)
        cmp = b.icmp_unsigned if is_unsigned(dt) else b.icmp_signed
        if op == "maximum":
            return b.select(cmp(">", x, y), x, y)
        if op == "minimum":
            return b.select(cmp("<", x, y), x, y)
        if op in ("floordiv", "mod"):
            if is_unsigned(dt):
                zero = ir.Constant(x.type, 0)
                isz = b.icmp_unsigned("==", y, zero)
                ys = b.select(isz, ir.Constant(x.type, 1), y)
                r = b.udiv(x, ys) if op == "floordiv" else b.urem(x, ys)
                return b.select(isz, zero, r)
            return self.int_divmod(op, x, y)
        if op in ("shl", "shr"):
            return self.shift(op, x, y, dt)
        raise BackendError(f"cpu backend: `{op}` is not defined on {dt}")

    def shift(self, op, x, y, dt):
        """`<<` / `>>` with counts outside [0, bits) defined: every bit shifted out (see ops_bits)."""
        b = self.b
        t = x.type
        n = ir.Constant(t, bits(dt))
        ok = b.icmp_unsigned("<", y, n)  # a negative signed count is a huge unsigned one
        count = b.select(ok, y, ir.Constant(t, 0))
        if op == "shl":
            return b.select(ok, b.shl(x, count), ir.Constant(t, 0))
        if is_unsigned(dt):
            return b.select(ok, b.lshr(x, count), ir.Constant(t, 0))
        return b.select(ok, b.ashr(x, count), b.ashr(x, ir.Constant(t, bits(dt) - 1)))

    def philox(self, seed, seed_dt, offs, offs_dt):
        """Philox4x32-10 word 0 (u32) for a seed and an offset; counter and key as in ops_random."""
        from tilelang.ir.ops_random import PHILOX_M0, PHILOX_M1, PHILOX_ROUNDS, PHILOX_W0, PHILOX_W1
        b = self.b
        c = lambda v: ir.Constant(I32, v - (1 << 32) if v >= 1 << 31 else v)  # noqa: E731

        def split(v, dt, sign_extend_high):
            v64 = self.convert(v, dt, "u64" if is_unsigned(dt) else "i64")
            lo = b.trunc(v64, I32)
            if bits(dt) == 64 or sign_extend_high:
                return lo, b.trunc(b.lshr(v64, ir.Constant(I64, 32)), I32)
            return lo, ir.Constant(I32, 0)

        k0, k1 = split(seed, seed_dt, True)
        c0, c1 = split(offs, offs_dt, False)
        c2 = c3 = ir.Constant(I32, 0)

        def mulhilo(m, x):
            p = b.mul(ir.Constant(I64, m), b.zext(x, I64))
            return b.trunc(b.lshr(p, ir.Constant(I64, 32)), I32), b.trunc(p, I32)

        for r in range(PHILOX_ROUNDS):
            if r:
                k0, k1 = b.add(k0, c(PHILOX_W0)), b.add(k1, c(PHILOX_W1))
            hi0, lo0 = mulhilo(PHILOX_M0, c0)
            hi1, lo1 = mulhilo(PHILOX_M1, c2)
            c0, c1, c2, c3 = b.xor(b.xor(hi1, c1), k0), lo1, b.xor(b.xor(hi0, c3), k1), lo0
        return c0

    def int_divmod(self, op, x, y):
        """Python (numpy) floor division / modulo; division by zero gives 0 instead of a trap."""
        b = self.b
        t = x.type
        zero, one, mone = ir.Constant(t, 0), ir.Constant(t, 1), ir.Constant(t, -1)
        bad = b.or_(b.icmp_signed("==", y, zero), b.icmp_signed("==", y, mone))
        ys = b.select(bad, one, y)
        q, r = b.sdiv(x, ys), b.srem(x, ys)
        # round toward -inf: when the remainder is nonzero and its sign differs from the divisor's
        fix = b.and_(b.icmp_signed("!=", r, zero), b.icmp_signed("!=", b.icmp_signed("<", r, zero),
                                                                   b.icmp_signed("<", ys, zero)))
        q = b.select(fix, b.sub(q, one), q)
        r = b.select(fix, b.add(r, ys), r)
        isz = b.icmp_signed("==", y, zero)
        ism1 = b.icmp_signed("==", y, mone)
        if op == "floordiv":
            return b.select(isz, zero, b.select(ism1, b.sub(zero, x), q))
        return b.select(b.or_(isz, ism1), zero, r)

    def unary(self, op, x, dt):
        b = self.b
        t = x.type
        if op == "sqrt":
            return self.intrinsic("llvm.sqrt", [t], [x])
        if op == "rsqrt":
            return b.fdiv(ir.Constant(t, 1.0), self.intrinsic("llvm.sqrt", [t], [x]))
        if op in ("floor", "ceil"):
            return self.intrinsic(f"llvm.{op}", [t], [x])
        if isinstance(t, ir.DoubleType):
            if op == "sigmoid":
                e = self.fn_call("exp", F64, [b.fneg(x)])
                return b.fdiv(ir.Constant(t, 1.0), b.fadd(ir.Constant(t, 1.0), e))
            return self.fn_call(op, F64, [x])
        if op == "exp":
            return self.exp_f32(x, base2=False)
        if op == "exp2":
            return self.exp_f32(x, base2=True)
        if op == "sigmoid":
            e = self.exp_f32(b.fneg(x), base2=False)
            return b.fdiv(ir.Constant(t, 1.0), b.fadd(ir.Constant(t, 1.0), e))
        if op in ("log", "log2"):
            return self.log_f32(x, op == "log2")
        if op in ("sin", "cos"):
            return self.fn_call(op + "f", F32, [x])
        raise BackendError(f"cpu backend: unknown unary op `{op}`")

    def exp_f32(self, x, base2: bool):
        """exp(x) or 2**x in f32: n = round(x / ln2), r = x - n*ln2 (two-part), 2**n * poly(r)."""
        b = self.b
        c = lambda v: ir.Constant(F32, v)  # noqa: E731
        if base2:
            hi, lo = 128.0, -150.0
            xc = self.intrinsic("llvm.minnum", [F32], [self.intrinsic("llvm.maxnum", [F32], [x, c(lo)]), c(hi)])
            n = self.intrinsic("llvm.rint", [F32], [xc])
            r = b.fmul(b.fsub(xc, n), c(math.log(2.0)))
        else:
            hi, lo = 88.8, -104.0
            xc = self.intrinsic("llvm.minnum", [F32], [self.intrinsic("llvm.maxnum", [F32], [x, c(lo)]), c(hi)])
            n = self.intrinsic("llvm.rint", [F32], [b.fmul(xc, c(1.4426950408889634))])
            r = b.fsub(xc, b.fmul(n, c(0.693145751953125)))
            r = b.fsub(r, b.fmul(n, c(1.428606765330187e-06)))
        # Taylor to degree 7 on |r| <= ln2/2: error below 1e-8 relative.
        p = c(1.0 / 5040)
        for k in (720, 120, 24, 6, 2, 1, 1):
            p = b.fadd(b.fmul(p, r), c(1.0 / k))
        # 2**n in two factors (n may be as low as -150 or as high as 128)
        ni = b.fptosi(n, I32)
        n1 = b.ashr(ni, ir.Constant(I32, 1))
        n2 = b.sub(ni, n1)
        s1 = b.bitcast(b.shl(b.add(n1, ir.Constant(I32, 127)), ir.Constant(I32, 23)), F32)
        s2 = b.bitcast(b.shl(b.add(n2, ir.Constant(I32, 127)), ir.Constant(I32, 23)), F32)
        out = b.fmul(b.fmul(p, s1), s2)
        out = b.select(b.fcmp_ordered(">", x, c(hi - 0.1 if base2 else 88.72284)), c(math.inf), out)
        return b.select(b.fcmp_unordered("uno", x, x), x, out)

    def log_f32(self, x, base2: bool):
        """log(x) in f32 via frexp-style split and an atanh series; special values as libm."""
        b = self.b
        c = lambda v: ir.Constant(F32, v)  # noqa: E731
        bits = b.bitcast(x, I32)
        # normalize subnormals by scaling by 2**23
        sub = b.fcmp_ordered("<", x, c(1.1754943508222875e-38))
        xs = b.select(sub, b.fmul(x, c(8388608.0)), x)
        bits = b.bitcast(xs, I32)
        e = b.sub(b.ashr(bits, ir.Constant(I32, 23)), ir.Constant(I32, 127))
        e = b.select(sub, b.sub(e, ir.Constant(I32, 23)), e)
        m = b.bitcast(b.or_(b.and_(bits, ir.Constant(I32, 0x007FFFFF)), ir.Constant(I32, 0x3F800000)), F32)
        # m in [1, 2): move to [sqrt(1/2), sqrt(2))
        big = b.fcmp_ordered(">", m, c(1.4142135623730951))
        m = b.select(big, b.fmul(m, c(0.5)), m)
        e = b.select(big, b.add(e, ir.Constant(I32, 1)), e)
        s = b.fdiv(b.fsub(m, c(1.0)), b.fadd(m, c(1.0)))
        s2 = b.fmul(s, s)
        p = c(2.0 / 11)
        for k in (9, 7, 5, 3, 1):
            p = b.fadd(b.fmul(p, s2), c(2.0 / k))
        lnm = b.fmul(p, s)
        ef = b.sitofp(e, F32)
        if base2:
            out = b.fadd(b.fmul(lnm, c(1.4426950408889634)), ef)
        else:
            out = b.fadd(b.fmul(ef, c(0.693145751953125)), b.fadd(lnm, b.fmul(ef, c(1.428606765330187e-06))))
        out = b.select(b.fcmp_ordered("==", x, c(0.0)), c(-math.inf), out)
        out = b.select(b.fcmp_ordered("<", x, c(0.0)), c(math.nan), out)
        out = b.select(b.fcmp_ordered("==", x, c(math.inf)), c(math.inf), out)
        return b.select(b.fcmp_unordered("uno", x, x), x, out)
