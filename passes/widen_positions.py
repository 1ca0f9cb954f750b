"""64-bit tile positions and sizes, for launches where a size reaches 2**31.

Positions (`m.index`, `m.start`, `m.id`) and sizes used as values are i32 in the IR: that is what
every call with tensors below 2**31 elements along a dimension runs. A launch with a larger size
compiles a second variant of the kernel through this pass (runtime/launch.py decides, per call;
docs/safety.md) instead of letting those values wrap:

- the four ops that produce positions and sizes (runtime/limits.py INT32_OPS) become i64;
- every statement computed from them is retyped by the op registry's own rules (i64 with i32
  promotes to i64, comparisons stay bool);
- where such a value meets a type the kernel fixed — a store into a tensor, a load's fill value,
  a variable whose type an earlier statement set (a loop-carried accumulator) — it is converted to
  that type, exactly where the i32 kernel would have had that type already.

The pass runs only when the PassContext asks for 64-bit positions; otherwise it returns the kernel
unchanged.
"""

from __future__ import annotations

from dataclasses import replace

from tilelang.errors import TileTypeError
from tilelang.ir import nodes as ir
from tilelang.ir.ops import result_type
from tilelang.ir.types import ValueType
from tilelang.runtime.limits import INT32_OPS

from .context import PassContext

WIDE_SUFFIX = "w64"


def widen_positions(kernel: ir.Kernel, ctx: PassContext) -> ir.Kernel:
    if ctx.index_bits != 64:
        return kernel
    params = {p.name: p.type for p in kernel.params}
    widener = _Widener({n: t for n, t in params.items() if isinstance(t, ValueType)},
                       {n: t.dtype for n, t in params.items() if not isinstance(t, ValueType)})
    return replace(kernel, body=widener.block(kernel.body, dict(widener.scalars)))


class _Widener:
    def __init__(self, scalars: dict, tensor_dtypes: dict):
        self.scalars = scalars
        self.tensor_dtypes = tensor_dtypes
        self.count = 0

    def fresh(self) -> str:
        # Starts with a digit (never a user's name) and is not all digits (never a frontend temporary).
        self.count += 1
        return f"{self.count}{WIDE_SUFFIX}"

    def converted(self, v: ir.Value, have: ValueType, want_dtype: str, out: list, loc) -> ir.Value:
        """`v` as `want_dtype` (a cast statement appended to `out` when its dtype differs)."""
        if have.dtype == want_dtype:
            return v
        if isinstance(v, ir.Const):
            return ir.Const(v.value, want_dtype)
        name = self.fresh()
        out.append(ir.Assign(name, ValueType(want_dtype, have.shape),
                             ir.Op("cast", (v,), (("dtype", want_dtype),)), loc))
        return ir.Var(name)

    def type_of(self, v: ir.Value, types: dict) -> ValueType:
        return ValueType(v.dtype) if isinstance(v, ir.Const) else types[v.name]

    def block(self, stmts, types: dict) -> tuple:
        out: list = []
        for s in stmts:
            if isinstance(s, ir.Assign):
                self.assign(s, types, out)
            elif isinstance(s, ir.Store):
                want = self.tensor_dtypes[s.tensor]
                value = self.converted(s.value, self.type_of(s.value, types), want, out, s.loc)
                out.append(replace(s, value=value))
            elif isinstance(s, ir.TileLoop):
                out.append(replace(s, body=self.block(s.body, dict(types))))
            elif isinstance(s, ir.If):
                then_types, else_types = dict(types), dict(types)
                then = self.block(s.then, then_types)
                orelse = self.block(s.orelse, else_types)
                for name in then_types.keys() & else_types.keys():
                    if name not in types and then_types[name] != else_types[name]:
                        raise TileTypeError(f"with sizes of 2**31 or more, `{name}` would be "
                                           f"{then_types[name]} in one branch of this `if` and "
                                           f"{else_types[name]} in the other; give it one type with "
                                           "`.to(...)` in both branches", s.loc)
                    types[name] = then_types[name]
                out.append(replace(s, then=then, orelse=orelse))
            else:
                out.append(s)
        return tuple(out)

    def assign(self, s: ir.Assign, types: dict, out: list):
        e = s.value
        if isinstance(e, ir.Load):
            if e.other is not None:
                other = self.converted(e.other, self.type_of(e.other, types), s.type.dtype, out, s.loc)
                e = replace(e, other=other)
            new_type = s.type
        elif e.name in INT32_OPS:
            e = ir.Op(e.name, e.args, tuple(sorted({**dict(e.attrs), "dtype": "i64"}.items())))
            new_type = ValueType("i64", s.type.shape)
        else:
            new_type = result_type(e.name, [self.type_of(a, types) for a in e.args], dict(e.attrs))
        fixed = types.get(s.name)  # an earlier definition set this variable's type: keep it
        if fixed is not None and fixed != new_type:
            tmp = self.fresh()
            out.append(ir.Assign(tmp, new_type, e, s.loc))
            e = ir.Op("cast", (ir.Var(tmp),), (("dtype", fixed.dtype),))
            new_type = fixed
        types[s.name] = new_type
        out.append(replace(s, type=new_type, value=e))
