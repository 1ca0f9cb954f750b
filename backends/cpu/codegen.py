"""Loop level (loopir.Program) -> an LLVM module (llvmlite.ir).

The entry point is `void NAME(int64_t *args, int64_t begin, int64_t end)`: it runs the programs
[begin, end) of the launch grid; `args` holds the slots of Program.arg_layout(). Local buffers are
64-byte aligned arrays: on the stack while their total stays under STACK_BUDGET (worker threads have
small stacks), on the heap (aligned_alloc once per call, freed on return) beyond it, and refused at
compile time past HEAP_LIMIT. A failed allocation writes 1 into the trailing status slot and
returns before running any program, so the launcher raises instead of computing garbage. Loop nests
over buffers have static trip counts, so LLVM unrolls and vectorizes them. Tensor accesses clamp their loops to the tensor's edge (filling the rest of a
loaded tile with `other`) and take a unit-stride fast path when the innermost stride is 1.
"""

from __future__ import annotations

import contextlib

from llvmlite import ir

from tilelang.errors import BackendError
from tilelang.ir.dtypes import is_unsigned

from . import loopir as L
from .codegen_ops import OpsCodegen
from .llvm_ops import I32, I64, Ops, buf_type, const, mem_type, reg_type
from .microkernel import emit_dot

STACK_BUDGET = 128 * 1024  # bytes of tile buffers per call kept on the stack
HEAP_LIMIT = 1 << 30  # bytes of tile buffers per thread beyond which a Config is refused


def vector_attrs(bits: int) -> str:
    return f'"prefer-vector-width"="{bits}" "min-legal-vector-width"="{bits}" "no-trapping-math"="true"'


def c64(v: int) -> ir.Constant:
    return ir.Constant(I64, v)


