"""The IR verifier: every invariant a pass or a hand-written .tir file must keep.

It re-derives each statement's type from the op registry, so a pass that builds an ill-typed
node, or a text file that lies about a type, is caught with the statement's source location.
"""

from __future__ import annotations

from tilelang.errors import VerifierError

from . import dtypes
from . import nodes as ir
from .ops import OpTypeError, result_type
from .types import TensorType, ValueType


def index_shape(index, tiles, types, loc) -> tuple:
    shape = []
    for it in index:
        if isinstance(it, ir.TileIndex):
            if it.tile not in tiles:
                raise VerifierError(f"tile `{it.tile}` is not bound by an enclosing tile loop", loc)
            shape.append(tiles[it.tile].block)
        else:
            t = value_type(it.value, types, loc)
            if not dtypes.is_int(t.dtype):
                raise VerifierError(f"an index value must be an integer scalar or tile, got {t}", loc)
            shape.extend(t.shape)
    return tuple(shape)


def value_type(v, types: dict, loc) -> ValueType:
    if isinstance(v, ir.Const):
        if v.dtype not in dtypes.DTYPES:
            raise VerifierError(f"unknown dtype `{v.dtype}`", loc)
        return ValueType(v.dtype)
    if isinstance(v, ir.Var):
        if v.name not in types:
            raise VerifierError(f"`%{v.name}` is used before it is defined", loc)
        return types[v.name]
    raise VerifierError(f"not an operand: {v!r}", loc)


