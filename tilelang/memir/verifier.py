"""Checks of an explicit-memory program: buffers declared once with a known space, every operand a
buffer / scalar parameter / constant, every result type the op registry's, tiles bound by an
enclosing loop, and the register rule: a distributed `local` buffer is only ever read at the
reading thread's own elements. Barrier placement is checked dynamically, by the interpreter."""

from __future__ import annotations

from tilelang.errors import VerifierError
from tilelang.ir import nodes as ir
from tilelang.ir.ops import OpTypeError, result_type
from tilelang.ir.types import ValueType

from . import nodes as M
from .access import access_shape, natural_reads
from .fragments import FragmentMap


def verify_memkernel(k: M.MemKernel) -> None:
    if k.threads <= 0:
        raise VerifierError(f"memkernel @{k.name}: threads must be positive, got {k.threads}", k.loc)
    bufs: dict[str, M.Buffer] = {}
    for b in k.buffers:
        if b.name in bufs:
            raise VerifierError(f"buffer %{b.name} is declared twice", k.loc)
        if b.space not in M.SPACES:
            raise VerifierError(f"buffer %{b.name} has unknown space {b.space!r}", k.loc)
        if b.space in M.ASCEND_SPACES and k.threads != 1:
            raise VerifierError(f"buffer %{b.name} is in Ascend space {b.space}, which only a one-thread (AI core) "
                                "program has", k.loc)
        if b.swizzle is not None:
            from .layout import prove_bijective

            if b.space != "shared" or len(b.shape) != 2:
                raise VerifierError(f"buffer %{b.name}: only 2-D shared buffers can be swizzled", k.loc)
            if not prove_bijective(b.shape, b.swizzle):
                raise VerifierError(f"buffer %{b.name}: swizzle{b.swizzle} maps two elements to one word", k.loc)
        if b.ring is not None and (b.space != "shared" or b.ring[1] < 2):
            raise VerifierError(f"buffer %{b.name}: a ring is a shared buffer of at least 2 stages", k.loc)
        bufs[b.name] = b
    params = {p.name: p for p in k.params}
    clash = set(bufs) & set(params)
    if clash:
        raise VerifierError(f"buffer %{sorted(clash)[0]} has a parameter's name", k.loc)
    tops = [s for s in k.body if isinstance(s, ir.TileLoop) and s.parallel]
    if len(tops) != 1 or len(k.body) != 1:
        raise VerifierError("a memkernel's body is exactly one parallel tile loop", k.loc)

    def vtype(v) -> ValueType:
        if isinstance(v, ir.Const):
            return ValueType(v.dtype, ())
        if v.name in bufs:
            return ValueType(bufs[v.name].dtype, bufs[v.name].shape)
        p = params.get(v.name)
        if p is None or p.is_tensor:
            raise VerifierError(f"%{v.name} is neither a buffer nor a scalar parameter")
        return p.type

    def shape_of(v):
        return tuple(vtype(v).shape)

    computes = [s for s in M.walk(k.body) if isinstance(s, M.Compute)]
    maps = M.buffer_maps(k.body)
    for name, m in maps.items():
        b = bufs.get(name)
        if m == M.MIXED and b is not None and b.space == "local" and b.shape:
            raise VerifierError(f"register buffer %{name} is written under two different thread maps", k.loc)

    def map_of(name):
        return maps.get(name) if name in bufs else None

    replicated = {c.out for c in computes if c.map == "uniform"} - {c.out for c in computes if c.map != "uniform"}

    def check(stmts, blocks):
        for s in stmts:
            if isinstance(s, ir.If):
                c = s.cond
                if isinstance(c, ir.Var) and c.name not in replicated and c.name not in params:
                    raise VerifierError(f"the condition %{c.name} of an `if` is not the same in every thread "
                                        "(a scalar parameter or a uniform register)", s.loc)
                check(s.then, blocks)
                check(s.orelse, blocks)
                continue
            if isinstance(s, ir.TileLoop):
                if s.parallel and blocks:
                    raise VerifierError("a parallel tile loop inside another loop", s.loc)
                check(s.body, dict(blocks, **{t.name: t.block for t in s.tiles}))
                continue
            if isinstance(s, (M.Barrier, M.Commit)):
                continue
            if isinstance(s, M.Wait):
                if s.pending < 0:
                    raise VerifierError("wait needs a pending count >= 0", s.loc)
                continue
            if isinstance(s, M.AsyncCopy):
                b = bufs.get(s.out)
                if b is None or b.ring is None or b.space != "shared":
                    raise VerifierError(f"async copy into %{s.out}, which is not a shared ring buffer", s.loc)
                if b.ring[0] not in blocks or not 0 <= s.ahead < b.ring[1]:
                    raise VerifierError(f"async copy into %{s.out}: tile `{b.ring[0]}` must enclose it and "
                                        f"ahead must be below the {b.ring[1]} stages", s.loc)
                if s.load.mask is not None or (s.load.other is not None and s.load.other != ir.Const(0.0, "f32")
                                               and getattr(s.load.other, "value", None) != 0):
                    raise VerifierError("an async copy zero-fills past the edge: it takes no mask and no other", s.loc)
                if any(isinstance(it, ir.ValueIndex) and isinstance(it.value, ir.Var) and it.value.name in bufs
                       for it in s.load.index):
                    raise VerifierError("an async copy's indices are tiles, constants or scalar parameters", s.loc)
                if s.vec not in (1, 2, 4, 8, 16) or b.shape[-1] % s.vec or \
                        (s.vec > 1 and b.swizzle is not None and (len(b.swizzle) < 3 or b.swizzle[2] % s.vec)):
                    raise VerifierError(f"async copy into %{s.out}: chunks of {s.vec} must divide its rows and "
                                        "stay whole under its swizzle", s.loc)
                _check_index(s.load.index, blocks, vtype)
                want = access_shape(s.load.index, blocks, shape_of)
                if want != b.shape or params[s.load.tensor].type.dtype != b.dtype:
                    raise VerifierError(f"async copy of {want} {params[s.load.tensor].type.dtype} into %{s.out} "
                                        f"({b.dtype}{list(b.shape)})", s.loc)
                continue
            if not M.is_map(s.map):
                raise VerifierError(f"unknown thread map {s.map!r}", s.loc)
            try:
                _check_stmt(s, bufs, params, blocks, vtype, shape_of, replicated, map_of, k.threads)
            except VerifierError as e:
                raise VerifierError(str(e.args[0]) if e.args else str(e), e.loc or s.loc) from None

    check(k.body, {})


