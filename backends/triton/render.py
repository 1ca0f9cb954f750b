"""Render tile IR (after tiling and masking) as Triton Python source.

The kernel's parameters become, in order: for each tensor `x`, its pointer `x_ptr` and one stride
per dimension `x_stride0, ...` (in elements, so non-contiguous tensors work); each scalar by name;
then each size symbol (`M`, `N`, ...) as an int. The grid is one-dimensional: program ids are
split row-major over the grid loop's tiles. Every statement carries a `# file:line` comment
pointing back to the user's source.

Value indices (scalars, gathers, scatters) are masked against the size of the tensor actually
passed (a view's own size), so an out-of-range index loads the fill value and skips the store
instead of touching memory outside the tensor (docs/safety.md). `index64=True` renders offsets and
tile positions in 64-bit arithmetic; the launcher picks it when some tensor spans 2**31 elements or
more (Triton's own arithmetic on them is 32-bit).
"""

from __future__ import annotations

import keyword
import os
from dataclasses import dataclass

import sympy

from tilelang.errors import BackendError
from tilelang.ir import dtypes
from tilelang.ir import nodes as ir
from tilelang.ir.ops import OPS
from tilelang.ir.types import ValueType

from .render_ops import atomic_call, render_random, render_sort, used_helpers

TL_DTYPE = {"bool": "tl.int1", "i8": "tl.int8", "i32": "tl.int32", "i64": "tl.int64", "u8": "tl.uint8",
            "u16": "tl.uint16", "u32": "tl.uint32", "u64": "tl.uint64", "f16": "tl.float16",
            "bf16": "tl.bfloat16", "f32": "tl.float32", "f64": "tl.float64"}
# Triton signature strings, for ahead-of-time compilation.
SIG_DTYPE = {"bool": "i1", "i8": "i8", "i32": "i32", "i64": "i64", "u8": "u8", "u16": "u16", "u32": "u32",
             "u64": "u64", "f16": "fp16", "bf16": "bf16", "f32": "fp32", "f64": "fp64"}

PRELUDE = '''\
import triton
import triton.language as tl


@triton.jit
def _floordiv(a, b):
    # Python semantics (round toward -inf); Triton's // truncates toward zero.
    q = a // b
    return tl.where(((a % b) != 0) & ((a < 0) != (b < 0)), q - 1, q)


@triton.jit
def _mod(a, b):
    return a - _floordiv(a, b) * b
'''


@dataclass(frozen=True)
class KernelArg:
    name: str  # name in the generated source
    kind: str  # 'tensor' | 'stride' | 'scalar' | 'size'
    source: str  # the IR param or size symbol it comes from
    dim: int = 0  # for strides
    dtype: str = "i32"  # IR dtype (tensor element type, scalar type)


@dataclass(frozen=True)
class TritonKernel:
    source: str
    fn_name: str
    args: tuple[KernelArg, ...]
    grid: str  # Python expression over size names giving the number of programs

    def signature(self) -> dict[str, str]:
        out = {}
        for a in self.args:
            if a.kind == "tensor":
                out[a.name] = "*" + SIG_DTYPE[a.dtype]
            elif a.kind == "scalar":
                out[a.name] = SIG_DTYPE[a.dtype]
            else:
                out[a.name] = "i32"
        return out


def size_py(e) -> str:
    """A size expression as Python/Triton code over the size arguments."""
    e = sympy.sympify(e)
    if e.is_Integer:
        return str(int(e))
    if e.is_Symbol:
        return e.name
    if isinstance(e, sympy.ceiling):
        num, den = sympy.fraction(sympy.together(e.args[0]))
        return f"tl.cdiv({size_py(num)}, {size_py(den)})"
    if isinstance(e, sympy.floor):
        num, den = sympy.fraction(sympy.together(e.args[0]))
        return f"(({size_py(num)}) // ({size_py(den)}))"
    if e.is_Add:
        return "(" + " + ".join(size_py(a) for a in e.args) + ")"
    if e.is_Mul:
        return "(" + " * ".join(size_py(a) for a in e.args) + ")"
    if e.is_Pow and e.exp.is_Integer and e.exp > 0:
        return "(" + " * ".join([size_py(e.base)] * int(e.exp)) + ")"
    raise BackendError(f"cannot render size expression {e} for Triton")


def _grid_py(e) -> str:
    """Like size_py but in plain Python (for the launcher), with ceil division spelled out."""
    return size_py(e).replace("tl.cdiv", "_cdiv")


