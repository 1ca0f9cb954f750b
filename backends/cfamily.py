"""The C-family renderer base: explicit-memory programs (tilelang/memir) as C-like source.

CUDA, HIP and Ascend C differ in spellings (qualifiers, thread and block ids, barriers, half-precision
types, shared memory) but not in structure: per thread, every statement is a loop over the
elements the thread owns under the statement's thread map; shared buffers are views into one
dynamic shared-memory block; distributed register buffers are per-thread arrays indexed by the
owned element's slot (element e = tid + j * threads lives in slot j); uniform values are scalars.
A subclass sets the spellings (the class attributes below) and may override any method.

Op spellings come from the op registry's "c" templates (tilelang/ir/ops.py); operands are first
converted to the dtype the op computes in, so one template serves every dtype. f16 and bf16 values
are kept in float, rounded after every op whose result type says so, and converted at the
global-memory boundary, exactly the reference's semantics.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

import numpy as np
import sympy

from tilelang.errors import BackendError
from tilelang.ir import nodes as ir
from tilelang.ir.dtypes import is_float, promote
from tilelang.ir.ops import OPS
from tilelang.memir import nodes as M
from tilelang.memir.fragments import LAYOUTS, FragmentMap, mma_of

STORAGE_BITS = {"bool": 8, "i8": 8, "i32": 32, "i64": 64, "f16": 16, "bf16": 16, "f32": 32, "f64": 64}


@dataclass
class ArgSlot:
    """One kernel parameter, for the launcher: kind is ptr | size | stride | scalar | size_expr."""

    kind: str
    of: str  # tensor or scalar name, or the size expression's text
    dim: int = 0
    dtype: str = "i64"
    expr: object = None


@dataclass
class Rendered:
    source: str
    entry: str
    args: list[ArgSlot]
    threads: int
    shared_bytes: int
    prelude: str = ""  # headers and helpers, shared by every kernel of a target


class CFamilyRenderer:
    # ---- spellings a target sets -----------------------------------------------------------------
    kernel_prefix = 'extern "C" __global__ void'
    launch_bounds = "__launch_bounds__({threads})"
    thread_id = "threadIdx.x"
    block_id = "blockIdx.x"
    barrier = "__syncthreads();"
    shared_decl = "extern __shared__ __align__(16) unsigned char tl_smem[];"
    device_fn = "__device__ __forceinline__"
    half_storage = {"f16": "__half", "bf16": "__nv_bfloat16"}
    half_load = {"f16": "__half2float({0})", "bf16": "__bfloat162float({0})"}
    half_store = {"f16": "__float2half_rn({0})", "bf16": "__float2bfloat16_rn({0})"}
    headers = ()
    pragma_unroll = "#pragma unroll"
    max_shared_bytes = 227 * 1024

    CTYPE = {"bool": "bool", "i8": "signed char", "i32": "int", "i64": "long long", "f16": "float",
             "bf16": "float", "f32": "float", "f64": "double"}

    def __init__(self, mk: M.MemKernel):
        self.mk = mk
        self.T = mk.threads
        self.bufs = {b.name: b for b in mk.buffers}
        self.params = {p.name: p for p in mk.params}
        self.replicated = self._replicated()
        self.args: list[ArgSlot] = []
        self.size_slots: list[sympy.Expr] = []
        self.lines: list[str] = []
        self.indent = 1
        self.blocks: dict[str, int] = {}
        self.fast_flags: dict[str, str] = {}  # chunk copies: tensor contiguous and 16-byte aligned
        self.runtime_tiles: set[str] = set()  # tile loops with runtime bounds (lo_T, hi_T in scope)

    # ---- helpers -------------------------------------------------------------------------------------

    def _replicated(self) -> set[str]:
        cs = [s for s in M.walk(self.mk.body) if isinstance(s, M.Compute)]
        return {c.out for c in cs if c.map == "uniform"} - {c.out for c in cs if c.map != "uniform"}

    def storage_type(self, dt: str) -> str:
        return self.half_storage.get(dt, self.CTYPE[dt])

    def emit(self, line: str):
        self.lines.append("  " * self.indent + line)

    def line_directive(self, loc):
        if loc is not None and loc.file:
            self.lines.append(f"#line {loc.line} {json.dumps(loc.file)}")

    def size_slot(self, e) -> str:
        e = sympy.sympify(e)
        if e.is_Integer:
            return f"{int(e)}LL"
        for i, s in enumerate(self.size_slots):
            if s == e:
                return f"sz{i}"
        self.size_slots.append(e)
        return f"sz{len(self.size_slots) - 1}"

    def dtype_of(self, v) -> str:
        if isinstance(v, ir.Const):
            return v.dtype
        if v.name in self.bufs:
            return self.bufs[v.name].dtype
        return self.params[v.name].type.dtype

    def literal(self, value, dt: str) -> str:
        if dt == "bool":
            return "true" if value else "false"
        if not is_float(dt):
            return f"{int(value)}" if dt in ("i8", "i32") else f"{int(value)}LL"
        v = float(value)
        if dt == "f16":
            v = float(np.float16(v))
        elif dt == "bf16":
            from tilelang.backends.reference.interp import round_bf16

            v = float(round_bf16(np.float32(v)))
        if math.isnan(v):
            return "__int_as_float(0x7fc00000)" if dt != "f64" else "__longlong_as_double(0x7ff8000000000000LL)"
        if math.isinf(v):
            if dt == "f64":
                return "__longlong_as_double(0x7ff0000000000000LL)" if v > 0 else "__longlong_as_double(0xfff0000000000000LL)"
            return "__int_as_float(0x7f800000)" if v > 0 else "__int_as_float(0xff800000)"
        return repr(v) if dt == "f64" else f"{float(np.float32(v))!r}f"

    def convert(self, expr: str, src: str, dst: str) -> str:
        """A value of dtype src as dtype dst, in the reference's rounding and truncation."""
        if src == dst:
            return expr
        if dst == "bool":
            return f"({expr} != 0)"
        out = f"(({self.CTYPE[dst]})({expr}))"
        return self.rounded(out, dst)

    @staticmethod
    def rounded(expr: str, dt: str) -> str:
        if dt == "f16":
            return f"tl_rn_f16({expr})"
        if dt == "bf16":
            return f"tl_rn_bf16({expr})"
        return expr

    # ---- operand reads ------------------------------------------------------------------------------

    def read(self, v, idx: list[str] | None) -> str:
        """The C expression of operand v at buffer index `idx` (its own dims), from the current thread."""
        if isinstance(v, ir.Const):
            return self.literal(v.value, v.dtype)
        if v.name in self.params:
            return f"p_{v.name}"
        b = self.bufs[v.name]
        if b.space == "local":
            if v.name in self.replicated:
                return f"u_{b.name}"
            return f"r_{b.name}[j]"  # natural read: the verifier guarantees the element is this thread's
        raw = f"s_{b.name}[{self.shared_index(b, idx or [])}]"
        return self.half_load[b.dtype].format(raw) if b.dtype in self.half_load else raw

    def shared_index(self, b: M.Buffer, idx: list[str]) -> str:
        """The element slot of shared buffer b holding element idx: layout, then ring stage."""
        word = self.shared_word(b, idx)
        if b.ring is not None:  # the stage of the current tile of the ring's loop
            word = f"(int)(id_{b.ring[0]} % {b.ring[1]}) * {b.size} + {word}"
        return word

    def shared_word(self, b: M.Buffer, idx: list[str]) -> str:
        """The word of shared buffer b holding element idx, through its layout (memir/layout.py)."""
        if b.swizzle is not None:
            (q, p, u), cols = (b.swizzle if len(b.swizzle) == 3 else (*b.swizzle, 1)), b.shape[1]
            row = idx[0] if q == 1 else f"({idx[0]}) / {q}"
            x = f"(({row}) % {p})" if u == 1 else f"({u} * (({row}) % {p}))"
            return f"({idx[0]}) * {cols} + (({idx[1]}) ^ {x})"
        strides = _strides(b.shape)
        return " + ".join(f"{i} * {s}" if s != 1 else f"{i}" for i, s in zip(idx, strides)) or "0"

    def read_broadcast(self, v, out_idx: list[str]) -> str:
        shape = () if isinstance(v, ir.Const) or v.name in self.params else self.bufs[v.name].shape
        r = len(out_idx)
        idx = ["0" if d == 1 else out_idx[r - len(shape) + k] for k, d in enumerate(shape)]
        return self.read(v, idx)

    # ---- element expressions ------------------------------------------------------------------------------

    def op_expr(self, op: ir.Op, out: M.Buffer, I: list[str]) -> str:
        name, od = op.name, OPS[op.name]
        attrs = dict(op.attrs)
        odt = out.dtype
        if name == "full":
            return self.literal(attrs["value"], odt)
        if name == "tile_index":
            return f"((int)({self.tile_first(attrs['tile'])} + {I[0]}))"
        if name == "tile_start":
            return f"((int)({self.tile_first(attrs['tile'])}))"
        if name == "tile_id":
            return f"((int)id_{attrs['tile']})"
        if name == "size":
            return f"((int){self.size_slot(attrs['expr'])})"
        if name == "arange":
            return f"((int)({attrs['start']} + {I[0]}))"
        a = op.args
        if name == "reshape":  # operand element with the same row-major index e
            shape = self.bufs[a[0].name].shape
            if self.bufs[a[0].name].space == "local":
                return self.read(a[0], None)  # a natural read (cyclic map, same e and slot)
            idx = [f"((e / {st}) % {d})" for d, st in zip(shape, _strides(shape))]
            return self.read(a[0], idx)
        if name == "slice":
            ax = attrs["axis"] % len(I)
            return self.read(a[0], I[:ax] + [f"({I[ax]} + {attrs['start']})"] + I[ax + 1:])
        if name == "cast":
            return self.convert(self.read_broadcast(a[0], I), self.dtype_of(a[0]), odt)
        if name in ("copy", "broadcast_to"):
            return self.convert(self.read_broadcast(a[0], I), self.dtype_of(a[0]), odt)
        if name == "expand_dims":
            ax = attrs["axis"]
            return self.read(a[0], I[:ax] + I[ax + 1:])
        if name == "trans":
            return self.read(a[0], [I[1], I[0]])
        if od.kind == "compare":
            common = promote(*(self.dtype_of(x) for x in a))
            ops = [self.convert(self.read_broadcast(x, I), self.dtype_of(x), common) for x in a]
            return od.templates["c"].format(*ops)
        if od.kind == "binary" or name == "where" or (od.kind == "unary" and name not in ("neg", "not", "abs")):
            start = 1 if name == "where" else 0
            ops = [self.read_broadcast(x, I) for x in a[:start]]
            ops += [self.convert(self.read_broadcast(x, I), self.dtype_of(x), odt) for x in a[start:]]
            return self.rounded(f"(({self.CTYPE[odt]}){od.templates['c'].format(*ops)})", odt)
        if od.kind == "unary":
            return self.rounded(f"(({self.CTYPE[odt]}){od.templates['c'].format(self.read_broadcast(a[0], I))})", odt)
        raise BackendError(f"{type(self).__name__}: no C spelling for op `{name}`")

    def reduce_lines(self, op: ir.Op, out: M.Buffer, I: list[str]) -> str:
        """Emit the loop of a reduction; return the result expression."""
        src = op.args[0]
        sdt = self.dtype_of(src)
        shape = self.bufs[src.name].shape if isinstance(src, ir.Var) and src.name in self.bufs else ()
        ax = op.attr("axis") % len(shape)
        L = shape[ax]
        at = lambda r: self.read(src, I[:ax] + [r] + I[ax:])  # noqa: E731
        name, odt = op.name, out.dtype
        if name == "sum":
            acc_t = "long long" if not is_float(odt) else self.CTYPE[odt]
            self.emit(f"{acc_t} acc = 0;")
            self.emit(f"for (int r = 0; r < {L}; ++r) acc += ({acc_t}){self.convert(at('r'), sdt, odt)};")
            return self.rounded(f"(({self.CTYPE[odt]})acc)", odt)
        vt = self.CTYPE[sdt]
        self.emit(f"{vt} best = {at('0')};")
        if name in ("max", "min"):
            fn = "tl_max" if name == "max" else "tl_min"
            self.emit(f"for (int r = 1; r < {L}; ++r) best = {fn}(best, ({vt}){at('r')});")
            return "best"
        cmp = ">" if name == "argmax" else "<"
        self.emit("int bi = 0;")
        self.emit(f"for (int r = 1; r < {L}; ++r) {{ {vt} v = {at('r')}; "
                  f"if (v {cmp} best || (v != v && best == best)) {{ best = v; bi = r; }} }}")
        return "bi"

    def dot_lines(self, op: ir.Op, out: M.Buffer, I: list[str]) -> str:
        a, b = op.args
        K = self.bufs[a.name].shape[-1]
        pre = list(I[:-2])  # the batch index of a batched (3-D) product
        dts = (self.dtype_of(a), self.dtype_of(b))
        acc_t = "double" if "f64" in dts else ("float" if is_float(out.dtype) else "long long")
        self.emit(f"{acc_t} acc = 0;")
        self.emit(f"for (int k = 0; k < {K}; ++k) acc += ({acc_t}){self.read(a, pre + [I[-2], 'k'])} * "
                  f"({acc_t}){self.read(b, pre + ['k', I[-1]])};")
        return f"(({self.CTYPE[out.dtype]})acc)"

    # ---- global memory --------------------------------------------------------------------------------

    def tile_first(self, tile: str, tid: str | None = None) -> str:
        """The first global index of the current tile of `tile` (tile id `tid`): past `lo_` for a
        tile loop with runtime bounds."""
        first = f"{tid or f'id_{tile}'} * {self.blocks[tile]}"
        return f"lo_{tile} + {first}" if tile in self.runtime_tiles else first

    def access(self, tensor: str, index, bounds, mask, I: list[str], tile_ids=None) -> tuple[str, str]:
        """(element offset, in-range-and-mask condition) of a tensor access at element I; `tile_ids`
        overrides the current id of some tiles (an async copy reads a later tile)."""
        offs, conds, axis = [], [], 0
        for d, it in enumerate(index):
            if isinstance(it, ir.TileIndex):
                tid = (tile_ids or {}).get(it.tile, f"id_{it.tile}")
                g = f"({self.tile_first(it.tile, tid)} + {I[axis]})"
                axis += 1
                if bounds is None or bounds[d]:
                    conds.append(f"{g} < {tensor}_n{d}")
                if it.tile in self.runtime_tiles:  # positions at or past hi are not real
                    conds.append(f"{g} < hi_{it.tile}")
            else:
                v = it.value
                shp = () if isinstance(v, ir.Const) or v.name in self.params else self.bufs[v.name].shape
                g = f"((long long){self.read(v, I[axis:axis + len(shp)])})"
                axis += len(shp)
                conds.append(f"{g} >= 0 && {g} < {tensor}_n{d}")
            offs.append(f"{g} * {tensor}_s{d}")
        if mask is not None:
            conds.append(self.read_broadcast(mask, I))
        return " + ".join(offs) or "0", " && ".join(conds) or "true"

    def load_expr(self, ld: ir.Load, out: M.Buffer, I: list[str]) -> str:
        off, ok = self.access(ld.tensor, ld.index, ld.bounds, ld.mask, I)
        dt = self.params[ld.tensor].type.dtype
        raw = f"{ld.tensor}[{off}]"
        val = self.half_load[dt].format(raw) if dt in self.half_load else raw
        other = (self.convert(self.read_broadcast(ld.other, I), self.dtype_of(ld.other), dt)
                 if ld.other is not None else self.literal(0, dt))
        return f"(({ok}) ? ({self.CTYPE[dt]}){val} : {other})"

    def put_lines(self, st: ir.Store, I: list[str]):
        off, ok = self.access(st.tensor, st.index, st.bounds, st.mask, I)
        dt = self.params[st.tensor].type.dtype
        val = self.convert(self.read_broadcast(st.value, I), self.dtype_of(st.value), dt)
        stored = self.half_store[dt].format(val) if dt in self.half_store else val
        if st.atomic is None:
            self.emit(f"if ({ok}) {st.tensor}[{off}] = {stored};")
        else:
            self.emit(f"if ({ok}) {self.atomic(st.atomic, dt, f'&{st.tensor}[{off}]', stored)};")

    def atomic(self, kind: str, dt: str, ptr: str, val: str) -> str:
        if kind == "add" and dt in ("f32", "f64", "i32", "f16", "bf16"):
            return f"atomicAdd({ptr}, {val})"
        if kind == "add" and dt == "i64":
            return f"atomicAdd((unsigned long long*){ptr}, (unsigned long long){val})"
        if kind in ("max", "min") and dt in ("i32", "i64", "f32", "f64"):
            return f"tl_atomic_{kind}({ptr}, {val})"
        raise BackendError(f"{type(self).__name__}: atomic {kind} on {dt} is not supported")

    # ---- statements --------------------------------------------------------------------------------------

    def index_vars(self, shape) -> list[str]:
        strides = _strides(shape)
        names = []
        for k, (d, s) in enumerate(zip(shape, strides)):
            expr = "e" if s == 1 else f"e / {s}"
            if k > 0:
                expr = f"({expr}) % {d}"
            self.emit(f"const int i{k} = {expr};")
            names.append(f"i{k}")
        return names

    def distributed(self, shape, body, tmap="cyclic"):
        """Emit `body(I)` for every element this thread owns under the thread map `tmap` of
        `shape` (cyclic, or a tensor-core fragment map); slot j of a register buffer is that
        element's register, `e` its row-major index."""
        if isinstance(tmap, FragmentMap):
            return self.fragment_elements(shape, body, tmap)
        n = math.prod(shape)
        per = -(-n // self.T)
        self.emit(self.pragma_unroll)
        self.emit(f"for (int j = 0; j < {per}; ++j) {{")
        self.indent += 1
        self.emit(f"const int e = tid + j * {self.T};")
        guarded = n % self.T != 0
        if guarded:
            self.emit(f"if (e < {n}) {{")
            self.indent += 1
        body(self.index_vars(shape))
        if guarded:
            self.indent -= 1
            self.emit("}")
        self.indent -= 1
        self.emit("}")

    def fragment_elements(self, shape, body, fmap: FragmentMap):
        """The elements of a fragment-mapped tile this thread holds, slot by slot: element (i0, i1)
        of slot j = fragment * regs + reg comes from the layout's row/col expressions of (lane,
        reg) (memir/fragments.py), offset by the warp's block and the fragment's place in it."""
        lay = LAYOUTS[fmap.layout]
        wm, wn = fmap.warps
        fm, fn = fmap.grid(shape)
        br, bc = shape[0] // wm, shape[1] // wn
        self.emit(self.pragma_unroll)
        self.emit(f"for (int j = 0; j < {fmap.per_thread(shape)}; ++j) {{")
        self.indent += 1
        self.emit(f"const int lane = tid % {lay.lanes}, warp = tid / {lay.lanes};")
        self.emit(f"const int reg = j % {lay.regs}, frag = j / {lay.regs};")
        self.emit(f"const int i0 = (warp / {wn}) * {br} + (frag / {fn}) * {lay.rows} + ({lay.row});")
        self.emit(f"const int i1 = (warp % {wn}) * {bc} + (frag % {fn}) * {lay.cols} + ({lay.col});")
        self.emit(f"const int e = i0 * {shape[1]} + i1;")
        body(["i0", "i1"])
        self.indent -= 1
        self.emit("}")

    def target(self, b: M.Buffer, I: list[str]) -> str:
        if b.space == "shared":
            return f"s_{b.name}[{'e' if b.swizzle is None else self.shared_word(b, I)}]"
        if b.name in self.replicated:
            return f"u_{b.name}"
        return f"r_{b.name}[j]"

    def value_expr(self, value, out: M.Buffer, I: list[str]) -> str:
        if isinstance(value, ir.Load):
            return self.load_expr(value, out, I)
        if value.name == "dot":
            return self.dot_lines(value, out, I)
        if OPS[value.name].kind == "reduce":
            return self.reduce_lines(value, out, I)
        return self.op_expr(value, out, I)

    def stmt(self, s):
        if isinstance(s, ir.If):  # uniform condition: barriers inside are reached by every thread or none
            self.line_directive(s.loc)
            self.emit(f"if ({self.read(s.cond, [])}) {{")
            self.indent += 1
            for x in s.then:
                self.stmt(x)
            self.indent -= 1
            self.emit("} else {")
            self.indent += 1
            for x in s.orelse:
                self.stmt(x)
            self.indent -= 1
            self.emit("}")
            return
        if isinstance(s, ir.TileLoop):
            for t in s.tiles:
                self.blocks[t.name] = int(t.block)
                self.line_directive(s.loc)
                if t.is_runtime:  # tiles of [max(lo, 0), hi); none when hi <= lo
                    self.runtime_tiles.add(t.name)
                    self.emit("{")
                    self.indent += 1
                    self.emit(f"const long long lo_{t.name} = tl_max((long long){self.read(t.lo, [])}, 0LL);")
                    self.emit(f"const long long hi_{t.name} = (long long){self.read(t.hi, [])};")
                    count = f"(hi_{t.name} > lo_{t.name} ? (hi_{t.name} - lo_{t.name} + {t.block - 1}) / {t.block} : 0)"
                else:
                    count = self.size_slot(t.count)
                self.emit(f"for (long long id_{t.name} = 0; id_{t.name} < {count}; ++id_{t.name}) {{")
                self.indent += 1
            for x in s.body:
                self.stmt(x)
            for t in s.tiles:
                for _ in range(2 if t.is_runtime else 1):
                    self.indent -= 1
                    self.emit("}")
            return
        self.line_directive(s.loc)
        if isinstance(s, M.Barrier):
            self.emit(self.barrier)
            return
        if isinstance(s, M.Commit):
            self.emit("tl_cp_commit();")
            return
        if isinstance(s, M.Wait):
            self.emit(f"tl_cp_wait<{s.pending}>();")
            return
        if isinstance(s, M.AsyncCopy):
            self.async_copy(s)
            return
        if isinstance(s, M.Put):
            shape = self._store_shape(s.store)
            self.distributed(shape, lambda I: self.put_lines(s.store, I), s.map)
            return
        out = self.bufs[s.out]
        instr = mma_of(s, self.bufs)
        if instr is not None and self.tensor_core_dot(s, instr):
            return
        if s.map == "uniform":
            self.emit("{")
            self.indent += 1
            self.emit(f"u_{out.name} = {self.value_expr(s.value, out, [])};")
            self.indent -= 1
            self.emit("}")
            return

        def body(I):
            v = self.value_expr(s.value, out, I)
            if out.space == "shared" and out.dtype in self.half_store:  # stored as 2-byte halves
                v = self.half_store[out.dtype].format(v)
            self.emit(f"{self.target(out, I)} = {v};")
        self.distributed(out.shape, body, s.map)

    def tensor_core_dot(self, s: M.Compute, instr) -> bool:
        """Emit a fragment-mapped `dot` with the target's matrix instruction `instr`; return False
        to have it rendered as a SIMT loop (the base renderer has no matrix instructions)."""
        return False

    def async_copy(self, s: M.AsyncCopy):
        """The copy of one tile into its ring stage, by the copy's thread map (nodes.AsyncCopy):
        16-byte cp.async chunks (vec > 1), 4-byte cp.async per element, or, for 2-byte elements
        that do not make chunks, plain element copies at issue."""
        b = self.bufs[s.out]
        tile, stages = b.ring
        src = f"(id_{tile} + {s.ahead})"
        cond = f"{src} < {self.size_slot(self._tile_var(tile).count)}"
        if s.first:
            cond = f"id_{tile} == 0 && {cond}"
        self.emit(f"if ({cond}) {{")
        self.indent += 1
        stage = f"(int)({src} % {stages}) * {b.size}"
        x, dt = s.load.tensor, self.params[s.load.tensor].type.dtype
        if s.vec > 1:
            self.chunk_copy(s, b, src, stage)
        else:
            def body(I):
                off, ok = self.access(x, s.load.index, s.load.bounds, None, I, {tile: src})
                dst = f"s_{b.name}[{stage} + {self.shared_word(b, I)}]"
                self.emit(f"const bool ok = {ok};")
                if STORAGE_BITS[dt] == 32:
                    self.emit(f"tl_cp_async4(&{dst}, ok ? (const void*)&{x}[{off}] : (const void*){x}, ok);")
                else:
                    self.emit(f"{dst} = ok ? {x}[{off}] : {self.zero_storage(dt)};")
            self.distributed(b.shape, body)
        self.indent -= 1
        self.emit("}")

    def zero_storage(self, dt: str) -> str:
        return self.half_store[dt].format("0.0f") if dt in self.half_store else self.literal(0, dt)

    def chunk_copy(self, s: M.AsyncCopy, b: M.Buffer, src: str, stage: str):
        """Chunk q of `vec` elements (row-major) by thread q % threads: one cp.async of 16 bytes,
        zero-filling past the row's end, when the tensor is contiguous in its last dimension with
        16-byte aligned rows (checked here, at run time); element by element otherwise."""
        x, index, vec = s.load.tensor, s.load.index, s.vec
        dt = self.params[x].type.dtype
        nbytes = STORAGE_BITS[dt] // 8
        rank = len(self.params[x].type.shape)
        tile = b.ring[0]
        nchunks = b.size // vec
        per = -(-nchunks // self.T)
        bounds = list(s.load.bounds) if s.load.bounds is not None else [True] * len(index)
        last_bounded, bounds[-1] = bounds[-1], False
        fast = f"tl_fast_{x}_{vec}"  # declared once at the top of the kernel (render)
        self.fast_flags[fast] = " && ".join([f"{x}_s{rank - 1} == 1"] + [f"{x}_s{d} % {vec} == 0" for d in range(rank - 1)]
                                            + [f"((unsigned long long){x}) % 16 == 0"])
        self.emit(self.pragma_unroll)
        self.emit(f"for (int j = 0; j < {per}; ++j) {{")
        self.indent += 1
        self.emit(f"const int e = (tid + j * {self.T}) * {vec};")
        if nchunks % self.T:
            self.emit(f"if (e < {b.size}) {{")
            self.indent += 1
        I = self.index_vars(b.shape)
        off, ok = self.access(x, index, tuple(bounds), None, I, {tile: src})
        last = index[-1]
        lid = src if last.tile == tile else f"id_{last.tile}"
        self.emit(f"const long long rem = {x}_n{rank - 1} - ({lid} * {self.blocks[last.tile]} + {I[-1]});"
                  if last_bounded else f"const long long rem = {vec};")
        self.emit(f"const int valid = !({ok}) ? 0 : (rem >= {vec} ? {vec} : (rem > 0 ? (int)rem : 0));")
        self.emit(f"{self.storage_type(b.dtype)}* const dst = &s_{b.name}[{stage} + {self.shared_word(b, I)}];")
        self.emit(f"const {self.storage_type(dt)}* const src = valid > 0 ? &{x}[{off}] : {x};")
        self.emit(f"if ({fast}) tl_cp_async16(dst, src, valid * {nbytes});")
        self.emit("else {")
        if self.pragma_unroll:  # the rare path: kept a loop, not unrolled into registers
            self.emit(f"{self.pragma_unroll} 1")
        self.emit(f"  for (int v = 0; v < {vec}; ++v) dst[v] = v < valid ? src[v * {x}_s{rank - 1}] : "
                  f"{self.zero_storage(dt)};")
        self.emit("}")
        if nchunks % self.T:
            self.indent -= 1
            self.emit("}")
        self.indent -= 1
        self.emit("}")

    def _tile_var(self, name: str) -> ir.TileVar:
        for s in M.walk(self.mk.body):
            if isinstance(s, ir.TileLoop):
                for t in s.tiles:
                    if t.name == name:
                        return t
        raise KeyError(name)

    def _store_shape(self, st: ir.Store):
        shape = []
        for it in st.index:
            if isinstance(it, ir.TileIndex):
                shape.append(self.blocks[it.tile])
            elif isinstance(it.value, ir.Var) and it.value.name in self.bufs:
                shape.extend(self.bufs[it.value.name].shape)
        return tuple(shape)

    # ---- the kernel -------------------------------------------------------------------------------------

    def prelude(self) -> str:
        return "\n".join(self.headers) + "\n" + PRELUDE.replace("DEVICE", self.device_fn)

    def render(self) -> Rendered:
        mk = self.mk
        grid = mk.grid_loop
        for t in grid.tiles:
            self.blocks[t.name] = int(t.block)
        # declarations
        decls, offset = [], 0
        for b in mk.buffers:
            ct = self.CTYPE[b.dtype]
            if b.space == "shared":  # f16 / bf16 in their 2-byte storage type, as tensor cores read them
                st = self.storage_type(b.dtype)
                offset = -(-offset // 16) * 16
                decls.append(f"{st}* const s_{b.name} = ({st}*)(tl_smem + {offset});")
                stages = b.ring[1] if b.ring else 1
                offset += stages * b.size * STORAGE_BITS[b.dtype] // 8
            elif b.name in self.replicated:
                decls.append(f"{ct} u_{b.name};")
            else:
                decls.append(f"{ct} r_{b.name}[{b.per_thread(self.T)}];")
        if offset > self.max_shared_bytes:
            raise BackendError(f"kernel `{mk.name}` needs {offset} bytes of shared memory, more than the "
                               f"{self.max_shared_bytes} a block may have; use smaller tiles", mk.loc)
        self.indent = 1
        body_start = len(self.lines)
        self.emit("const int tid = " + self.thread_id + ";")
        self.emit(f"long long pid = {self.block_id};")
        counts = [self.size_slot(t.count) for t in grid.tiles]
        for t, c in reversed(list(zip(grid.tiles, counts))):
            self.emit(f"const long long id_{t.name} = pid % {c}; pid /= {c};")
        for s in grid.body:
            self.stmt(s)
        body = self.lines[body_start:]
        body[1:1] = [f"  const bool {n} = {c};" for n, c in self.fast_flags.items()]
        # parameters (after the body, which discovered the size slots)
        params = []
        for p in mk.params:
            if p.is_tensor:
                dt, rank = p.type.dtype, len(p.type.shape)
                params.append(f"{self.storage_type(dt)}* __restrict__ {p.name}")
                self.args.append(ArgSlot("ptr", p.name, dtype=dt))
                for d in range(rank):
                    params.append(f"long long {p.name}_n{d}")
                    self.args.append(ArgSlot("size", p.name, d))
                for d in range(rank):
                    params.append(f"long long {p.name}_s{d}")
                    self.args.append(ArgSlot("stride", p.name, d))
            else:
                params.append(f"{self.CTYPE[p.type.dtype]} p_{p.name}")
                self.args.append(ArgSlot("scalar", p.name, dtype=p.type.dtype))
        for i, e in enumerate(self.size_slots):
            params.append(f"long long sz{i}")
            self.args.append(ArgSlot("size_expr", str(e), expr=e))
        head = f"{self.kernel_prefix} {self.launch_bounds.format(threads=self.T)} {mk.name}(\n    " + \
            ",\n    ".join(params) + ") {"
        lines = [self.prelude(), head]
        if any(b.space == "shared" for b in mk.buffers):
            lines.append("  " + self.shared_decl)
        lines += ["  " + d for d in decls] + body + ["}", ""]
        return Rendered("\n".join(lines), mk.name, self.args, self.T, offset, lines[0])


_AOT_CTYPES = {"bool": ("bool", 1), "i8": ("int8_t", 1), "i32": ("int32_t", 4), "i64": ("int64_t", 8),
               "f32": ("float", 4), "f64": ("double", 8)}


def aot_params(rendered: Rendered) -> list[dict]:
    """The kernel's parameters as the AOT manifest lists them (aot/manifest.py, aot/clib.py), in
    the renderer's order: the same for every C-family target."""
    params = []
    for a in rendered.args:
        if a.kind == "ptr":
            params.append({"name": a.of, "kind": "data_ptr", "of": a.of, "c_type": "uint64_t", "bytes": 8})
        elif a.kind in ("size", "stride"):
            params.append({"name": f"{a.of}_{a.kind}{a.dim}", "kind": a.kind, "of": a.of, "dim": a.dim,
                           "c_type": "int64_t", "bytes": 8})
        elif a.kind == "scalar":
            c, n = _AOT_CTYPES[a.dtype]
            params.append({"name": a.of, "kind": "scalar", "of": a.of, "c_type": c, "bytes": n})
        else:
            params.append({"name": a.of, "kind": "size_expr", "of": a.of, "expr": a.of, "c_type": "int64_t",
                           "bytes": 8})
    return params


def aot_launch_fields(rendered: Rendered) -> dict:
    """Manifest fields every C-family target's AOT output shares."""
    return {"entry": rendered.entry, "params": aot_params(rendered), "block": [rendered.threads, 1, 1],
            "shared_memory_bytes": rendered.shared_bytes, "threads_per_block": rendered.threads,
            "dynamic_shared_bytes": rendered.shared_bytes,
            "arguments": [{"kind": a.kind, "of": a.of, "dim": a.dim, "dtype": a.dtype} for a in rendered.args],
            "grid": {"dims": 1, "programs": "product of the grid tile counts"}}


def _strides(shape) -> list[int]:
    out, s = [], 1
    for d in reversed(shape):
        out.append(s)
        s *= d
    return list(reversed(out))


PRELUDE = r"""
// Integer // and % as Python (and numpy) define them, including numpy's 0 for a zero divisor and
// wrap-around for MIN // -1 (which would trap on a CPU and is undefined in C).
template <typename T> DEVICE T tl_floordiv(T a, T b) {
  if (b == 0) return 0;
  if (b == (T)-1) return (T)(0ULL - (unsigned long long)a);
  T q = a / b; return (q * b != a && ((a < 0) != (b < 0))) ? q - 1 : q;
}
template <typename T> DEVICE T tl_mod(T a, T b) {
  if (b == 0 || b == (T)-1) return 0;
  T r = a % b; return (r != 0 && ((r < 0) != (b < 0))) ? r + b : r;
}
template <typename T> DEVICE T tl_max(T a, T b) { return (a != a || a > b) ? a : b; }
template <typename T> DEVICE T tl_min(T a, T b) { return (a != a || a < b) ? a : b; }
template <typename T> DEVICE T tl_abs(T a) { return a < 0 ? -a : a; }
DEVICE float tl_abs(float a) { return fabsf(a); }
DEVICE double tl_abs(double a) { return fabs(a); }
template <typename T> DEVICE T tl_not(T a) { return ~a; }
DEVICE bool tl_not(bool a) { return !a; }
DEVICE float tl_sigmoid(float x) { return 1.0f / (1.0f + expf(-x)); }
DEVICE double tl_sigmoid(double x) { return 1.0 / (1.0 + exp(-x)); }
DEVICE float tl_rsqrt(float x) { return 1.0f / sqrtf(x); }
DEVICE double tl_rsqrt(double x) { return 1.0 / sqrt(x); }
DEVICE float tl_rn_f16(float x) { return __half2float(__float2half_rn(x)); }
DEVICE float tl_rn_bf16(float x) { return __bfloat162float(__float2bfloat16_rn(x)); }
DEVICE void tl_atomic_max(int* p, int v) { atomicMax(p, v); }
DEVICE void tl_atomic_min(int* p, int v) { atomicMin(p, v); }
DEVICE void tl_atomic_max(long long* p, long long v) { atomicMax(p, v); }
DEVICE void tl_atomic_min(long long* p, long long v) { atomicMin(p, v); }
DEVICE void tl_atomic_max(float* p, float v) {
  int* q = (int*)p; int old = *q;
  while (!(__int_as_float(old) >= v)) { int prev = atomicCAS(q, old, __float_as_int(v)); if (prev == old) break; old = prev; }
}
DEVICE void tl_atomic_min(float* p, float v) {
  int* q = (int*)p; int old = *q;
  while (!(__int_as_float(old) <= v)) { int prev = atomicCAS(q, old, __float_as_int(v)); if (prev == old) break; old = prev; }
}
DEVICE void tl_atomic_max(double* p, double v) {
  unsigned long long* q = (unsigned long long*)p; unsigned long long old = *q;
  while (!(__longlong_as_double(old) >= v)) { unsigned long long prev = atomicCAS(q, old, (unsigned long long)__double_as_longlong(v)); if (prev == old) break; old = prev; }
}
DEVICE void tl_atomic_min(double* p, double v) {
  unsigned long long* q = (unsigned long long*)p; unsigned long long old = *q;
  while (!(__longlong_as_double(old) <= v)) { unsigned long long prev = atomicCAS(q, old, (unsigned long long)__double_as_longlong(v)); if (prev == old) break; old = prev; }
}
"""
