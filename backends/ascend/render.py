"""Ascend C from the Ascend program (passes/lower_ascend.py), on the C-family base.

One AI core runs `for (pid = GetBlockIdx(); pid < programs; pid += GetBlockNum())` over the
launch grid. Each `ub` buffer is a `TBuf<VECCALC>` tensor; each `local` buffer a scalar. What a
statement becomes:

- a load of a whole tile in bounds, unit inner stride, rows of whole 32-byte blocks:
  VECIN queue: `AllocTensor`, `DataCopyPad` GM -> UB (MTE2), `EnQue`, `DeQue`, a vector copy into
  the tile's buffer, `FreeTensor`. A store is the mirror image through a VECOUT queue (MTE3).
  Tiles at the tensor's edge, gathers, masked accesses and other layouts take the scalar path
  (`GlobalTensor::GetValue` / `SetValue` per element, zero or `other` past the edge).
- elementwise arithmetic on whole tiles of f32 / f16 (i32 for + - *): vector instructions (`Add`,
  `Sub`, `Mul`, `Div`, `Adds`, `Muls`, `Exp`, `Ln`, `Sqrt`, `Abs`, `Duplicate`, `Cast`),
  split so that no instruction exceeds 255 repeats of 256 bytes; f32 row sums along the last axis
  `ReduceSum` per row. Everything else (broadcasts, compares, reductions other than sum, integer
  division, bf16 arithmetic, `@` off the Cube route) runs on the scalar unit through
  `LocalTensor::GetValue` / `SetValue`, with the C-family base's expressions (the reference's
  rounding: f16 / bf16 rounded after every op).
- the Cube route (lower_ascend.cube_route): GM -> L1 in NZ fractals (`DataCopy` with
  `Nd2NzParams`, A1 / B1 queues), L1 -> L0A / L0B (`LoadData`, A2 / B2 queues), `Mmad` into an L0C
  accumulator (CO1 queue), `Fixpipe` L0C -> GM converting to the output dtype.

Synchronisation: queues order their producer and consumer pipes (EnQue/DeQue, FreeTensor/
AllocTensor). For `TBuf` memory the renderer tracks which pipes last wrote and read each buffer and
emits `SetFlag`/`WaitFlag<SRC_DST>` before an access from another pipe, `PipeBarrier<PIPE_V>`
between dependent vector instructions, and `PipeBarrier<PIPE_ALL>` at each loop iteration's start
and after each loop (where the straight-line tracking stops). Every line carries `#line` to the
user's source, so the emulator's errors name the kernel's line.
"""

from __future__ import annotations

import json
import math

from tilelang.backends.cfamily import ArgSlot, CFamilyRenderer, Rendered
from tilelang.errors import BackendError
from tilelang.ir import nodes as ir
from tilelang.ir.dtypes import is_float
from tilelang.ir.ops import OPS
from tilelang.memir import nodes as M

UB_BYTES = 192 * 1024
L1_BYTES = 512 * 1024
L0AB_BYTES = 64 * 1024
L0C_BYTES = 128 * 1024
AI_CORES = 40  # vector cores (AIV) of a 910B; 20 Cube cores (AIC)
AIC_CORES = 20
REPEAT_BYTES = 256
MAX_REPEATS = 255
QUEUE_DEPTH = 2  # Cube queues: double-buffered L1 / L0 operands
VEC_QUEUE_DEPTH = 1  # VECIN / VECOUT: each copy is moved into its tile buffer and freed at once

STORAGE = {"bool": "uint8_t", "i8": "int8_t", "i32": "int32_t", "i64": "int64_t", "f16": "half",
           "bf16": "bfloat16_t", "f32": "float"}
BYTES = {"bool": 1, "i8": 1, "i32": 4, "i64": 8, "f16": 2, "bf16": 2, "f32": 4}
VECTOR_BINARY = {"add": "Add", "sub": "Sub", "mul": "Mul", "truediv": "Div"}
VECTOR_UNARY = {"exp": "Exp", "log": "Ln", "sqrt": "Sqrt", "abs": "Abs"}
VECTOR_DTYPES = ("f32", "f16")
ROW_REDUCE = {"sum": "ReduceSum", "max": "ReduceMax", "min": "ReduceMin"}