def verify(kernel: ir.Kernel) -> ir.Kernel:
    tensors: dict[str, TensorType] = {}
    types: dict[str, ValueType] = {}
    for p in kernel.params:
        if p.name in tensors or p.name in types:
            raise VerifierError(f"parameter `{p.name}` is declared twice", p.loc)
        if p.is_tensor:
            tensors[p.name] = p.type
        else:
            types[p.name] = p.type
    loops = [s for s in kernel.body if isinstance(s, ir.TileLoop)]
    if len(kernel.body) != 1 or len(loops) != 1 or not loops[0].parallel:
        raise VerifierError(f"kernel `{kernel.name}` must consist of exactly one parallel tile loop (the grid)",
                            kernel.loc)

    def check_access(tensor, index, bounds, tiles, local, loc) -> tuple:
        if tensor not in tensors:
            raise VerifierError(f"`%{tensor}` is not a tensor parameter", loc)
        if len(index) != tensors[tensor].rank:
            raise VerifierError(f"`%{tensor}` has rank {tensors[tensor].rank} but {len(index)} indices", loc)
        if bounds is not None and len(bounds) != len(index):
            raise VerifierError("bounds must give one flag per index", loc)
        return index_shape(index, tiles, local, loc)

    def visit(stmts, tiles: dict, scope_types: dict):
        local = dict(scope_types)  # names defined inside a loop do not leak out of it
        for s in stmts:
            if isinstance(s, ir.TileLoop):
                inner_tiles = dict(tiles)
                for t in s.tiles:
                    if t.is_runtime:
                        if s.parallel:
                            raise VerifierError("the grid loop's tiles cannot have runtime bounds", s.loc)
                        for v in (t.lo, t.hi):
                            vt = value_type(v, local, s.loc)
                            if not (vt.is_scalar and dtypes.is_int(vt.dtype)):
                                raise VerifierError(f"the bounds of runtime tile `{t.name}` must be integer "
                                                    f"scalars, got {vt}", s.loc)
                    elif t.extent is None or t.lo is not None:
                        raise VerifierError(f"tile `{t.name}` needs either an extent or both runtime bounds",
                                            s.loc)
                    if t.name in inner_tiles:
                        raise VerifierError(f"tile `{t.name}` shadows an enclosing tile loop", s.loc)
                    inner_tiles[t.name] = t
                if s.parallel and tiles:
                    raise VerifierError("only the outermost tile loop may be parallel", s.loc)
                if s.order not in ir.PROGRAM_ORDERS:
                    raise VerifierError(f"unknown program order {s.order!r} (use one of "
                                        f"{', '.join(ir.PROGRAM_ORDERS)})", s.loc)
                if s.order != "row" and not s.parallel:
                    raise VerifierError("a program order applies to the launch grid (the parallel loop) only",
                                        s.loc)
                if type(s.group) is not int or s.group < 0 or (s.group and s.order == "row"):
                    raise VerifierError(f"group size {s.group!r} needs order grouped and must be a positive int",
                                        s.loc)
                visit(s.body, inner_tiles, local)
            elif isinstance(s, ir.If):
                ct = value_type(s.cond, local, s.loc)
                if ct != ValueType("bool"):
                    raise VerifierError(f"an `if` condition must be a bool scalar, got {ct}", s.loc)
                then_types = visit(s.then, tiles, local)
                else_types = visit(s.orelse, tiles, local)
                for name in then_types.keys() & else_types.keys():
                    if then_types[name] != else_types[name]:
                        raise VerifierError(f"`%{name}` is {then_types[name]} in one branch of the `if` and "
                                            f"{else_types[name]} in the other", s.loc)
                    local[name] = then_types[name]
            elif isinstance(s, ir.Assign):
                if isinstance(s.value, ir.Load):
                    ld = s.value
                    shape = check_access(ld.tensor, ld.index, ld.bounds, tiles, local, s.loc)
                    want = ValueType(tensors[ld.tensor].dtype, shape)
                    if ld.other is not None and value_type(ld.other, local, s.loc).dtype != want.dtype:
                        raise VerifierError(f"the fill value of a load from `%{ld.tensor}` must be {want.dtype}", s.loc)
                    if ld.mask is not None and value_type(ld.mask, local, s.loc).dtype != "bool":
                        raise VerifierError("a load mask must be bool", s.loc)
                else:
                    arg_types = [value_type(a, local, s.loc) for a in s.value.args]
                    try:
                        want = result_type(s.value.name, arg_types, dict(s.value.attrs))
                    except OpTypeError as e:
                        raise VerifierError(str(e), s.loc) from None
                    except KeyError as e:
                        raise VerifierError(f"op `{s.value.name}` is missing attribute {e}", s.loc) from None
                if s.type != want:
                    raise VerifierError(f"`%{s.name}` is declared {s.type} but its value is {want}", s.loc)
                if s.name in local and local[s.name] != s.type:
                    raise VerifierError(f"`%{s.name}` changes type from {local[s.name]} to {s.type}", s.loc)
                local[s.name] = s.type
            elif isinstance(s, ir.Store):
                shape = check_access(s.tensor, s.index, s.bounds, tiles, local, s.loc)
                vt = value_type(s.value, local, s.loc)
                if vt != ValueType(tensors[s.tensor].dtype, shape):
                    raise VerifierError(f"store of {vt} into `%{s.tensor}` needs "
                                        f"{ValueType(tensors[s.tensor].dtype, shape)}", s.loc)
                if s.mask is not None and value_type(s.mask, local, s.loc).dtype != "bool":
                    raise VerifierError("a store mask must be bool", s.loc)
                if s.atomic is not None and s.atomic not in ir.ATOMIC_KINDS:
                    raise VerifierError(f"unknown atomic kind {s.atomic!r}", s.loc)
                if s.atomic is not None and tensors[s.tensor].dtype not in ir.ATOMIC_DTYPES:
                    raise VerifierError(f"atomic_{s.atomic} on `%{s.tensor}` of {tensors[s.tensor].dtype}: atomics "
                                        f"support {', '.join(ir.ATOMIC_DTYPES)}", s.loc)
            else:
                raise VerifierError(f"unknown statement {type(s).__name__}", getattr(s, "loc", None))
        return local

    visit(kernel.body, {}, types)
    return kernel