class Renderer:
    def __init__(self, kernel: ir.Kernel, interpreter: bool = False, index64: bool = False):
        self.k = kernel
        self.interpreter = interpreter
        self.index64 = index64
        self.lines: list[str] = []
        self.types: dict[str, ValueType] = {}
        self.tensors = {p.name: p.type for p in kernel.params if p.is_tensor}
        self.reserved = set(keyword.kwlist) | {"tl", "triton", "pid", "_floordiv", "_mod", "_cdiv", "_shl", "_shr",
                                               "_max_combine", "_min_combine", "_philox_randint", "_philox_rand",
                                               "tl_grp_width", "tl_grp_first", "tl_grp_rows", "tl_grp_rest"}
        self.helpers: list[str] = []  # generated @triton.jit helpers (sort / top-k), placed before the kernel
        self.args = self._args()
        self.reserved |= {a.name for a in self.args}
        self.names: dict[str, str] = {}
        self.tile_blocks: dict[str, str] = {}  # tiles in scope -> rendered block size
        self.scalar_params = {p.name for p in kernel.params if not p.is_tensor}
        self.tile_starts: dict[str, str] = {}  # tiles in scope -> rendered first index
        self.tile_limits: dict[str, str] = {}  # runtime tiles in scope -> their rendered `hi`
        for p in kernel.params:
            if not p.is_tensor:
                self.types[p.name] = p.type
                self.names[p.name] = p.name

    def _args(self) -> tuple[KernelArg, ...]:
        out, sizes = [], []
        for p in self.k.params:
            if p.is_tensor:
                out.append(KernelArg(f"{p.name}_ptr", "tensor", p.name, dtype=p.type.dtype))
                out += [KernelArg(f"{p.name}_stride{i}", "stride", p.name, i) for i in range(p.type.rank)]
            else:
                out.append(KernelArg(p.name, "scalar", p.name, dtype=p.type.dtype))
        for name in ir.size_symbols(self.k):
            if name not in sizes:
                sizes.append(name)
        out += [KernelArg(n, "size", n) for n in sizes]
        return tuple(out)

    # ---- names --------------------------------------------------------------------------------

    def var(self, name: str) -> str:
        if name not in self.names:
            py = (("t" + name) if name[0].isdigit() else name).replace(".", "_")
            while py in self.reserved or py in self.names.values():
                py = "v_" + py
            self.names[name] = py
        return self.names[name]

    def operand(self, v: ir.Value, want: str | None = None) -> str:
        """Render an operand, converted to dtype `want` when its own dtype differs."""
        if isinstance(v, ir.Const):
            if v.dtype == "bool":
                text = "True" if v.value else "False"
            elif dtypes.is_float(v.dtype):
                x = float(v.value)
                text = repr(x) if x == x and abs(x) != float("inf") else f"float('{x}')"
            else:
                text = str(int(v.value))
            dt = v.dtype
            if want and want != dt:
                return f"tl.full([], {text}, {TL_DTYPE[want]})"
            return text
        text = self.var(v.name)
        dt = self.types[v.name].dtype
        if v.name in self.scalar_params:
            # a scalar argument is a plain Python number under the interpreter: no `.to()` on it
            return f"tl.cast({text}, {TL_DTYPE[want or dt]})"
        if want and want != dt:
            return f"{text}.to({TL_DTYPE[want]})"
        return text

    def tensor_operand(self, v: ir.Value, want: str | None = None) -> str:
        """Like operand(), but a constant becomes a Triton scalar: tl.broadcast_to, tl.store, tl.trans
        and the like reject Python numbers."""
        text = self.operand(v, want)
        if isinstance(v, ir.Const) and not text.startswith("tl.full("):
            text = f"tl.full([], {text}, {TL_DTYPE[want or v.dtype]})"
        return text

    def dtype_of(self, v: ir.Value) -> str:
        return v.dtype if isinstance(v, ir.Const) else self.types[v.name].dtype

    # ---- emission -------------------------------------------------------------------------------

    def emit(self, depth: int, text: str, loc=None):
        comment = f"  # {os.path.basename(loc.file)}:{loc.line}" if loc is not None and loc.line > 0 else ""
        self.lines.append("    " * depth + text + comment)

    def render(self) -> TritonKernel:
        fn = f"{self.k.name}_kernel"
        header = ", ".join(a.name for a in self.args)
        self.lines.append("@triton.jit")
        self.lines.append(f"def {fn}({header}):")
        loc = self.k.loc
        if loc is not None:
            self.emit(1, f'"""tilelang kernel `{self.k.name}` from {os.path.basename(loc.file)}:{loc.line}."""')
        grid = self.k.grid_loop
        self.emit(1, "pid = tl.program_id(0)", grid.loc)
        rest = "pid"
        tiles = list(enumerate(grid.tiles))
        if grid.order == "grouped" and len(grid.tiles) >= 2:
            # Grouped order (tilelang/ir/program_order.py): bands of GROUP_M rows of the first tile,
            # down a column of the band before the next column.
            from tilelang.ir.program_order import DEFAULT_GROUP

            g = grid.group or DEFAULT_GROUP
            first = grid.tiles[0]
            cols = " * ".join(f"({size_py(t.count)})" for t in grid.tiles[1:])
            self.emit(1, f"tl_grp_width = {g} * {cols}", grid.loc)
            self.emit(1, f"tl_grp_first = (pid // tl_grp_width) * {g}", grid.loc)
            self.emit(1, f"tl_grp_rows = tl.minimum(({size_py(first.count)}) - tl_grp_first, {g})", grid.loc)
            self.emit(1, f"{first.name}_id = tl_grp_first + (pid % tl_grp_width) % tl_grp_rows", grid.loc)
            self.emit(1, "tl_grp_rest = (pid % tl_grp_width) // tl_grp_rows", grid.loc)
            rest, tiles = "tl_grp_rest", tiles[1:]
        # Row-major split of the program id over the grid tiles (last tile varies fastest).
        for i, t in reversed(tiles):
            count = size_py(t.count)
            if i == tiles[0][0]:
                self.emit(1, f"{t.name}_id = {rest}", grid.loc)
            else:
                self.emit(1, f"{t.name}_id = {rest} % {count}", grid.loc)
                self.emit(1, f"rest{i} = {rest} // {count}", grid.loc)
                rest = f"rest{i}"
        for t in grid.tiles:
            self._tile_offsets(1, t, grid.loc)
        self.block(grid.body, 1)
        grid_expr = " * ".join(_grid_py(t.count) for t in grid.tiles)
        helpers = "".join(h + "\n\n" for h in self.helpers)
        return TritonKernel(helpers + "\n".join(self.lines) + "\n", fn, self.args, grid_expr)

    def _tile_offsets(self, depth, t: ir.TileVar, loc):
        self.reserved |= {f"{t.name}_id", f"{t.name}_offs"}
        self.tile_blocks[t.name] = size_py(t.block)
        tid = f"tl.cast({t.name}_id, tl.int64)" if self.index64 else f"{t.name}_id"
        start = f"{tid} * {size_py(t.block)}"
        self.tile_limits.pop(t.name, None)
        if t.is_runtime:
            start = f"{t.name}_lo + {start}"
            self.tile_limits[t.name] = f"{t.name}_hi"
        self.tile_starts[t.name] = start
        self.emit(depth, f"{t.name}_offs = {start} + tl.arange(0, {size_py(t.block)})", loc)

    def _loop_header(self, depth, t: ir.TileVar, loc):
        if not t.is_runtime:
            self.emit(depth, f"for {t.name}_id in range(0, {size_py(t.count)}):", loc)
            return
        # A runtime-bounded tile: elements [max(lo, 0), hi), read once when the loop starts.
        self.reserved |= {f"{t.name}_lo", f"{t.name}_hi"}
        self.emit(depth, f"{t.name}_lo = tl.maximum({self.operand(t.lo, 'i32')}, 0)", loc)
        self.emit(depth, f"{t.name}_hi = {self.operand(t.hi, 'i32')} + 0", loc)
        self.emit(depth, f"for {t.name}_id in range(0, tl.cdiv({t.name}_hi - {t.name}_lo, {size_py(t.block)})):",
                  loc)

    def block(self, stmts, depth):
        for s in stmts:
            if isinstance(s, ir.TileLoop):
                d = depth
                for t in s.tiles:
                    self.reserved.add(f"{t.name}_id")
                    self._loop_header(d, t, s.loc)
                    d += 1
                for t in s.tiles:
                    self._tile_offsets(d, t, s.loc)
                self.block(s.body, d)
                if not s.body:
                    self.emit(d, "pass")
            elif isinstance(s, ir.If):
                self.emit(depth, f"if {self.operand(s.cond)}:", s.loc)
                self.block(s.then, depth + 1)
                if not s.then:
                    self.emit(depth + 1, "pass")
                if s.orelse:
                    self.emit(depth, "else:", s.loc)
                    self.block(s.orelse, depth + 1)
            elif isinstance(s, ir.Assign):
                for d in s.type.shape:
                    n = int(d) if sympy.sympify(d).is_Integer else 0
                    if n <= 0 or n & (n - 1):
                        raise BackendError(f"the Triton backend needs power-of-two tile shapes, but `%{s.name}` is "
                                           f"{s.type}", s.loc)
                self.types[s.name] = s.type
                self.emit(depth, f"{self.var(s.name)} = {self.expr(s)}", s.loc)
            elif isinstance(s, ir.Store):
                ptrs, mask = self.access(s.tensor, s.index, s.bounds, s.mask)
                value = self.tensor_operand(s.value)
                extra = f", mask={mask}" if mask else ""
                if s.atomic is not None:
                    self.emit(depth, atomic_call(s.atomic, ptrs, value, extra), s.loc)
                else:
                    self.emit(depth, f"tl.store({ptrs}, {value}{extra})", s.loc)

    # ---- memory access ----------------------------------------------------------------------------

    def access(self, tensor: str, index, bounds, user_mask):
        """(pointer expression, mask expression or '') for an indexed access."""
        if bounds is None:
            raise BackendError("the Triton backend needs the masking pass to have run")
        shape = self.tensors[tensor].shape
        out_rank = sum(self._axes(it) for it in index)
        axis = 0
        terms, masks, scalar_masks = [], [], []
        for i, it in enumerate(index):
            idx = f"{it.tile}_offs" if isinstance(it, ir.TileIndex) else self.operand(it.value)
            k = self._axes(it)
            if k and out_rank > k:
                # Place this item's axes at [axis, axis + k) of the access's shape.
                sel = ["None"] * axis + [":"] * k + ["None"] * (out_rank - axis - k)
                idx = f"{idx}[{', '.join(sel)}]"
            axis += k
            wide = f"{idx}.to(tl.int64)" if self.index64 and isinstance(it, ir.ValueIndex) and \
                isinstance(it.value, ir.Var) else idx
            terms.append(f"{wide} * {tensor}_stride{i}")
            if bounds[i]:
                masks.append(f"({idx} < {size_py(shape[i])})")
            elif isinstance(it, ir.ValueIndex):
                # The user's index, checked against the tensor passed (the masking pass rejected
                # constants known to be outside it at compile time).
                checked = self.tensor_operand(it.value) if isinstance(it.value, ir.Const) else idx
                into = masks if k else scalar_masks
                if not (isinstance(it.value, ir.Const) and int(it.value.value) >= 0):
                    into.append(f"({checked} >= 0)")
                into.append(f"({checked} < {size_py(shape[i])})")
            if isinstance(it, ir.TileIndex) and it.tile in self.tile_limits:
                masks.append(f"({idx} < {self.tile_limits[it.tile]})")  # a runtime tile stops at hi
        if user_mask is not None:
            masks.append(self.operand(user_mask))
        offsets = " + ".join(terms)
        mask = " & ".join(masks)
        if scalar_masks and out_rank:
            # Triton's interpreter rejects `tile_mask & scalar_condition`; select instead.
            cond = " & ".join(scalar_masks)
            mask = f"tl.where({cond}, {mask or f'({offsets}) == ({offsets})'}, False)"
        elif scalar_masks:
            mask = " & ".join(scalar_masks + masks)
        return f"{tensor}_ptr + " + offsets, mask

    def _axes(self, it) -> int:
        """How many axes an index item contributes to the accessed tile."""
        if isinstance(it, ir.TileIndex):
            return 1
        return self.types[it.value.name].rank if isinstance(it.value, ir.Var) else 0

    # ---- expressions ---------------------------------------------------------------------------------

    def expr(self, s: ir.Assign) -> str:
        e = s.value
        if isinstance(e, ir.Load):
            ptrs, mask = self.access(e.tensor, e.index, e.bounds, e.mask)
            if not mask:
                return f"tl.load({ptrs})"
            other = self.operand(e.other) if e.other is not None else "0"
            return f"tl.load({ptrs}, mask={mask}, other={other})"
        attrs = dict(e.attrs)
        out = s.type.dtype
        name = e.name
        # Positions are i32 unless passes/widen_positions.py made them i64 (sizes of 2**31 or more,
        # where the launcher also picks the index64 rendering, so starts are computed in i64).
        # (tl.cast, not .to(): a sequential loop's tile id is a Python int in the interpreter)
        def wide(x: str) -> str:
            return f"tl.cast({x}, tl.int64)" if out == "i64" else x

        if name == "tile_index":
            return wide(f"{attrs['tile']}_offs")
        if name == "tile_start":
            return wide(f"{self.tile_starts[attrs['tile']]} + 0")
        if name == "slice":
            return self._slice(e, s.type)
        if name == "tile_id":
            return wide(f"{attrs['tile']}_id + 0")
        if name == "size":
            return f"tl.full([], {size_py(attrs['expr'])}, {TL_DTYPE[out]})"
        if name == "copy":
            return self.operand(e.args[0], out) if isinstance(e.args[0], ir.Var) else \
                f"tl.full([], {self.operand(e.args[0])}, {TL_DTYPE[out]})"
        od = OPS[name]
        if name in ("floordiv", "mod"):
            a, b = (self.operand(x, out) for x in e.args)
            return f"_{name}({a}, {b})"
        if od.kind == "binary":
            args = [self.operand(x, out) for x in e.args]
        elif od.kind == "compare":
            common = dtypes.promote(*(self.dtype_of(x) for x in e.args))
            args = [self.operand(x, common) for x in e.args]
        elif name == "where":
            args = [self.operand(e.args[0])] + [self.operand(x, out) for x in e.args[1:]]
        elif od.kind == "unary" and name not in ("neg", "not", "abs"):
            args = [self.tensor_operand(e.args[0], out)]
        elif name in ("sum", "cumsum", "cumprod"):
            args = [self.tensor_operand(e.args[0], out)]
        elif od.kind == "sort":
            return render_sort(self, name, e.args[0], attrs, s.type)
        elif od.kind == "random":
            return render_random(self, name, e.args)
        elif name in ("shl", "shr"):
            # the helpers read the operand's dtype: constants become typed scalars
            args = [f"tl.full([], {self.operand(x)}, {TL_DTYPE[out]})" if isinstance(x, ir.Const)
                    else self.operand(x, out) for x in e.args]
        elif name == "dot" and self.interpreter and self.dtype_of(e.args[0]) == "bf16":
            # Triton 3.9's interpreter computes bf16 dots wrongly; bf16 products are exact in f32,
            # so an f32 dot gives the same result. GPU code keeps the bf16 tensor-core dot.
            args = [self.operand(x, "f32") for x in e.args]
        elif name == "dot":
            # tl.dot needs one operand dtype; the IR lets f16 @ f32 promote (as the reference does).
            common = dtypes.promote(*(self.dtype_of(x) for x in e.args))
            args = [self.operand(x, common) for x in e.args]
        else:
            args = [self.tensor_operand(x) for x in e.args]
        rendered = {k: self._attr(k, v) for k, v in attrs.items()}
        template = od.templates.get("triton")
        if template is None:
            raise BackendError(f"op `{name}` has no Triton rendering")
        # Note: dot keeps input_precision for f16/bf16 too: Triton's interpreter computes bf16 dots
        # wrongly without it, and GPU code generation is unaffected (checked: mma / mfma still used).
        text = template.format(*args, **rendered)
        if od.kind == "reduce" and name != "sum":
            text = f"{text}.to({TL_DTYPE[out]})"
        return text

    def _slice(self, e: ir.Op, out: ValueType) -> str:
        """x[..., a:b, ...] as a gather along the axis (Triton tensors cannot be sliced)."""
        attrs = dict(e.attrs)
        axis, start, end = attrs["axis"], attrs["start"], attrs["end"]
        rank = out.rank
        sel = ["None"] * rank
        sel[axis] = ":"
        idx = f"tl.arange(0, {end - start})[{', '.join(sel)}] + {start}" if rank > 1 else \
            f"(tl.arange(0, {end - start}) + {start})"
        shape = "[" + ", ".join(size_py(d) for d in out.shape) + "]"
        return f"tl.gather({self.operand(e.args[0])}, tl.broadcast_to({idx}, {shape}), {axis})"

    def _attr(self, key, v) -> str:
        if key == "dtype":
            return TL_DTYPE[v]
        if key == "shape":
            return "[" + ", ".join(size_py(d) for d in v) + "]"
        if key == "value":
            if isinstance(v, bool):
                return repr(v)
            if isinstance(v, float) and (v != v or abs(v) == float("inf")):
                return f"float('{v}')"
            return repr(v)
        if isinstance(v, str):
            return repr(v)
        return str(v)


def render(kernel: ir.Kernel, interpreter: bool = False, index64: bool = False) -> TritonKernel:
    """Triton source for `kernel`; `interpreter` selects workarounds for Triton's CPU interpreter,
    `index64` 64-bit offsets for tensors of 2**31 elements or more."""
    r = Renderer(kernel, interpreter, index64).render()
    return TritonKernel(PRELUDE + used_helpers(r.source) + "\n\n" + r.source, r.fn_name, r.args, r.grid)