def _check_stmt(s, bufs, params, blocks, vtype, shape_of, replicated, map_of, threads):
    if isinstance(s, M.Put):
        st = s.store
        if st.tensor not in params or not params[st.tensor].is_tensor:
            raise VerifierError(f"store to %{st.tensor}, which is not a tensor parameter")
        _check_index(st.index, blocks, vtype)
        for v in (st.value, st.mask):
            if v is not None:
                vtype(v)
        out_shape = access_shape(st.index, blocks, shape_of)
    else:
        if s.out not in bufs:
            raise VerifierError(f"%{s.out} is not a declared buffer")
        out = bufs[s.out]
        value = s.value
        if isinstance(value, ir.Load):
            if value.tensor not in params or not params[value.tensor].is_tensor:
                raise VerifierError(f"load from %{value.tensor}, which is not a tensor parameter")
            _check_index(value.index, blocks, vtype)
            got = ValueType(params[value.tensor].type.dtype, access_shape(value.index, blocks, shape_of))
        else:
            try:
                got = result_type(value.name, [vtype(a) for a in value.args], dict(value.attrs))
            except OpTypeError as e:
                raise VerifierError(str(e)) from None
        got = ValueType(got.dtype, tuple(int(d) for d in got.shape)) if all(
            getattr(d, "is_Integer", isinstance(d, int)) for d in got.shape) else got
        if got.dtype != out.dtype or tuple(got.shape) != out.shape:
            raise VerifierError(f"%{s.out} is {out.dtype}{list(out.shape)} but its value is {got}")
        if s.map == "uniform":
            if out.shape or out.space != "local":
                raise VerifierError(f"a uniform statement writes %{s.out}, which is not a rank-0 register")
            for n in M.operand_names(value):
                if n in bufs and (bufs[n].shape or bufs[n].space != "local"):
                    raise VerifierError(f"a uniform statement reads %{n}, which is not a rank-0 register")
        out_shape = out.shape
    if isinstance(s.map, FragmentMap):
        why = s.map.check(out_shape, threads)
        if why:
            raise VerifierError(f"thread map {s.map}: {why}")
    for name, natural in natural_reads(s, out_shape, shape_of, map_of).items():
        b = bufs.get(name)
        if b is not None and b.space == "local" and not natural and name not in replicated:
            raise VerifierError(f"%{name} is a register buffer but this statement reads it across threads "
                                "(it must be shared)")


def _check_index(index, blocks, vtype):
    for it in index:
        if isinstance(it, ir.TileIndex):
            if it.tile not in blocks:
                raise VerifierError(f"tile `{it.tile}` is not bound by an enclosing tile loop")
        else:
            t = vtype(it.value)
            if t.dtype not in ("i8", "i32", "i64"):
                raise VerifierError(f"an index value must be an integer, got {t.dtype}")