def _align(n: int, a: int = 32) -> int:
    return -(-n // a) * a


class AscendRenderer(CFamilyRenderer):
    kernel_prefix = 'extern "C" __global__ __aicore__ void'
    launch_bounds = ""
    device_fn = "__aicore__ inline"
    pragma_unroll = ""

    def __init__(self, mk: M.MemKernel, check_capacity: bool = True, split_repeats: bool = True):
        if mk.threads != 1:
            raise BackendError("the Ascend renderer takes a one-thread program (passes/lower_ascend.py)", mk.loc)
        super().__init__(mk)
        self.check_capacity = check_capacity
        self.split_repeats = split_repeats
        self.loc = None
        self.state: dict[str, tuple[set, set]] = {}  # buffer -> (pipes that may have last written, read since)
        self.in_queues: dict[str, int] = {}  # tensor -> VECIN slot bytes
        self.out_queues: dict[str, int] = {}
        self.cube = any(b.space in ("l1", "l0a", "l0b", "l0c") for b in mk.buffers)
        self.counter = 0
        self.need_red = 0  # floats of the row-sum work area
        self.unit_stride: set[str] = set()  # tensors the Cube route reads or writes with DMA rows

    # ---- emission with line tags ------------------------------------------------------------------------

    def emit(self, line: str):
        if self.loc is not None and self.loc.file:
            self.lines.append(f"#line {self.loc.line} {json.dumps(self.loc.file)}")
        self.lines.append("  " * self.indent + line)

    def line_directive(self, loc):
        self.loc = loc

    def fresh(self, stem: str) -> str:
        self.counter += 1
        return f"{stem}{self.counter}"

    # ---- pipe synchronisation of TBuf memory --------------------------------------------------------------

    def sync(self, accesses):
        """Emit what orders `accesses` [(buffer, pipe, write)] after every earlier access, then record them."""
        done, vbar = set(), False
        for name, pipe, write in accesses:
            writers, readers = self.state.get(name, (set(), set()))
            for w in sorted(writers):
                if w != pipe:
                    done.add((w, pipe))
                elif pipe == "V":
                    vbar = True
            if write:
                for r in sorted(readers):
                    if r != pipe:
                        done.add((r, pipe))
        for src, dst in sorted(done):
            self.emit(f"SetFlag<HardEvent::{src}_{dst}>(0); WaitFlag<HardEvent::{src}_{dst}>(0);")
        if vbar:
            self.emit("PipeBarrier<PIPE_V>();")
        for name in {n for n, _, _ in accesses}:
            writes = {p for n, p, w in accesses if n == name and w}
            reads = {p for n, p, w in accesses if n == name and not w}
            old_w, old_r = self.state.get(name, (set(), set()))
            # a write replaces the history (the statement's own reads came before it)
            self.state[name] = (writes, set()) if writes else (set(old_w), set(old_r) | reads)

    def fence(self):
        self.emit("PipeBarrier<PIPE_ALL>();")
        self.state = {}

    # ---- operands --------------------------------------------------------------------------------------------

    def storage_type(self, dt: str) -> str:
        if dt not in STORAGE:
            raise BackendError(f"Ascend: no storage for {dt}", self.mk.loc)
        return STORAGE[dt]

    def literal(self, value, dt):
        return super().literal(value, dt).replace("__int_as_float", "tl_int_as_float")

    def from_storage(self, expr: str, dt: str) -> str:
        if dt in ("f16", "bf16"):
            return f"tl_to_f32({expr})"
        if dt == "bool":
            return f"((bool){expr})"
        return expr

    def to_storage(self, expr: str, dt: str) -> str:
        if dt == "f16":
            return f"((half)({expr}))"
        if dt == "bf16":
            return f"tl_to_bf16({expr})"
        return f"(({STORAGE[dt]})({expr}))"

    def read(self, v, idx):
        if isinstance(v, ir.Const):
            return self.literal(v.value, v.dtype)
        if v.name in self.params:
            return f"p_{v.name}"
        b = self.bufs[v.name]
        if b.space == "local":
            return f"u_{b.name}"
        return self.from_storage(f"t_{b.name}.GetValue({self.shared_word(b, idx or [])})", b.dtype)

    def scalar_reads(self, names) -> list:
        return [(n, "S", False) for n in names if n in self.bufs and self.bufs[n].space == "ub"]

    # ---- global memory, scalar path ----------------------------------------------------------------------------

    def load_expr(self, ld: ir.Load, out: M.Buffer, I):
        off, ok = self.access(ld.tensor, ld.index, ld.bounds, ld.mask, I)
        dt = self.params[ld.tensor].type.dtype
        val = self.from_storage(f"g_{ld.tensor}.GetValue({off})", dt)
        other = (self.convert(self.read_broadcast(ld.other, I), self.dtype_of(ld.other), dt)
                 if ld.other is not None else self.literal(0, dt))
        return f"(({ok}) ? ({self.CTYPE[dt]}){val} : {other})"

    def put_lines(self, st: ir.Store, I):
        off, ok = self.access(st.tensor, st.index, st.bounds, st.mask, I)
        dt = self.params[st.tensor].type.dtype
        val = self.convert(self.read_broadcast(st.value, I), self.dtype_of(st.value), dt)
        self.emit(f"if ({ok}) g_{st.tensor}.SetValue({off}, {self.to_storage(val, dt)});")

    def distributed(self, shape, body):
        n = math.prod(shape)
        self.emit(f"for (int e = 0; e < {n}; ++e) {{")
        self.indent += 1
        body(self.index_vars(shape))
        self.indent -= 1
        self.emit("}")

    def scalar_compute(self, s: M.Compute):
        out = self.bufs[s.out]
        reads = M.operand_names(s.value)
        self.sync(self.scalar_reads(reads) + [(s.out, "S", True)])
        self.scalar_body(s, out)

    def scalar_body(self, s: M.Compute, out: M.Buffer):
        def body(I):
            v = self.value_expr(s.value, out, I)
            self.emit(f"t_{out.name}.SetValue(e, {self.to_storage(v, out.dtype)});")
        self.distributed(out.shape, body)

    # ---- vector path -----------------------------------------------------------------------------------------

    def chunks(self, n: int, dt: str, multiple: int = 1) -> list[tuple[int, int]]:
        """(offset, count) pieces of at most 255 repeats each, offsets a multiple of `multiple`."""
        per = MAX_REPEATS * REPEAT_BYTES // BYTES[dt] // multiple * multiple if self.split_repeats else n
        return [(o, min(per, n - o)) for o in range(0, n, per)] or [(0, 0)]

    def vec(self, fmt: str, n: int, dt: str):
        """One vector instruction per chunk; fmt has {o} (element offset) and {n} (count)."""
        for o, c in self.chunks(n, dt):
            self.emit(fmt.format(o=f"[{o}]" if o else "", n=c) + ";")

    def scalar_value(self, v, dt: str) -> str | None:
        """A C scalar of dtype dt for a constant, scalar parameter or uniform register; else None."""
        if isinstance(v, ir.Const) or v.name in self.params or self.bufs[v.name].space == "local":
            src = self.dtype_of(v)
            val = self.convert(self.read(v, []), src, dt)
            return f"({STORAGE[dt]})({val})"
        return None

    def whole(self, v, out: M.Buffer) -> bool:
        return (isinstance(v, ir.Var) and v.name in self.bufs and self.bufs[v.name].space == "ub"
                and self.bufs[v.name].shape == out.shape and self.bufs[v.name].dtype == out.dtype)

    def vector_compute(self, s: M.Compute) -> bool:
        """Render s with vector instructions if it fits them; return whether it did."""
        out = self.bufs[s.out]
        v, dt, n = s.value, out.dtype, out.size
        if not isinstance(v, ir.Op) or out.space != "ub" or n * BYTES.get(dt, 8) % 32 != 0:
            return False
        ct, t = STORAGE.get(dt), f"t_{out.name}"
        name = v.name
        if self.compare_select(s, out):
            return True
        if name == "full" and dt in VECTOR_DTYPES + ("i32",):
            self.sync([(s.out, "V", True)])
            self.vec(f"Duplicate({t}{{o}}, ({ct})({self.literal(v.attr('value'), dt)}), {{n}})", n, dt)
            return True
        if dt not in VECTOR_DTYPES and not (dt == "i32" and name in ("add", "sub", "mul", "copy")):
            if not (name == "cast" and dt in VECTOR_DTYPES):
                return False
        a0 = v.args[0] if v.args else None
        same_memory = (isinstance(a0, ir.Var) and a0.name in self.bufs and self.bufs[a0.name].space == "ub"
                       and self.bufs[a0.name].dtype == dt and self.bufs[a0.name].size == n)
        if same_memory and (name == "copy" or (name == "cast" and self.whole(a0, out)) or name == "expand_dims"):
            src = a0.name  # the same row-major elements: a vector copy
            self.sync([(src, "V", False), (s.out, "V", True)])
            one = "(float)1" if dt == "f32" else "(half)1" if dt == "f16" else "(int32_t)0"
            op = "Adds" if dt == "i32" else "Muls"
            self.vec(f"{op}({t}{{o}}, t_{src}{{o}}, {one}, {{n}})", n, dt)
            return True
        if name == "cast":
            a = v.args[0]
            src_dt = self.dtype_of(a)
            if not (isinstance(a, ir.Var) and a.name in self.bufs and self.bufs[a.name].space == "ub"
                    and self.bufs[a.name].shape == out.shape and {src_dt, dt} == {"f32", "f16"}):
                return False
            self.sync([(a.name, "V", False), (s.out, "V", True)])
            mode = "RoundMode::CAST_RINT" if dt == "f16" else "RoundMode::CAST_NONE"
            self.vec(f"Cast({t}{{o}}, t_{a.name}{{o}}, {mode}, {{n}})", n, "f32")
            return True
        if name == "neg" and dt in VECTOR_DTYPES and self.whole(v.args[0], out):  # x * -1: exact, -0 and NaN kept
            src = v.args[0].name
            self.sync([(src, "V", False), (s.out, "V", True)])
            self.vec(f"Muls({t}{{o}}, t_{src}{{o}}, ({ct})(-1), {{n}})", n, dt)
            return True
        if name in VECTOR_UNARY and dt in VECTOR_DTYPES and self.whole(v.args[0], out):
            src = v.args[0].name
            self.sync([(src, "V", False), (s.out, "V", True)])
            self.vec(f"{VECTOR_UNARY[name]}({t}{{o}}, t_{src}{{o}}, {{n}})", n, dt)
            return True
        if name in VECTOR_BINARY and not (dt == "i32" and name == "truediv"):
            a, b = v.args
            if self.whole(a, out) and self.whole(b, out):
                self.sync([(a.name, "V", False), (b.name, "V", False), (s.out, "V", True)])
                self.vec(f"{VECTOR_BINARY[name]}({t}{{o}}, t_{a.name}{{o}}, t_{b.name}{{o}}, {{n}})", n, dt)
                return True
            # tile op scalar: x + s, s + x, x * s, s * x, x - s (as x + (-s), exact)
            for tile, other, ok_names in ((a, b, ("add", "mul", "sub")), (b, a, ("add", "mul"))):
                if name in ok_names and self.whole(tile, out):
                    sc = self.scalar_value(other, dt)
                    if sc is None:
                        continue
                    if name == "sub":
                        sc = f"({STORAGE[dt]})(-{sc})"
                    op = "Muls" if name == "mul" else "Adds"
                    self.sync([(tile.name, "V", False), (s.out, "V", True)])
                    self.vec(f"{op}({t}{{o}}, t_{tile.name}{{o}}, {sc}, {{n}})", n, dt)
                    return True
        if name in VECTOR_BINARY and self.broadcast_rows(s, out):
            return True
        if name in ROW_REDUCE and dt == "f32" and self.row_reduce(s, out):
            return True
        return False

    # ---- compares and selects: bool tiles kept as Compare's bitmask ---------------------------------

    def bitmask_conditions(self) -> set[str]:
        """Bool buffers every writer of which is a Compare-able compare and every reader a
        Select-able `where` condition: they live as bitmasks (bit i % 8 of byte i / 8)."""
        computes = [s for s in M.walk(self.mk.body) if isinstance(s, M.Compute)]
        puts = [s for s in M.walk(self.mk.body) if isinstance(s, M.Put)]
        out = set()
        for b in self.mk.buffers:
            if b.dtype != "bool" or b.space != "ub":
                continue
            writers = [s for s in computes if s.out == b.name]
            readers = [s for s in computes if b.name in M.operand_names(s.value)]
            if any(b.name in M.put_operand_names(p.store) for p in puts) or not writers or not readers:
                continue
            if all(self.compare_fits(w) for w in writers) and all(self.select_fits(r, b.name) for r in readers):
                out.add(b.name)
        return out

    def _tile_like(self, v, shape, dt) -> bool:
        return (isinstance(v, ir.Var) and v.name in self.bufs and self.bufs[v.name].space == "ub"
                and self.bufs[v.name].shape == shape and self.bufs[v.name].dtype == dt)

    def compare_fits(self, s: M.Compute) -> bool:
        v, out = s.value, self.bufs[s.out]
        if not isinstance(v, ir.Op) or OPS[v.name].kind != "compare":
            return False
        a, b = v.args
        dt = self.dtype_of(a)
        return (dt in VECTOR_DTYPES and self._tile_like(a, out.shape, dt) and self._tile_like(b, out.shape, dt)
                and out.size * BYTES[dt] % REPEAT_BYTES == 0)

    def select_fits(self, s: M.Compute, cond: str) -> bool:
        v, out = s.value, self.bufs[s.out]
        if not isinstance(v, ir.Op) or v.name != "where" or out.space != "ub" or out.dtype not in VECTOR_DTYPES:
            return False
        c, x, y = v.args
        if c != ir.Var(cond) or cond in (getattr(x, "name", None), getattr(y, "name", None)):
            return False
        if self.bufs[cond].shape != out.shape or not self._tile_like(x, out.shape, out.dtype):
            return False
        return self._tile_like(y, out.shape, out.dtype) or self.scalar_value(y, out.dtype) is not None

    def compare_select(self, s: M.Compute, out: M.Buffer) -> bool:
        v = s.value
        if out.name in self.bitmasks:
            a, b = v.args
            mode = {"lt": "LT", "le": "LE", "gt": "GT", "ge": "GE", "eq": "EQ", "ne": "NE"}[v.name]
            self.sync([(a.name, "V", False), (b.name, "V", False), (s.out, "V", True)])
            dt = self.dtype_of(a)
            for o, c in self.chunks(out.size, dt, 256):  # whole bytes of the mask, 32-byte aligned
                self.emit(f"Compare(t_{out.name}{f'[{o // 8}]' if o else ''}, t_{a.name}{f'[{o}]' if o else ''}, "
                          f"t_{b.name}{f'[{o}]' if o else ''}, CMPMODE::{mode}, {c});")
            return True
        if v.name == "where" and isinstance(v.args[0], ir.Var) and v.args[0].name in self.bitmasks:
            c, x, y = v.args
            sc = None if self._tile_like(y, out.shape, out.dtype) else self.scalar_value(y, out.dtype)
            reads = [(c.name, "V", False), (x.name, "V", False)] + ([] if sc else [(y.name, "V", False)])
            self.sync(reads + [(s.out, "V", True)])
            for o, n in self.chunks(out.size, out.dtype, 256):
                at = f"[{o}]" if o else ""
                mask = f"t_{c.name}[{o // 8}]" if o else f"t_{c.name}"
                other = sc if sc else f"t_{y.name}{at}"
                mode = "VSEL_TENSOR_SCALAR_MODE" if sc else "VSEL_TENSOR_TENSOR_MODE"
                self.emit(f"Select(t_{out.name}{at}, {mask}, t_{x.name}{at}, {other}, SELMODE::{mode}, {n});")
            return True
        return False

    def broadcast_rows(self, s: M.Compute, out: M.Buffer) -> bool:
        """[R, C] op [R, 1] (a per-row scalar: Adds / Muls per row, x - s as x + (-s)) or
        [R, C] op [1, C] (a row vector: Add / Sub / Mul / Div per row), rows of whole 32-byte blocks."""
        name, dt = s.value.name, out.dtype
        if len(out.shape) != 2 or dt not in VECTOR_DTYPES:
            return False
        R, C = out.shape
        if C * BYTES[dt] % 32 or C * BYTES[dt] > MAX_REPEATS * REPEAT_BYTES:
            return False
        a, b = s.value.args
        for tile, other, first in ((a, b, True), (b, a, False)):
            if not self.whole(tile, out) or not isinstance(other, ir.Var) or other.name not in self.bufs:
                continue
            ob = self.bufs[other.name]
            if ob.space != "ub" or ob.dtype != dt:
                continue
            t, x, o = f"t_{out.name}", f"t_{tile.name}", f"t_{other.name}"
            if ob.shape == (R, 1) and (name in ("add", "mul") or (name == "sub" and first)):
                op = "Muls" if name == "mul" else "Adds"
                neg = "-" if name == "sub" else ""
                self.sync([(other.name, "S", False), (tile.name, "V", False), (s.out, "V", True)])
                self.emit(f"for (int r = 0; r < {R}; ++r) {op}({t}[r * {C}], {x}[r * {C}], "
                          f"({STORAGE[dt]})({neg}{self.from_storage(f'{o}.GetValue(r)', dt)}), {C});")
                return True
            if ob.shape == (1, C):
                self.sync([(other.name, "V", False), (tile.name, "V", False), (s.out, "V", True)])
                args = f"{x}[r * {C}], {o}" if first else f"{o}, {x}[r * {C}]"
                self.emit(f"for (int r = 0; r < {R}; ++r) {VECTOR_BINARY[name]}({t}[r * {C}], {args}, {C});")
                return True
        return False

    def row_reduce(self, s: M.Compute, out: M.Buffer) -> bool:
        """sum / max / min over the last axis of an f32 [R, C] tile, C * 4 a multiple of 32:
        ReduceSum / ReduceMax / ReduceMin per row into a 32-byte slot of a work area, then the
        scalar unit moves each row's result into place."""
        src = s.value.args[0]
        if not (isinstance(src, ir.Var) and src.name in self.bufs and self.bufs[src.name].space == "ub"):
            return False
        b = self.bufs[src.name]
        if b.dtype != "f32" or len(b.shape) != 2 or s.value.attr("axis") % 2 != 1 or b.shape[1] * 4 % 32:
            return False
        if b.shape[1] * 4 > MAX_REPEATS * REPEAT_BYTES:
            return False
        R, C = b.shape
        self.sync([(src.name, "V", False), ("tl_red", "V", True)])
        self.emit(f"for (int r = 0; r < {R}; ++r) {{")
        self.indent += 1
        self.emit(f"{ROW_REDUCE[s.value.name]}(tl_red[r * 8], t_{src.name}[r * {C}], tl_red[{R * 8}], {C});")
        self.emit("PipeBarrier<PIPE_V>();")
        self.indent -= 1
        self.emit("}")
        self.need_red = max(self.need_red, R * 8 + 256)
        self.sync([("tl_red", "S", False), (s.out, "S", True)])
        self.emit(f"for (int r = 0; r < {R}; ++r) t_{out.name}.SetValue(r, tl_red.GetValue(r * 8));")
        return True

    # ---- global <-> UB through queues ----------------------------------------------------------------------------

    def tile_copy_shape(self, index, tensor: str, buf: M.Buffer):
        """(rows, cols) when a tile access is a dense block copy of `buf`'s shape, else None."""
        p = self.params[tensor]
        if len(index) != len(p.type.shape) or len(index) not in (1, 2):
            return None
        if any(not isinstance(it, ir.TileIndex) for it in index):
            return None
        blocks = [self.blocks[it.tile] for it in index]
        if tuple(blocks) != buf.shape or buf.dtype != p.type.dtype or buf.dtype not in ("f32", "f16", "i32"):
            return None
        rows, cols = (1, blocks[0]) if len(blocks) == 1 else blocks
        if cols * BYTES[buf.dtype] % 32:
            return None
        return rows, cols

    def fast_condition(self, index, tensor: str, rows: int, cols: int) -> tuple[str, str]:
        """(condition, GM element offset) of the in-bounds, unit-inner-stride fast path."""
        starts = [f"id_{it.tile} * {self.blocks[it.tile]}" for it in index]
        blocks = [self.blocks[it.tile] for it in index]
        conds = [f"{st} + {bk} <= {tensor}_n{d}" for d, (st, bk) in enumerate(zip(starts, blocks))]
        last = len(index) - 1
        conds.append(f"{tensor}_s{last} == 1")
        if len(index) == 2:
            conds.append(f"{tensor}_s0 >= {cols} && {tensor}_s0 < (1LL << 28)")
        off = " + ".join(f"({st}) * {tensor}_s{d}" for d, st in enumerate(starts))
        return " && ".join(conds), off

    def load(self, s: M.Compute):
        out = self.bufs[s.out]
        ld = s.value
        rc = None if ld.mask is not None else self.tile_copy_shape(ld.index, ld.tensor, out)
        if rc is None:
            return self.scalar_compute(s)
        rows, cols = rc
        cond, off = self.fast_condition(ld.index, ld.tensor, rows, cols)
        dt, ct = out.dtype, STORAGE[out.dtype]
        size = BYTES[dt]
        self.in_queues[ld.tensor] = max(self.in_queues.get(ld.tensor, 0), _align(out.size * size))
        self.sync([(s.out, "V", True), (s.out, "S", True)])
        q = f"qi_{ld.tensor}"
        self.emit(f"if ({cond}) {{")
        self.indent += 1
        self.emit(f"LocalTensor<{ct}> x = {q}.AllocTensor<{ct}>();")
        self.emit(f"DataCopyPad(x, g_{ld.tensor}[{off}], DataCopyExtParams{{{rows}, {cols * size}, "
                  f"(uint32_t)(({ld.tensor}_s0 - {cols}) * {size}), 0, 0}}, DataCopyPadExtParams<{ct}>{{false, 0, 0, ({ct})0}});"
                  if rows > 1 else
                  f"DataCopyPad(x, g_{ld.tensor}[{off}], DataCopyExtParams{{1, {cols * size}, 0, 0, 0}}, "
                  f"DataCopyPadExtParams<{ct}>{{false, 0, 0, ({ct})0}});")
        self.emit(f"{q}.EnQue(x);")
        self.emit(f"x = {q}.DeQue<{ct}>();")
        self.copy_into(f"t_{out.name}", "x", out.size, dt)
        self.emit(f"{q}.FreeTensor(x);")
        self.indent -= 1
        self.emit("} else {")
        self.indent += 1
        self.scalar_body(s, out)
        self.indent -= 1
        self.emit("}")

    def copy_into(self, dst: str, src: str, n: int, dt: str):
        one = {"f32": "(float)1", "f16": "(half)1", "i32": "(int32_t)0"}[dt]
        op = "Adds" if dt == "i32" else "Muls"
        self.vec(f"{op}({dst}{{o}}, {src}{{o}}, {one}, {{n}})", n, dt)

    def put(self, s: M.Put):
        st = s.store
        val = st.value
        buf = self.bufs.get(val.name) if isinstance(val, ir.Var) else None
        if buf is not None and buf.space == "l0c":
            return self.fixpipe(s)
        rc = None
        if buf is not None and buf.space == "ub" and st.mask is None:
            rc = self.tile_copy_shape(st.index, st.tensor, buf)
        shape = self._store_shape(st)
        reads = self.scalar_reads(M.put_operand_names(st))
        if rc is None:
            self.sync(reads)
            self.distributed(shape, lambda I: self.put_lines(st, I))
            return
        rows, cols = rc
        cond, off = self.fast_condition(st.index, st.tensor, rows, cols)
        dt, ct, size = buf.dtype, STORAGE[buf.dtype], BYTES[buf.dtype]
        self.out_queues[st.tensor] = max(self.out_queues.get(st.tensor, 0), _align(buf.size * size))
        self.sync(reads + [(buf.name, "V", False)])
        q = f"qo_{st.tensor}"
        self.emit(f"if ({cond}) {{")
        self.indent += 1
        self.emit(f"LocalTensor<{ct}> y = {q}.AllocTensor<{ct}>();")
        self.copy_into("y", f"t_{buf.name}", buf.size, dt)
        self.emit(f"{q}.EnQue(y);")
        self.emit(f"y = {q}.DeQue<{ct}>();")
        gap = f"(uint32_t)(({st.tensor}_s0 - {cols}) * {size})" if rows > 1 else "0"
        self.emit(f"DataCopyPad(g_{st.tensor}[{off}], y, DataCopyExtParams{{{rows}, {cols * size}, 0, {gap}, 0}});")
        self.emit(f"{q}.FreeTensor(y);")
        self.indent -= 1
        self.emit("} else {")
        self.indent += 1
        self.distributed(shape, lambda I: self.put_lines(st, I))
        self.indent -= 1
        self.emit("}")

    # ---- the Cube route --------------------------------------------------------------------------------------------

    def cube_load(self, s: M.Compute):
        """GM -> L1 (NZ fractals, zero-filled past the edge) -> L0A / L0B."""
        b = self.bufs[s.out]
        ld = s.value
        ct = STORAGE[b.dtype]
        rows, cols = b.shape
        side = "a" if self.cube_dot.value.args[0].name == s.out else "b"
        r_id, c_id = (it.tile for it in ld.index)
        r0, c0 = f"id_{r_id} * {rows}", f"id_{c_id} * {cols}"
        t = ld.tensor
        self.emit(f"{{")
        self.indent += 1
        self.emit(f"const int64_t vr = tl_min_i64({rows}, {t}_n0 - {r0}), vc = tl_min_i64({cols}, {t}_n1 - {c0});")
        self.emit(f"LocalTensor<{ct}> l1 = q1_{side}.AllocTensor<{ct}>();")
        self.emit(f"if (vr < {rows} || vc < {cols}) "
                  f"InitConstValue(l1, InitConstValueParams<{ct}>{{1, {rows * cols * 2 // 32}, 0, ({ct})0}});")
        self.emit(f'TL_REQUIRE({t}_s1 == 1 || {t}_n1 <= 1, "the Cube route reads `{t}` by rows: it needs unit '
                  f'stride along its last dimension");')
        self.emit(f"DataCopy(l1, g_{t}[({r0}) * {t}_s0 + ({c0})], Nd2NzParams{{1, (uint16_t)vr, (uint16_t)vc, 0, "
                  f"(uint16_t){t}_s0, {rows}, 1, 0}});")
        self.unit_stride.add(t)
        self.emit(f"q1_{side}.EnQue(l1);")
        self.emit(f"l1 = q1_{side}.DeQue<{ct}>();")
        self.emit(f"LocalTensor<{ct}> l0 = q0_{side}.AllocTensor<{ct}>();")
        if side == "a":
            # NZ [K1][M1] fractals -> Zz [M1][K1]: one call per 16-row strip, fractals M1 apart.
            m1, k1 = rows // 16, cols // 16
            self.emit(f"for (int i = 0; i < {m1}; ++i) LoadData(l0[i * {k1 * 256}], l1, "
                      f"LoadData2DParams{{(uint16_t)i, {k1}, {m1}, 0, 0, false, 0}});")
        else:
            # B [K, N] in NZ [N1][K1] -> Zn [K1][N1] (fractal column-major inside): transposed loads.
            k1, n1 = rows // 16, cols // 16
            self.emit(f"for (int i = 0; i < {k1}; ++i) LoadData(l0[i * {n1 * 256}], l1, "
                      f"LoadData2DParams{{(uint16_t)i, {n1}, {k1}, 0, 0, true, 0}});")
        self.emit(f"q1_{side}.FreeTensor(l1);")
        self.emit(f"q0_{side}.EnQue(l0);")
        self.indent -= 1
        self.emit("}")

    def mmad(self, dot: M.Compute):
        a, b = (self.bufs[x.name] for x in dot.value.args)
        m, k = a.shape
        n = b.shape[1]
        ct = STORAGE[a.dtype]
        self.emit(f"{{")
        self.indent += 1
        self.emit(f"LocalTensor<{ct}> a0 = q0_a.DeQue<{ct}>();")
        self.emit(f"LocalTensor<{ct}> b0 = q0_b.DeQue<{ct}>();")
        self.emit(f"Mmad(acc, a0, b0, MmadParams{{{m}, {n}, {k}, 0, false, false, acc_fresh}});")
        self.emit("acc_fresh = false;")
        self.emit("q0_a.FreeTensor(a0);")
        self.emit("q0_b.FreeTensor(b0);")
        self.indent -= 1
        self.emit("}")

    def fixpipe(self, s: M.Put):
        st = s.store
        m, n = self.cube_acc.shape
        dt = self.params[st.tensor].type.dtype
        quant = {"f32": "NoQuant", "f16": "F322F16", "bf16": "F322BF16"}[dt]
        r_id, c_id = (it.tile for it in st.index)
        r0, c0 = f"id_{r_id} * {m}", f"id_{c_id} * {n}"
        t = st.tensor
        self.emit(f"qc.EnQue(acc);")
        self.emit(f"acc = qc.DeQue<float>();")
        self.emit(f'TL_REQUIRE({t}_s1 == 1 || {t}_n1 <= 1, "the fixpipe writes `{t}` by rows: it needs unit '
                  f'stride along its last dimension");')
        self.emit(f"Fixpipe(g_{t}[({r0}) * {t}_s0 + ({c0})], acc, FixpipeParamsV220{{(uint16_t)tl_min_i64({n}, {t}_n1 - {c0}), "
                  f"(uint16_t)tl_min_i64({m}, {t}_n0 - {r0}), {m}, (uint32_t){t}_s0, false, QuantMode_t::{quant}}});")
        self.unit_stride.add(t)
        self.emit("qc.FreeTensor(acc);")

    # ---- statements ----------------------------------------------------------------------------------------------------

    def stmt(self, s):
        if isinstance(s, ir.TileLoop):
            for t in s.tiles:
                self.blocks[t.name] = int(t.block)
                self.loc = s.loc
                self.emit(f"for (int64_t id_{t.name} = 0; id_{t.name} < {self.size_slot(t.count)}; ++id_{t.name}) {{")
                self.indent += 1
            if not self.cube:
                self.fence()
            for x in s.body:
                self.stmt(x)
            for _ in s.tiles:
                self.indent -= 1
                self.emit("}")
            if not self.cube:
                self.fence()
            return
        self.loc = s.loc
        if isinstance(s, M.Barrier):
            return
        if isinstance(s, (M.AsyncCopy, M.Commit, M.Wait)):
            raise BackendError("the Ascend renderer takes no cp.async rings (run passes/lower_ascend.py)", s.loc)
        if isinstance(s, M.Put):
            return self.put(s)
        out = self.bufs[s.out]
        if out.space == "local":
            self.sync(self.scalar_reads(M.operand_names(s.value)))
            self.emit(f"u_{out.name} = {self.value_expr(s.value, out, [])};")
            return
        if out.space in ("l1", "l0a", "l0b", "l0c"):
            return self.cube_stmt(s, out)
        if isinstance(s.value, ir.Load):
            return self.load(s)
        if self.vector_compute(s):
            return
        self.scalar_compute(s)

    def cube_stmt(self, s: M.Compute, out: M.Buffer):
        if out.space == "l1":
            return self.cube_load(s)
        if isinstance(s.value, ir.Op) and s.value.name == "full":
            self.emit("acc = qc.AllocTensor<float>();")
            self.emit("acc_fresh = true;")
            return
        if isinstance(s.value, ir.Op) and s.value.name == "dot":
            return  # issued with the accumulation that consumes it
        if isinstance(s.value, ir.Op) and s.value.name == "add":
            return self.mmad(self.cube_dot)
        return  # the cast into the fixpipe's output dtype happens in Fixpipe

    # ---- the kernel ------------------------------------------------------------------------------------------------------

    def prelude(self) -> str:
        return PRELUDE

    def render(self) -> Rendered:
        mk = self.mk
        grid = mk.grid_loop
        for t in grid.tiles:
            self.blocks[t.name] = int(t.block)
        self.bitmasks = self.bitmask_conditions()
        if self.cube:
            self.cube_dot = next(s for s in M.walk(mk.body) if isinstance(s, M.Compute)
                                 and isinstance(s.value, ir.Op) and s.value.name == "dot")
            self.cube_acc = self.bufs[next(s for s in M.walk(mk.body) if isinstance(s, M.Compute)
                                            and isinstance(s.value, ir.Op) and s.value.name == "full").out]
        self.indent = 1
        body_start = len(self.lines)
        counts = [self.size_slot(t.count) for t in grid.tiles]
        total = " * ".join(counts)
        self.loc = grid.loc
        self.emit(f"for (int64_t pid = GetBlockIdx(); pid < {total}; pid += GetBlockNum()) {{")
        self.indent += 1
        self.emit("int64_t rest = pid;")
        for t, c in reversed(list(zip(grid.tiles, counts))):
            self.emit(f"const int64_t id_{t.name} = rest % {c}; rest /= {c};")
        for s in grid.body:
            self.stmt(s)
        if not self.cube:
            self.fence()
        self.indent -= 1
        self.emit("}")
        body = self.lines[body_start:]
        self.lines = []
        self.loc = mk.loc
        self.indent = 1
        params, gm = [], []
        for p in mk.params:
            if p.is_tensor:
                dt, rank = p.type.dtype, len(p.type.shape)
                params.append(f"GM_ADDR {p.name}")
                self.args.append(ArgSlot("ptr", p.name, dtype=dt))
                for d in range(rank):
                    params.append(f"int64_t {p.name}_n{d}")
                    self.args.append(ArgSlot("size", p.name, d))
                for d in range(rank):
                    params.append(f"int64_t {p.name}_s{d}")
                    self.args.append(ArgSlot("stride", p.name, d))
                extent = " + ".join(f"({p.name}_n{d} - 1) * {p.name}_s{d}" for d in range(rank)) or "0"
                empty = " || ".join(f"{p.name}_n{d} == 0" for d in range(rank)) or "false"
                gm.append(f"GlobalTensor<{STORAGE[dt]}> g_{p.name};")
                gm.append(f"g_{p.name}.SetGlobalBuffer((__gm__ {STORAGE[dt]}*){p.name}, "
                          f"({empty}) ? 0 : (uint64_t)({extent} + 1));")
            else:
                params.append(f"{self.CTYPE[p.type.dtype]} p_{p.name}")
                self.args.append(ArgSlot("scalar", p.name, dtype=p.type.dtype))
        for i, e in enumerate(self.size_slots):
            params.append(f"int64_t sz{i}")
            self.args.append(ArgSlot("size_expr", str(e), expr=e))
        decls, ub, l1 = [], 0, 0
        decls.append("TPipe pipe;")
        for b in mk.buffers:
            if b.space == "local":
                decls.append(f"{self.CTYPE[b.dtype]} u_{b.name} = 0;")
            elif b.name in self.bitmasks:
                nbytes = _align(-(-b.size // 8))
                ub += nbytes
                decls.append(f"TBuf<TPosition::VECCALC> tb_{b.name}; pipe.InitBuffer(tb_{b.name}, {nbytes});")
                decls.append(f"LocalTensor<uint8_t> t_{b.name} = tb_{b.name}.Get<uint8_t>();  // bitmask")
            elif b.space == "ub":
                nbytes = _align(b.size * BYTES[b.dtype])
                ub += nbytes
                decls.append(f"TBuf<TPosition::VECCALC> tb_{b.name}; pipe.InitBuffer(tb_{b.name}, {nbytes});")
                decls.append(f"LocalTensor<{STORAGE[b.dtype]}> t_{b.name} = tb_{b.name}.Get<{STORAGE[b.dtype]}>();")
        if self.need_red:
            ub += self.need_red * 4
            decls.append(f"TBuf<TPosition::VECCALC> tb_red; pipe.InitBuffer(tb_red, {self.need_red * 4});")
            decls.append("LocalTensor<float> tl_red = tb_red.Get<float>();")
        for kind, queues in (("VECIN", self.in_queues), ("VECOUT", self.out_queues)):
            for tensor, nbytes in queues.items():
                name = f"q{'i' if kind == 'VECIN' else 'o'}_{tensor}"
                ub += VEC_QUEUE_DEPTH * nbytes
                decls.append(f"TQue<TPosition::{kind}, {VEC_QUEUE_DEPTH}> {name}; "
                             f"pipe.InitBuffer({name}, {VEC_QUEUE_DEPTH}, {nbytes});")
        if self.cube:
            a = self.bufs[self.cube_dot.value.args[0].name]
            b = self.bufs[self.cube_dot.value.args[1].name]
            abytes, bbytes = a.size * 2, b.size * 2
            l1 = QUEUE_DEPTH * (abytes + bbytes)
            for side, pos1, pos0, n in (("a", "A1", "A2", abytes), ("b", "B1", "B2", bbytes)):
                decls.append(f"TQue<TPosition::{pos1}, {QUEUE_DEPTH}> q1_{side}; pipe.InitBuffer(q1_{side}, {QUEUE_DEPTH}, {n});")
                decls.append(f"TQue<TPosition::{pos0}, {QUEUE_DEPTH}> q0_{side}; pipe.InitBuffer(q0_{side}, {QUEUE_DEPTH}, {n});")
                if self.check_capacity and QUEUE_DEPTH * n > L0AB_BYTES:
                    raise BackendError(f"kernel `{mk.name}`: the Cube operand tiles need {QUEUE_DEPTH * n} bytes of "
                                       f"L0{side.upper()}, which holds {L0AB_BYTES}; use smaller tiles", mk.loc)
            cbytes = self.cube_acc.size * 4
            decls.append(f"TQue<TPosition::CO1, 1> qc; pipe.InitBuffer(qc, 1, {cbytes});")
            decls.append("LocalTensor<float> acc;")
            decls.append("bool acc_fresh = true;")
            if self.check_capacity and cbytes > L0C_BYTES:
                raise BackendError(f"kernel `{mk.name}`: the accumulator needs {cbytes} bytes of L0C, which holds "
                                   f"{L0C_BYTES}; use smaller tiles", mk.loc)
        if self.check_capacity and ub > UB_BYTES:
            raise BackendError(f"kernel `{mk.name}` needs {ub} bytes of Unified Buffer, more than the {UB_BYTES} "
                               "of a 910B AI core; use smaller tiles", mk.loc)
        head = f"{self.kernel_prefix} {mk.name}(\n    " + ",\n    ".join(params) + ") {"
        tag = f"#line {mk.loc.line} {json.dumps(mk.loc.file)}" if mk.loc is not None and mk.loc.file else ""
        lines = [PRELUDE, tag, head] + [x for d in gm + decls for x in ([tag] if tag else []) + ["  " + d]] + body + ["}", ""]
        source = "\n".join(lines)
        r = Rendered(source, mk.name, self.args, 1, ub, PRELUDE)
        r.ub_bytes, r.l1_bytes, r.kind = ub, l1, "aic" if self.cube else "aiv"
        r.unit_stride = sorted(self.unit_stride)
        return r


def render_ascend(mk: M.MemKernel, **options) -> Rendered:
    return AscendRenderer(mk, **options).render()


# Helpers the generated code uses, in plain C++ over the Ascend C types (compiled by bisheng on a
# device, by g++ against the emulator here). Integer // and % follow Python; f16 / bf16 values are
# computed in float and rounded after every op, as the reference does.
PRELUDE = r"""#include "kernel_operator.h"
using namespace AscendC;

#ifndef TL_REQUIRE  // a launch the kernel cannot compute (the emulator reports it with the line)
#define TL_REQUIRE(cond, msg) do { if (!(cond)) __builtin_trap(); } while (0)
#endif

template <typename T> __aicore__ inline T tl_floordiv(T a, T b) {
  if (b == 0) return 0;
  if (b == (T)-1) return (T)(0ULL - (unsigned long long)a);
  T q = a / b; return (q * b != a && ((a < 0) != (b < 0))) ? q - 1 : q;
}
template <typename T> __aicore__ inline T tl_mod(T a, T b) {
  if (b == 0 || b == (T)-1) return 0;
  T r = a % b; return (r != 0 && ((r < 0) != (b < 0))) ? r + b : r;
}
template <typename T> __aicore__ inline T tl_max(T a, T b) { return (a != a || a > b) ? a : b; }
template <typename T> __aicore__ inline T tl_min(T a, T b) { return (a != a || a < b) ? a : b; }
__aicore__ inline int64_t tl_min_i64(int64_t a, int64_t b) { return a < b ? a : b; }
template <typename T> __aicore__ inline T tl_abs(T a) { return a < 0 ? -a : a; }
__aicore__ inline float tl_abs(float a) { return fabsf(a); }
template <typename T> __aicore__ inline T tl_not(T a) { return ~a; }
__aicore__ inline bool tl_not(bool a) { return !a; }
__aicore__ inline float tl_sigmoid(float x) { return 1.0f / (1.0f + expf(-x)); }
__aicore__ inline float tl_rsqrt(float x) { return 1.0f / sqrtf(x); }
__aicore__ inline float tl_int_as_float(unsigned u) { float f; memcpy(&f, &u, 4); return f; }
__aicore__ inline float tl_to_f32(half h) { return (float)h; }
__aicore__ inline float tl_to_f32(bfloat16_t h) { uint16_t b; memcpy(&b, &h, 2); uint32_t u = (uint32_t)b << 16; float f; memcpy(&f, &u, 4); return f; }
__aicore__ inline bfloat16_t tl_to_bf16(float x) {
  uint32_t u; memcpy(&u, &x, 4); uint16_t b;
  if (x != x) b = (uint16_t)((u >> 16) | 0x40); else { u += 0x7FFF + ((u >> 16) & 1); b = (uint16_t)(u >> 16); }
  bfloat16_t h; memcpy(&h, &b, 2); return h;
}
__aicore__ inline float tl_rn_f16(float x) { return (float)(half)x; }
__aicore__ inline float tl_rn_bf16(float x) { return tl_to_f32(tl_to_bf16(x)); }
"""