class Codegen(OpsCodegen):
    def __init__(self, prog: L.Program, triple: str = "", data_layout: str = "", microkernel: str = ""):
        from tilelang.autotune.hardware import host_isa

        self.p = prog
        self.isa = host_isa()
        self.vl = self.isa.lanes_f32  # f32 lanes per vector register
        self.microkernel = microkernel  # "MRxNV" from the Config, "" = chosen for the ISA
        self.m = ir.Module(name=prog.name)
        if triple:
            self.m.triple = triple
        if data_layout:
            self.m.data_layout = data_layout
        self.entry_name = f"tl_{prog.name}"
        fnty = ir.FunctionType(ir.VoidType(), [I64.as_pointer(), I64, I64])
        self.fn = ir.Function(self.m, fnty, self.entry_name)
        self.fn.args[0].add_attribute("noalias")
        self.entry = self.fn.append_basic_block("entry")
        self.b = ir.IRBuilder(self.entry)
        self.ops = Ops(self.b, self.m)
        self.tiles: dict[str, tuple] = {}  # tile name -> (id i64, start i64, limit i64 or None)
        self.nblk = 0
        self.stack_bytes = 0
        self.heap: list[tuple[ir.Instruction, int]] = []  # (i8* from aligned_alloc, bytes)

    # ---- local buffers ----------------------------------------------------------------------------

    def local_array(self, dtype: str, count: int, name: str):
        """A 64-byte aligned array of `count` elements, allocated once per call in the entry block
        (never inside a loop, where an alloca would grow the stack every iteration)."""
        ty = buf_type(dtype)
        nbytes = max(count, 1) * max(ty.width // 8 if isinstance(ty, ir.IntType) else
                                     {"float": 4, "double": 8}[str(ty)], 1)
        b = self.b
        here = b.block
        b.position_before(self.entry.terminator)
        if self.stack_bytes + nbytes <= STACK_BUDGET:
            self.stack_bytes += nbytes
            a = b.alloca(ty, size=max(count, 1), name=name)
            a.align = 64
        else:
            total = sum(n for _, n in self.heap) + nbytes
            if total > HEAP_LIMIT:
                raise BackendError(f"cpu backend: kernel `{self.p.name}` needs {total / 2**20:.0f} MiB of tile "
                                   f"buffers per thread (the limit is {HEAP_LIMIT // 2**20} MiB); use smaller "
                                   "tile sizes in its Config")
            i8p = ir.IntType(8).as_pointer()
            alloc = self.m.globals.get("aligned_alloc") or ir.Function(
                self.m, ir.FunctionType(i8p, [I64, I64]), "aligned_alloc")
            raw = b.call(alloc, [c64(64), c64((nbytes + 63) // 64 * 64)], name=name + "_heap")
            self.heap.append((raw, nbytes))
            a = b.bitcast(raw, ty.as_pointer(), name=name)
        b.position_at_end(here)
        return a

    def free_heap(self):
        if not self.heap:
            return
        i8p = ir.IntType(8).as_pointer()
        free = self.m.globals.get("free") or ir.Function(self.m, ir.FunctionType(ir.VoidType(), [i8p]), "free")
        for raw, _ in self.heap:
            self.b.call(free, [raw])

    # ---- control flow helpers ------------------------------------------------------------------

    def block(self, name):
        self.nblk += 1
        return self.fn.append_basic_block(f"{name}{self.nblk}")

    @contextlib.contextmanager
    def loop(self, start, stop, name="i", step=1):
        b = self.b
        start = c64(start) if isinstance(start, int) else start
        stop = c64(stop) if isinstance(stop, int) else stop
        pre = b.block
        head, body, done = self.block(name + ".head"), self.block(name + ".body"), self.block(name + ".done")
        b.branch(head)
        b.position_at_end(head)
        iv = b.phi(I64, name=name)
        iv.add_incoming(start, pre)
        b.cbranch(b.icmp_signed("<", iv, stop), body, done)
        b.position_at_end(body)
        yield iv
        nxt = b.add(iv, c64(step))
        iv.add_incoming(nxt, b.block)
        b.branch(head)
        b.position_at_end(done)

    def nest(self, extents, fn, name="i"):
        """Loops over `extents` (ints or i64 values), calling fn(list of ivs) in the innermost body."""
        def rec(d, ivs):
            if d == len(extents):
                fn(ivs)
                return
            if isinstance(extents[d], int) and extents[d] == 1:
                rec(d + 1, ivs + [c64(0)])
                return
            with self.loop(0, extents[d], f"{name}{d}") as iv:
                rec(d + 1, ivs + [iv])
        rec(0, [])

    # ---- entry: arguments and buffers --------------------------------------------------------------

    def build(self) -> ir.Module:
        b, p = self.b, self.p
        args, begin, end = self.fn.args
        slot = 0

        def arg():
            nonlocal slot
            v = b.load(b.gep(args, [c64(slot)]))
            slot += 1
            return v

        self.tensors = {}
        for t in p.tensors:
            raw = arg()
            ptr = b.inttoptr(raw, mem_type(t.dtype).as_pointer(), name=f"{t.name}_ptr")
            sizes = [arg() for _ in range(t.rank)]
            strides = [arg() for _ in range(t.rank)]
            self.tensors[t.name] = (ptr, sizes, strides, t.dtype)
        self.scalars = {}
        for name, dt in p.scalars:
            raw = arg()
            if dt.startswith(("f", "bf")):
                v = b.bitcast(raw, ir.DoubleType())
                v = self.ops.convert(v, "f64", dt)
            else:
                v = self.ops.convert(raw, "i64", dt)
            self.scalars[name] = v
        self.slots = [arg() for _ in p.size_exprs]
        status = b.gep(args, [c64(slot)], name="status")
        self.dummy = b.alloca(I64, size=2, name="dummy")
        check, start = self.block("alloc.check"), self.block("start")
        b.branch(check)  # the entry block's terminator: local_array() inserts before it
        b.position_at_end(start)
        self.bufs = {}
        for buf in p.buffers:
            self.bufs[buf] = self.local_array(buf.dtype, buf.size, buf.name)
        # grid: program ids [begin, end), the last grid tile varying fastest
        with self.loop(begin, end, "pid") as pid:
            rest = pid
            grid = list(p.grid)
            if p.grid_group:
                # grouped program order (tilelang/ir/program_order.py): bands of G rows of the
                # first grid tile, down a column of the band before the next column
                g = c64(p.grid_group)
                cols = c64(1)
                for t in grid[1:]:
                    cols = b.mul(cols, self.slots[t.count_slot])
                width = b.mul(g, cols)
                first = b.mul(b.sdiv(pid, width), g)
                left = b.sub(self.slots[grid[0].count_slot], first)
                rows = b.select(b.icmp_signed("<", left, g), left, g)
                within = b.srem(pid, width)
                row = b.add(first, b.srem(within, rows))
                self.tiles[grid[0].name] = (row, b.mul(row, c64(grid[0].block)), None)
                rest, grid = b.sdiv(within, rows), grid[1:]
            for t in reversed(grid):
                cnt = self.slots[t.count_slot]
                tid = b.srem(rest, cnt) if t is not grid[0] else rest
                rest = b.sdiv(rest, cnt)
                self.tiles[t.name] = (tid, b.mul(tid, c64(t.block)), None)
            self.stmts(p.body)
        self.free_heap()
        b.ret_void()
        # Any failed heap allocation: free the rest, report through the status slot, run nothing.
        b.position_at_end(check)
        if self.heap:
            failed = None
            for raw, _ in self.heap:
                null = b.icmp_unsigned("==", raw, ir.Constant(raw.type, None))
                failed = null if failed is None else b.or_(failed, null)
            oom = self.block("alloc.failed")
            b.cbranch(failed, oom, start)
            b.position_at_end(oom)
            self.free_heap()
            b.store(c64(1), status)
            b.ret_void()
        else:
            b.branch(start)
        return self.m

    def module_text(self) -> str:
        text = str(self.build())
        text = text.replace(f'define void @"{self.entry_name}"(', f'define void @"{self.entry_name}"(', 1)
        # function attributes llvmlite cannot spell: prefer the ISA's full vector width
        lines = []
        for line in text.splitlines():
            if line.startswith("define ") and line.rstrip().endswith("{"):
                line = line.rstrip()[:-1] + "#0 {"
            lines.append(line)
        return "\n".join(lines) + f"\nattributes #0 = {{ nounwind {vector_attrs(32 * self.vl)} }}\n"

    # ---- statements -------------------------------------------------------------------------------

    def stmts(self, body):
        for s in body:
            getattr(self, "s_" + type(s).__name__)(s)

    def s_SeqLoop(self, s: L.SeqLoop):
        def rec(i):
            if i == len(s.tiles):
                self.stmts(s.body)
                return
            t = s.tiles[i]
            if t.hi is None:
                with self.loop(0, self.slots[t.count_slot], t.name) as tid:
                    self.tiles[t.name] = (tid, self.b.mul(tid, c64(t.block)), None)
                    rec(i + 1)
                return
            # A runtime-bounded tile over the elements [max(lo, 0), hi), bounds read once here.
            b = self.b
            lo = self.ops.convert(self.expr(t.lo, [], {}), L.dtype_of(t.lo), "i64")
            lo = b.select(b.icmp_signed("<", lo, c64(0)), c64(0), lo)
            hi = self.ops.convert(self.expr(t.hi, [], {}), L.dtype_of(t.hi), "i64")
            count = b.sdiv(b.add(b.sub(hi, lo), c64(t.block - 1)), c64(t.block))
            count = b.select(b.icmp_signed("<", hi, lo), c64(0), count)
            with self.loop(0, count, t.name) as tid:
                self.tiles[t.name] = (tid, b.add(lo, b.mul(tid, c64(t.block))), hi)
                rec(i + 1)
        rec(0)

    def s_IfS(self, s: L.IfS):
        cond = self.ops.convert(self.expr(s.cond, [], {}), L.dtype_of(s.cond), "bool")
        with self.b.if_else(cond) as (then, orelse):
            with then:
                self.stmts(s.then)
            with orelse:
                self.stmts(s.orelse)

    def buf_ptr(self, buf: L.Buf, idx):
        """Pointer to buf[idx] (idx: i64 values or ints per dim)."""
        b = self.b
        off = None
        for d, (i, st) in enumerate(zip(idx, buf.strides)):
            if isinstance(i, int):
                i = c64(i)
            term = b.mul(i, c64(st)) if st != 1 else i
            off = term if off is None else b.add(off, term)
        return b.gep(self.bufs[buf], [off if off is not None else c64(0)])

    def s_Compute(self, s: L.Compute):
        out = s.out
        ident = tuple(range(len(out.shape)))
        hazard = any(r.buf == out and (not isinstance(r, L.Read) or r.axes != ident) for r in _reads_list(s.expr))
        target = out
        if hazard:
            target = L.Buf(out.name + "_tmp", out.dtype, out.shape)
            if target not in self.bufs:
                self.bufs[target] = self.local_array(out.dtype, out.size, target.name)

        def body(ivs):
            v = self.expr(s.expr, ivs, {})
            v = self.ops.convert(v, L.dtype_of(s.expr), out.dtype)
            self.b.store(self.ops.to_buf(v, out.dtype), self.buf_ptr(target, ivs))

        self.nest(list(out.shape), body)
        if hazard:
            self.nest(list(out.shape), lambda ivs: self.b.store(self.b.load(self.buf_ptr(target, ivs)),
                                                                self.buf_ptr(out, ivs)))

    def s_Dot(self, s: L.Dot):
        emit_dot(self, s)

    def s_Reduce(self, s: L.Reduce):
        b, ops = self.b, self.ops
        sdt = L.dtype_of(s.src)
        odt = s.out.dtype
        arg = s.op in ("argmax", "argmin")
        cdt = odt if s.op == "sum" else sdt  # dtype the combination happens in
        ty = reg_type(cdt)
        big = s.op in ("max", "argmax")
        fl = isinstance(ty, (ir.FloatType, ir.DoubleType))
        if s.op == "sum":
            init = ir.Constant(ty, 0.0 if fl else 0)
        elif fl:
            init = ir.Constant(ty, float("-inf") if big else float("inf"))
        elif cdt == "bool":
            init = ir.Constant(ty, 0 if big else 1)
        elif is_unsigned(cdt):
            init = ir.Constant(ty, 0 if big else -1)
        else:
            w = ty.width
            init = ir.Constant(ty, -(1 << (w - 1)) if big else (1 << (w - 1)) - 1)

        def combine(acc, v, acc_i=None, i=None):
            if s.op == "sum":
                if fl:
                    r = b.fadd(acc, v, flags=("reassoc", "nsz"))
                    return ops.round_to(r, odt) if odt in ("f16", "bf16") else r
                return b.add(acc, v)
            if not arg:
                return ops.binary("maximum" if big else "minimum", acc, v, cdt if cdt != "bool" else "bool")
            if fl:
                better = b.fcmp_ordered(">" if big else "<", v, acc)
                better = b.or_(better, b.and_(b.fcmp_unordered("uno", v, v), b.fcmp_ordered("ord", acc, acc)))
            elif cdt == "bool" or is_unsigned(cdt):
                better = b.icmp_unsigned(">" if big else "<", v, acc)
            else:
                better = b.icmp_signed(">" if big else "<", v, acc)
            return b.select(better, v, acc), b.select(better, i, acc_i)

        shape, ax = s.shape, s.axis
        outer, inner = list(shape[:ax]), list(shape[ax + 1:])
        # Keep the running value in a register along the reduced axis when it is innermost (or the
        # output is a scalar); otherwise sweep rows of the output buffer, vectorizing along `inner`.
        acc_buf = s.out
        if arg:
            vbuf = L.Buf(s.out.name + "_best", cdt, s.out.shape)
            if vbuf not in self.bufs:
                self.bufs[vbuf] = self.local_array(cdt, vbuf.size, vbuf.name)
        else:
            vbuf = acc_buf

        def load_src(ivs):
            v = self.expr(s.src, ivs, {})
            return ops.convert(v, sdt, cdt)

        def store_out(oidx, v, vi=None):
            if arg:
                self.b.store(ops.to_buf(v, cdt), self.buf_ptr(vbuf, oidx))
                self.b.store(b.trunc(vi, I32), self.buf_ptr(acc_buf, oidx))
            else:
                v = ops.convert(v, cdt, odt)
                self.b.store(ops.to_buf(v, odt), self.buf_ptr(acc_buf, oidx))

        if not inner:
            def row(oivs):
                pre = b.block
                head, body, done = self.block("red.head"), self.block("red.body"), self.block("red.done")
                b.branch(head)
                b.position_at_end(head)
                k = b.phi(I64)
                acc = b.phi(ty)
                acc_i = b.phi(I64) if arg else None
                k.add_incoming(c64(0), pre)
                acc.add_incoming(init, pre)
                if arg:
                    acc_i.add_incoming(c64(0), pre)
                b.cbranch(b.icmp_signed("<", k, c64(shape[ax])), body, done)
                b.position_at_end(body)
                v = load_src(oivs + [k])
                if arg:
                    nacc, nacc_i = combine(acc, v, acc_i, k)
                    acc_i.add_incoming(nacc_i, b.block)
                else:
                    nacc = combine(acc, v)
                acc.add_incoming(nacc, b.block)
                k.add_incoming(b.add(k, c64(1)), b.block)
                b.branch(head)
                b.position_at_end(done)
                store_out(oivs, acc, acc_i)
            self.nest(outer, row, "r")
            return

        def init_row(ivs):
            self.b.store(ops.to_buf(init, cdt) if not (odt != cdt and not arg) else
                         ops.to_buf(ops.convert(init, cdt, odt), odt), self.buf_ptr(vbuf, ivs))
            if arg:
                self.b.store(ir.Constant(I32, 0), self.buf_ptr(acc_buf, ivs))

        def step(ivs):
            o = ivs[:ax] + ivs[ax + 1:]
            v = load_src(ivs)
            if arg:
                cur = ops.from_buf(b.load(self.buf_ptr(vbuf, o)), cdt)
                cur_i = b.sext(b.load(self.buf_ptr(acc_buf, o)), I64)
                nv, ni = combine(cur, v, cur_i, ivs[ax])
                store_out(o, nv, ni)
            else:
                cur = ops.convert(ops.from_buf(b.load(self.buf_ptr(vbuf, o)), odt), odt, cdt)
                store_out(o, combine(cur, v))

        self.nest(list(s.out.shape), init_row, "z")
        self.nest(list(shape), step, "r")

    # ---- tensor access ---------------------------------------------------------------------------

    def access_extents(self, tensor, items, bounds, shape):
        """Per access axis: its extent, clamped at the tensor's edge where `bounds` asks."""
        b = self.b
        _, sizes, _, _ = self.tensors[tensor]
        ext = list(shape)
        clamped = []
        for d, (it, chk) in enumerate(zip(items, bounds)):
            limit = self.tiles[it.tile][2] if isinstance(it, L.TileItem) else None
            if isinstance(it, L.TileItem) and (chk or limit is not None):
                _, start, _ = self.tiles[it.tile]
                rem = b.sub(sizes[d], start) if chk else None
                if limit is not None:  # a runtime tile stops at its `hi`
                    to_limit = b.sub(limit, start)
                    rem = to_limit if rem is None else b.select(b.icmp_signed("<", to_limit, rem), to_limit, rem)
                blk = c64(shape[it.axis])
                rem = b.select(b.icmp_signed("<", rem, blk), rem, blk)
                rem = b.select(b.icmp_signed("<", rem, c64(0)), c64(0), rem)
                ext[it.axis] = rem
                clamped.append((rem, shape[it.axis]))
        return ext, clamped

    def value_coord(self, it, ivs):
        v = self.expr(it.expr, ivs, {})
        return self.ops.convert(v, L.dtype_of(it.expr), "i64")

    def value_index_ok(self, tensor, items, ivs):
        """An i1 that is true when every value index (scalar or gather) is inside the tensor (None: no
        value indices). Out-of-range value indices are a user error the reference interpreter reports;
        compiled code never touches memory outside the tensor: loads give the fill value, stores are
        skipped (docs/safety.md)."""
        b = self.b
        _, sizes, _, _ = self.tensors[tensor]
        ok = None
        for d, it in enumerate(items):
            if isinstance(it, L.ValueItem):
                c = self.value_coord(it, ivs)
                inside = b.and_(b.icmp_signed(">=", c, c64(0)), b.icmp_signed("<", c, sizes[d]))
                ok = inside if ok is None else b.and_(ok, inside)
        return ok

    def tensor_ptr(self, tensor, items, ivs, strides):
        b = self.b
        ptr, sizes, _, _ = self.tensors[tensor]
        off = None
        for d, it in enumerate(items):
            if isinstance(it, L.TileItem):
                coord = b.add(self.tiles[it.tile][1], ivs[it.axis])
            else:
                # Clamped into the tensor so an out-of-range index never reads outside it (stores
                # are skipped instead, see value_index_ok).
                coord = self.value_coord(it, ivs)
                last = b.sub(sizes[d], c64(1))
                coord = b.select(b.icmp_signed("<", coord, c64(0)), c64(0), coord)
                coord = b.select(b.icmp_signed(">", coord, last), last, coord)
            st = strides[d]
            term = coord if (isinstance(st, ir.Constant) and st.constant == 1) else b.mul(coord, st)
            off = term if off is None else b.add(off, term)
        return b.gep(ptr, [off if off is not None else c64(0)])

    def is_short(self, clamped):
        """An i1 that is true when a clamped axis is cut at the tensor's edge (None: never)."""
        short = None
        for rem, blk in clamped:
            c = self.b.icmp_signed("<", rem, c64(blk))
            short = c if short is None else self.b.or_(short, c)
        return short

    def full_tile_split(self, short, ext, shape, emit):
        """emit(extents): static extents for whole tiles (inside the tensor), clamped ones at edges."""
        if short is None:
            emit(list(shape))
            return
        with self.b.if_else(short) as (edge, whole):
            with edge:
                emit(ext)
            with whole:
                emit(list(shape))

    def unit_stride_split(self, tensor, items, shape, emit):
        """emit(strides) twice: once with the innermost tile stride known to be 1, once general."""
        b = self.b
        _, _, strides, _ = self.tensors[tensor]
        last = len(shape) - 1
        inner = [d for d, it in enumerate(items) if isinstance(it, L.TileItem) and it.axis == last and shape[last] > 1]
        if not inner:
            emit(list(strides))
            return
        d = inner[0]
        unit = list(strides)
        unit[d] = c64(1)
        with b.if_else(b.icmp_signed("==", strides[d], c64(1))) as (then, other):
            with then:
                emit(unit)
            with other:
                emit(list(strides))

    def s_LoadT(self, s: L.LoadT):
        b, ops = self.b, self.ops
        out = s.out
        ext, clamped = self.access_extents(s.tensor, s.items, s.bounds, out.shape)
        mdt = self.tensors[s.tensor][3]

        def other_at(ivs):
            if s.other is None:
                return ops.convert(const("i32", 0), "i32", out.dtype)
            return ops.convert(self.expr(s.other, ivs, {}), L.dtype_of(s.other), out.dtype)

        short = self.is_short(clamped)
        if short is not None:
            with b.if_then(short):
                self.nest(list(out.shape),
                          lambda ivs: b.store(ops.to_buf(other_at(ivs), out.dtype), self.buf_ptr(out, ivs)), "f")

        def emit(strides, ext):
            def body(ivs):
                ptr = self.tensor_ptr(s.tensor, s.items, ivs, strides)
                # An out-of-range gather index reads the fill value (the address itself is clamped
                # into the tensor, so the load is always safe), like a position past the edge.
                m = self.value_index_ok(s.tensor, s.items, ivs)
                if s.mask is not None:
                    um = self.expr(s.mask, ivs, {})
                    ptr = b.select(um, ptr, b.bitcast(self.dummy, ptr.type))
                    m = um if m is None else b.and_(m, um)
                v = ops.from_mem(b.load(ptr), mdt)
                if m is not None:
                    v = b.select(m, v, other_at(ivs))
                b.store(ops.to_buf(v, out.dtype), self.buf_ptr(out, ivs))
            self.nest(ext, body, "l")

        self.full_tile_split(short, ext, out.shape, lambda e: self.unit_stride_split(
            s.tensor, s.items, out.shape, lambda st: emit(st, e)))

    def s_StoreT(self, s: L.StoreT):
        b, ops = self.b, self.ops
        ext, clamped = self.access_extents(s.tensor, s.items, s.bounds, s.shape)
        mdt = self.tensors[s.tensor][3]

        def emit(strides, ext):
            def body(ivs):
                def do():
                    v = self.expr(s.value, ivs, {})
                    v = ops.to_mem(ops.convert(v, L.dtype_of(s.value), mdt), mdt)
                    ptr = self.tensor_ptr(s.tensor, s.items, ivs, strides)
                    if s.atomic is not None:
                        self.atomic_store(s.atomic, ptr, v, mdt)
                    else:
                        b.store(v, ptr)
                guard = self.value_index_ok(s.tensor, s.items, ivs)
                if s.mask is not None:
                    m = self.expr(s.mask, ivs, {})
                    guard = m if guard is None else b.and_(guard, m)
                if guard is not None:
                    with b.if_then(guard):
                        do()
                else:
                    do()
            self.nest(ext, body, "s")

        self.full_tile_split(self.is_short(clamped), ext, s.shape, lambda e: self.unit_stride_split(
            s.tensor, s.items, s.shape, lambda st: emit(st, e)))

    # ---- expressions -------------------------------------------------------------------------------

    def position(self, value64, dtype: str):
        """A tile position or size (i64 in the generated code) as the IR's i32 or i64 value."""
        return value64 if dtype == "i64" else self.b.trunc(value64, I32)

    def expr(self, e: L.Expr, ivs, memo: dict):
        hit = memo.get(e)
        if hit is not None:
            return hit
        b = self.b
        if isinstance(e, L.Read):
            idx = [c64(0) if a is None else ivs[a] for a in e.axes]
            v = self.ops.from_buf(b.load(self.buf_ptr(e.buf, idx)), e.buf.dtype)
        elif isinstance(e, L.Lit):
            v = const(e.dtype, e.value)
        elif isinstance(e, L.ScalarArg):
            v = self.scalars[e.name]
        elif isinstance(e, L.SizeVal):
            v = self.position(self.slots[e.slot], e.dtype)
        elif isinstance(e, L.TileStart):
            v = self.position(self.tiles[e.tile][1], e.dtype)
        elif isinstance(e, L.TileId):
            v = self.position(self.tiles[e.tile][0], e.dtype)
        elif isinstance(e, L.Arange):
            v = ir.Constant(I32, e.start) if e.axis is None else b.add(b.trunc(ivs[e.axis], I32), ir.Constant(I32, e.start))
        elif isinstance(e, L.Affine):
            off = c64(e.offset)
            for a, coeff in e.terms:
                if a is not None:
                    off = b.add(off, b.mul(ivs[a], c64(coeff)) if coeff != 1 else ivs[a])
            v = self.ops.from_buf(b.load(b.gep(self.bufs[e.buf], [off])), e.buf.dtype)
        elif isinstance(e, L.Iota):
            start = self.tiles[e.tile][1]
            v = self.position(start if e.axis is None else b.add(start, ivs[e.axis]), e.dtype)
        elif isinstance(e, L.Apply):
            args = [self.expr(a, ivs, memo) for a in e.args]
            v = self.ops.apply(e.op, args, [L.dtype_of(a) for a in e.args], e.dtype, dict(e.attrs))
        else:
            raise BackendError(f"cpu backend: cannot generate code for {type(e).__name__}")
        memo[e] = v
        return v


def _reads_list(e):
    if isinstance(e, (L.Read, L.Affine)):
        return [e]
    if isinstance(e, L.Apply):
        return [r for a in e.args for r in _reads_list(a)]
    return []


def generate(prog: L.Program, triple: str = "", data_layout: str = "", microkernel: str = "") -> tuple[str, str]:
    """(LLVM IR text, entry symbol)."""
    cg = Codegen(prog, triple, data_layout, microkernel)
    return cg.module_text(), cg.entry_name
