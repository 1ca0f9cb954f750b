"""Lower a `@tl.tile` function's Python AST to the tile IR for one signature.

The signature fixes what Python leaves open: each tensor parameter's dtype and rank, and each
scalar's dtype. Everything the DSL does not accept is reported at the user's line and column.
"""

from __future__ import annotations

import ast
import dataclasses
from dataclasses import dataclass, field
from typing import Any

import sympy

from tilelang import dsl
from tilelang.errors import (Loc, NameError_, ShapeMismatchError, TileLangError, TileTypeError,
                             UnsupportedSyntaxError)
from tilelang.ir import dtypes
from tilelang.ir import nodes as ir
from tilelang.ir.ops import OpTypeError, result_type
from tilelang.ir.types import TensorType, ValueType, broadcast_shapes, dim_symbol, format_expr

from .source import FunctionSource
from .values import (BoundMethod, DTypeValue, IRValue, Literal, PyObject, Size, SizeTuple, TensorRef,
                     TileRef, TupleValue, ValueTuple)


@dataclass(frozen=True)
class ArgSpec:
    """What a kernel is specialized on for one parameter."""

    kind: str  # 'tensor' | 'scalar' | 'const' (a compile-time constant: `value`, no IR parameter)
    dtype: str
    rank: int = 0
    value: Any = field(default=None, repr=False)


_BINOPS = {ast.Add: "add", ast.Sub: "sub", ast.Mult: "mul", ast.Div: "truediv", ast.FloorDiv: "floordiv",
           ast.Mod: "mod", ast.BitAnd: "and", ast.BitOr: "or", ast.BitXor: "xor", ast.MatMult: "dot",
           ast.LShift: "shl", ast.RShift: "shr"}
_CMPOPS = {ast.Lt: "lt", ast.LtE: "le", ast.Gt: "gt", ast.GtE: "ge", ast.Eq: "eq", ast.NotEq: "ne"}
_UNARY_BUILTINS = {"exp", "exp2", "log", "log2", "sqrt", "rsqrt", "sin", "cos", "sigmoid", "floor", "ceil", "abs"}
_REDUCTIONS = {"sum", "max", "min", "argmax", "argmin"}
_TILE_ATTRS = {"index": "tile_index", "start": "tile_start", "id": "tile_id"}

ALLOWED = ("tile loops `for m, n in tl.tile([M, N])` / `tl.tile(lo, hi)`, `tl.static_range` loops, `if`, "
           "assignments, `+=`-style updates, tensor loads and stores by indexing, and expressions on tiles")


def shape_unpacks(tree: ast.FunctionDef) -> dict[str, list[str | None]]:
    """`M, K = a.shape` statements at the top of a kernel: param -> names per dimension."""
    out: dict[str, list[str | None]] = {}
    for stmt in tree.body:
        if (isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Tuple)
                and isinstance(stmt.value, ast.Attribute) and stmt.value.attr == "shape"
                and isinstance(stmt.value.value, ast.Name)):
            names = [e.id if isinstance(e, ast.Name) and e.id != "_" else None for e in stmt.targets[0].elts]
            out[stmt.value.value.id] = names
    return out


class _Scope:
    """Python names -> compile-time values, with the loop depth each IR variable was made at."""

    def __init__(self, names: dict[str, Any], depth: dict[str, int]):
        self.names = names
        self.depth = depth


class Lowerer:
    def __init__(self, src: FunctionSource, signature: dict[str, ArgSpec],
                 assumptions: tuple[ir.Assumption, ...] = (), config: dict[str, int] | None = None):
        self.src = src
        self.signature = signature
        self.assumptions = assumptions
        # Sizes known while lowering: the Config's tile sizes and `eq` assumptions. Compile-time
        # `if` / tl.static_range resolve size expressions with them (frontend/control.py).
        self.known_sizes = dict(config or {})
        self.known_sizes.update({a.symbol: a.value for a in assumptions if a.kind == "eq"})
        self.pinned_ir_names: set[str] = set()  # caller values bound to a @tl.func's parameters
        self.call_stack: list = []  # @tl.func helpers being inlined (to reject recursion)
        self.tmp = 0
        self.loop_depth = 0
        self.used_ir_names: set[str] = set()
        self.tile_names: set[str] = set()
        self.body_stack: list[list[ir.Stmt]] = []
        self.scope = _Scope({}, {})
        # Whole-dimension tiles made by `x[m, :]` (size symbol -> tile), added to the grid loop,
        # where they are one tile each (block == extent), so the grid does not grow.
        self.whole_tiles: dict[sympy.Expr, ir.TileVar] = {}

    # ---- errors -----------------------------------------------------------------------------

    def loc(self, node) -> Loc:
        return self.src.loc(node)

    def fail(self, node, message: str, cls=UnsupportedSyntaxError):
        raise cls(message, self.loc(node))

    # ---- entry ---------------------------------------------------------------------------------

    def lower(self) -> ir.Kernel:
        fn = self.src.tree
        args = fn.args
        if args.vararg or args.kwarg or args.kwonlyargs or args.posonlyargs or args.defaults:
            self.fail(fn, "kernel parameters must be plain positional names (no *args, **kwargs, defaults)")
        params = self._params(fn)
        body = self._top_level(fn)
        return ir.Kernel(fn.name, tuple(params), tuple(body), self.assumptions, (), self.loc(fn))

    def _params(self, fn: ast.FunctionDef) -> list[ir.Param]:
        unpacks = shape_unpacks(fn)
        params = []
        for a in fn.args.args:
            spec = self.signature.get(a.arg)
            if spec is None:
                raise TileLangError(f"no argument given for parameter `{a.arg}`", self.loc(a))
            loc = self.loc(a)
            if spec.kind == "const":  # a constant parameter: a Python value while lowering
                self.scope.names[a.arg] = Literal(spec.value)
                continue
            if spec.kind == "tensor":
                names = unpacks.get(a.arg)
                if names is not None and len(names) != spec.rank:
                    raise TileTypeError(
                        f"`{a.arg}` has {spec.rank} dimension(s) but the kernel unpacks {len(names)} from "
                        f"{a.arg}.shape", loc)
                dims = tuple(dim_symbol(names[i] if names and names[i] else f"{a.arg}_{i}")
                             for i in range(spec.rank))
                p = ir.Param(a.arg, TensorType(spec.dtype, dims), loc)
                self.scope.names[a.arg] = TensorRef(p)
            else:
                p = ir.Param(a.arg, ValueType(spec.dtype), loc)
                self.scope.names[a.arg] = IRValue(ir.Var(a.arg), p.type)
                self.used_ir_names.add(a.arg)
            params.append(p)
        return params

    def _top_level(self, fn: ast.FunctionDef) -> list[ir.Stmt]:
        out: list[ir.Stmt] = []
        grid_seen = False
        for i, stmt in enumerate(fn.body):
            if i == 0 and isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant):
                continue  # docstring
            if isinstance(stmt, ast.Pass):
                continue
            if isinstance(stmt, ast.Assign) and self._is_compile_time(stmt.value):
                self._assign(stmt)
                continue
            if isinstance(stmt, ast.For) and not grid_seen:
                self.body_stack.append(out)
                self._for(stmt, parallel=True)
                self.body_stack.pop()
                grid_seen = True
                continue
            if isinstance(stmt, ast.For):
                self.fail(stmt, "a kernel has exactly one top-level tile loop (the launch grid); "
                                "nest further loops inside it")
            self.fail(stmt, "only size bindings such as `M, K = a.shape` may stand outside the tile grid "
                            "loop; move this statement inside `for ... in tl.tile(...)`")
        if not grid_seen:
            raise UnsupportedSyntaxError(
                "the kernel has no tile loop: write `for m, n in tl.tile([M, N]):` over the output",
                self.loc(fn))
        return out

    def _is_compile_time(self, node: ast.expr) -> bool:
        """Whether a top-level assignment's value is a size/dtype (computed without emitting IR)."""
        saved = (self.tmp, list(self.used_ir_names))
        self.body_stack.append([])
        try:
            v = self.expr(node)
        except TileLangError:
            return False
        finally:
            emitted = self.body_stack.pop()
            self.tmp = saved[0]
        return not emitted and not isinstance(v, IRValue)

    # ---- statements ------------------------------------------------------------------------------

    def emit(self, stmt: ir.Stmt):
        self.body_stack[-1].append(stmt)

    def block(self, stmts: list[ast.stmt]):
        for s in stmts:
            self.stmt(s)

    def stmt(self, s: ast.stmt):
        if isinstance(s, ast.Assign):
            return self._assign(s)
        if isinstance(s, ast.AugAssign):
            return self._augassign(s)
        if isinstance(s, ast.AnnAssign) and s.value is not None and isinstance(s.target, ast.Name):
            return self._assign(ast.Assign(targets=[s.target], value=s.value, lineno=s.lineno,
                                           col_offset=s.col_offset))
        if isinstance(s, ast.For):
            return self._for(s, parallel=False)
        if isinstance(s, ast.If):
            from .control import lower_if
            return lower_if(self, s)
        if isinstance(s, ast.Return) and self.call_stack:
            self.fail(s, "`return` must be the last statement of a @tl.func helper (helpers are inlined)")
        if isinstance(s, ast.Expr):
            if isinstance(s.value, ast.Constant) and isinstance(s.value.value, str):
                return  # a string used as a comment
            v = self.expr(s.value)
            if v is not None:
                self.fail(s, "this expression's value is unused; assign it or store it into a tensor")
            return
        if isinstance(s, ast.Pass):
            return
        what = {ast.While: "`while` loops", ast.Return: "`return` (kernels write their results into tensors)",
                ast.With: "`with` blocks", ast.Try: "`try` blocks", ast.FunctionDef: "nested functions",
                ast.Break: "`break`", ast.Continue: "`continue`", ast.Global: "`global`",
                ast.Import: "imports", ast.ImportFrom: "imports", ast.Delete: "`del`"}
        name = next((v for k, v in what.items() if isinstance(s, k)), f"`{type(s).__name__}` statements")
        self.fail(s, f"{name} are not supported in a tile kernel; kernels are made of {ALLOWED}")

    def _assign(self, s: ast.Assign):
        if len(s.targets) != 1:
            self.fail(s, "chained assignment `a = b = ...` is not supported; assign one name at a time")
        target = s.targets[0]
        if isinstance(target, ast.Tuple):
            value = self.expr(s.value)
            if isinstance(value, (ValueTuple, TupleValue)):  # `values, indices = tl.topk(...)`, `a, b = helper(x)`
                if len(target.elts) != len(value.items) or not all(isinstance(t, ast.Name) for t in target.elts):
                    self.fail(s, f"this call returns {len(value.items)} values: unpack them into "
                                 f"{len(value.items)} plain names")
                for t, v in zip(target.elts, value.items):
                    if t.id != "_":
                        self._bind(t.id, v, s)
                return
            if not isinstance(value, SizeTuple):
                self.fail(s, "tuple assignment is only supported for sizes, as in `M, K = a.shape`")
            if len(target.elts) != len(value.items):
                self.fail(s, f"cannot unpack {len(value.items)} sizes into {len(target.elts)} names")
            for t, v in zip(target.elts, value.items):
                if not isinstance(t, ast.Name):
                    self.fail(t, "unpack sizes into plain names")
                if t.id != "_":
                    self.scope.names[t.id] = v
            return
        if isinstance(target, ast.Subscript):
            return self._store(target, s.value, None, s)
        if not isinstance(target, ast.Name):
            self.fail(target, "assign to a name or to a tensor element `x[m, n] = ...`")
        self._bind(target.id, self.expr(s.value), s)

    def _augassign(self, s: ast.AugAssign):
        op = _BINOPS.get(type(s.op))
        if op is None:
            self.fail(s, f"`{type(s.op).__name__}=` is not supported")
        if isinstance(s.target, ast.Subscript):
            self.fail(s, "`x[i] op= v` on a tensor element is not supported: programs run in parallel, so a "
                         "load-modify-store would race with other programs writing the same element. Use "
                         "tl.atomic_add(x[i], v) (or atomic_max / atomic_min), or load, compute, then store "
                         "when this program alone writes x[i]")
        if not isinstance(s.target, ast.Name):
            self.fail(s.target, "augmented assignment needs a plain name on the left")
        current = self.lookup(s.target.id, s.target)
        rhs = self.expr(s.value)
        self._bind(s.target.id, self.binary(op, current, rhs, s), s)

    def _bind(self, name: str, value, node):
        """Python `name = value`: names of IR values become IR variables (assigned again in loops)."""
        if name in self.tile_names:
            self.fail(node, f"`{name}` is a tile loop variable and cannot be assigned", NameError_)
        if not isinstance(value, (IRValue, Literal)):
            self.scope.names[name] = value  # sizes, dtypes, ... are compile-time
            return
        value = self.materialize(value, node)
        old = self.scope.names.get(name)
        if (isinstance(old, IRValue) and isinstance(old.value, ir.Var) and old.value.name not in self._param_names()
                and old.value.name not in self.pinned_ir_names):
            irname = old.value.name
            if old.type != value.type:
                if self.scope.depth.get(irname, 0) < self.loop_depth:
                    self.fail(node, f"`{name}` is {old.type} before this loop but {value.type} here; a value "
                                    f"carried across loop iterations keeps one type (convert with .to())",
                              TileTypeError)
                irname = self.fresh_name(name)
        else:
            irname = self.fresh_name(name)
        self._emit_assign(irname, value, node)
        self.scope.names[name] = IRValue(ir.Var(irname), value.type)

    def _param_names(self) -> set[str]:
        return set(self.signature)

    def _emit_assign(self, irname: str, value: IRValue, node):
        # Rename the last temporary instead of copying when the value was just computed.
        body = self.body_stack[-1]
        if (isinstance(value.value, ir.Var) and body and isinstance(body[-1], ir.Assign)
                and body[-1].name == value.value.name and value.value.name.isdigit()):
            last = body.pop()
            body.append(ir.Assign(irname, last.type, last.value, last.loc))
        else:
            body.append(ir.Assign(irname, value.type, ir.Op("copy", (value.value,)), self.loc(node)))
        self.scope.depth.setdefault(irname, self.loop_depth)

    def fresh_name(self, base: str) -> str:
        name, i = base, 0
        while name in self.used_ir_names:
            i += 1
            name = f"{base}.{i}"
        self.used_ir_names.add(name)
        return name

    # ---- tile loops ------------------------------------------------------------------------------

    def _for(self, s: ast.For, parallel: bool):
        if s.orelse:
            self.fail(s, "`for ... else` is not supported")
        call = s.iter
        fn = self.resolve_callee(call.func) if isinstance(call, ast.Call) else None
        from tilelang import api, dsl
        if fn is dsl.static_range:
            from .control import lower_static_range
            return lower_static_range(self, s, call)
        if fn is not api.tile:
            self.fail(s.iter, "loops in a kernel iterate over tiles: `for m, n in tl.tile([M, N]):` "
                              "or are unrolled: `for i in tl.static_range(4):` (Python `range` loops are not "
                              "supported)")
        if len(call.args) == 2 and not parallel:
            from .control import runtime_tiles
            return self._loop_body(s, runtime_tiles(self, s, call), parallel)
        if len(call.args) == 2:
            self.fail(call, "the grid loop runs over sizes (`tl.tile([M, N])`); runtime bounds "
                            "`tl.tile(lo, hi)` are for loops nested inside it")
        if len(call.args) != 1:
            self.fail(call, "tl.tile takes one argument: a size or a list of sizes, e.g. tl.tile([M, N])")
        extents_node = call.args[0]
        extent_nodes = extents_node.elts if isinstance(extents_node, (ast.List, ast.Tuple)) else [extents_node]
        extents = []
        for en in extent_nodes:
            v = self.expr(en)
            if isinstance(v, Literal) and isinstance(v.value, int) and not isinstance(v.value, bool) and v.value > 0:
                v = Size(sympy.Integer(v.value))
            if not isinstance(v, Size):
                self.fail(en, "a tile loop runs over sizes: tensor dimensions such as M from "
                              "`M, K = a.shape`, or positive integers")
            extents.append(v.expr)
        names = self._loop_targets(s.target, len(extents))
        blocks = self._blocks(call, names, extents)
        tiles = tuple(ir.TileVar(n, e, b) for n, e, b in zip(names, extents, blocks))
        self._loop_body(s, tiles, parallel)

    def _loop_body(self, s: ast.For, tiles: tuple[ir.TileVar, ...], parallel: bool):
        if not parallel:
            self._carry_immutable_names(s)
        saved_names, saved_tiles = dict(self.scope.names), set(self.tile_names)
        renamed = []
        for t in tiles:
            py_name = t.name
            if t.name in self.tile_names and self.call_stack:
                # A @tl.func helper's loop inside a caller's loop of the same name: the helper's own
                # names are private, so its tile gets a fresh IR name (same tile size entry).
                fresh = t.name
                while fresh in self.tile_names or fresh in self.used_ir_names:
                    fresh += "_"
                t = dataclasses.replace(t, name=fresh)
            elif t.name in self.tile_names:
                self.fail(s.target, f"tile variable `{t.name}` is already used by an enclosing loop", NameError_)
            renamed.append(t)
            self.tile_names.add(t.name)
            self.scope.names[py_name] = TileRef(t)
        tiles = tuple(renamed)
        self.loop_depth += 1
        body: list[ir.Stmt] = []
        self.body_stack.append(body)
        self.block(s.body)
        self.body_stack.pop()
        self.loop_depth -= 1
        if parallel:
            tiles += tuple(self.whole_tiles.values())
        # Names first bound inside the loop do not exist after it (it may run zero times).
        after = {}
        for k, v in saved_names.items():
            after[k] = self.scope.names.get(k, v)
        self.scope.names = after
        self.tile_names = saved_tiles
        self.emit(ir.TileLoop(tiles, tuple(body), parallel, self.loc(s), self._order(s.iter, parallel)))

    def _order(self, call: ast.Call, parallel: bool) -> str:
        """`order="grouped"` on the launch grid: programs in grouped order (GROUP_M from the Config)."""
        kw = next((k for k in call.keywords if k.arg == "order"), None)
        if kw is None:
            return "row"
        if not (isinstance(kw.value, ast.Constant) and kw.value.value in ir.PROGRAM_ORDERS):
            self.fail(kw.value, f"order= is one of {', '.join(repr(o) for o in ir.PROGRAM_ORDERS)}")
        if not parallel and kw.value.value != "row":
            self.fail(kw.value, "order= applies to the launch grid (the outermost tile loop) only")
        return kw.value.value

    def _carry_immutable_names(self, s: ast.For):
        """A scalar parameter (or a value passed into a @tl.func) keeps its IR variable: a loop that
        reassigns its name carries a copy made before the loop, so each iteration sees the last one.
        A name bound to a tensor size that the loop reassigns gets an IR variable before the loop."""
        assigned = {n.id for st in s.body for n in ast.walk(st) if isinstance(n, ast.Name)
                    and isinstance(n.ctx, ast.Store)}
        for name in sorted(assigned):
            v = self.scope.names.get(name)
            if isinstance(v, Size):
                # `best = N` before a loop that reassigns `best` from runtime values: the loop carries
                # an IR variable, defined before the loop (which may run zero times).
                value = self.materialize(v, s)
                fresh = self.fresh_name(name)
                self._emit_assign(fresh, value, s)
                self.scope.depth.setdefault(fresh, self.loop_depth)
                self.scope.names[name] = IRValue(ir.Var(fresh), value.type)
                continue
            if (isinstance(v, IRValue) and isinstance(v.value, ir.Var)
                    and (v.value.name in self._param_names() or v.value.name in self.pinned_ir_names)):
                fresh = self.fresh_name(name)
                self.emit(ir.Assign(fresh, v.type, ir.Op("copy", (v.value,)), self.loc(s)))
                self.scope.depth.setdefault(fresh, self.loop_depth)
                self.scope.names[name] = IRValue(ir.Var(fresh), v.type)

    def whole_tile(self, dim: sympy.Expr, node) -> ir.TileVar:
        """The implicit tile spanning all of tensor dimension `dim` (for `x[m, :]` and `tl.zeros([m, D])`)."""
        if not isinstance(dim, sympy.Symbol):
            self.fail(node, f"`:` takes a whole dimension, which needs a size name; this dimension is "
                            f"{format_expr(dim)}", TileTypeError)
        t = self.whole_tiles.get(dim)
        if t is None:
            name = f"{dim.name}_all"
            while name in self.tile_names or name in self.used_ir_names or any(
                    w.name == name for w in self.whole_tiles.values()):
                name += "_"
            t = self.whole_tiles[dim] = ir.TileVar(name, dim, dim)
        return t

    def _loop_targets(self, target, count: int) -> list[str]:
        elts = target.elts if isinstance(target, ast.Tuple) else [target]
        if len(elts) != count or not all(isinstance(e, ast.Name) for e in elts):
            self.fail(target, f"the tile loop has {count} dimension(s): name one tile variable per "
                              f"dimension, e.g. `for m, n in tl.tile([M, N])`")
        return [e.id for e in elts]

    def _blocks(self, call: ast.Call, names: list[str], extents: list[sympy.Expr]) -> list[sympy.Expr]:
        block_kw = next((k for k in call.keywords if k.arg == "block"), None)
        other = [k.arg for k in call.keywords if k.arg not in ("block", "order")]
        if other:
            self.fail(call, f"tl.tile got unexpected keyword(s) {', '.join(other)}; only `block=` and `order=` "
                            "are accepted")
        default = [dim_symbol(f"BLOCK_{n.upper()}") for n in names]
        if block_kw is None:
            return default
        nodes = block_kw.value.elts if isinstance(block_kw.value, (ast.List, ast.Tuple)) else [block_kw.value]
        if len(nodes) != len(names):
            self.fail(block_kw.value, f"block= needs {len(names)} entries, one per tile dimension")
        out = []
        for n, d, extent in zip(nodes, default, extents):
            if isinstance(n, ast.Constant) and isinstance(n.value, str) and n.value.isidentifier():
                out.append(dim_symbol(n.value))
            elif isinstance(n, ast.Constant) and type(n.value) is int and n.value > 0:
                out.append(sympy.Integer(n.value))
            elif isinstance(n, ast.Constant) and n.value is None:
                out.append(d)
            elif isinstance(v := self._maybe_literal(n), Literal) and type(v.value) is int and v.value > 0:
                out.append(sympy.Integer(v.value))  # a constant parameter or global: `block=BM`
            elif isinstance(v := self._maybe_size(n), Size) and isinstance(v.expr, sympy.Symbol):
                if v.expr != extent:
                    self.fail(n, f"block={v.expr.name} names a tensor size; a size block makes one whole-dimension "
                                 f"tile, so it must be the loop's own extent ({format_expr(extent)})")
                out.append(v.expr)  # `block=D` over D: one whole-dimension tile
            else:
                self.fail(n, "a block size is a positive int (a literal, a constant parameter or a global), the "
                             "name of a Config entry (a string), or the loop's own extent for one whole-dimension "
                             "tile (`tl.tile(D, block=D)`)")
        return out

    def _maybe_literal(self, node):
        """A name bound to a compile-time Python value (a constant parameter, a global), else None."""
        try:
            v = self.expr(node) if isinstance(node, ast.Name) else None
        except TileLangError:
            return None
        return v if isinstance(v, Literal) else None

    def _maybe_size(self, node):
        try:
            return self.expr(node) if isinstance(node, ast.Name) else None
        except TileLangError:
            return None

    # ---- loads and stores ------------------------------------------------------------------------

    def _index(self, sub: ast.Subscript):
        """(tensor param, index items, result shape) for `x[i, j]` on a tensor parameter."""
        base = self.expr(sub.value)
        if not isinstance(base, TensorRef):
            return None
        p = base.param
        nodes = sub.slice.elts if isinstance(sub.slice, ast.Tuple) else [sub.slice]
        if len(nodes) != p.type.rank:
            self.fail(sub, f"`{p.name}` has {p.type.rank} dimension(s) but is indexed with {len(nodes)}",
                      TileTypeError)
        items, shape = [], []
        for n, dim in zip(nodes, p.type.shape):
            if isinstance(n, ast.Slice):
                if n.lower is not None or n.upper is not None or n.step is not None:
                    self.fail(n, "only `:` (the whole dimension) is supported in tensor indexing; tile a "
                                 "dimension with tl.tile and index it with the tile variable")
                t = self.whole_tile(dim, n)
                items.append(ir.TileIndex(t.name))
                shape.append(t.block)
                continue
            v = self.expr(n)
            if isinstance(v, TileRef):
                items.append(ir.TileIndex(v.var.name))
                shape.append(v.var.block)
                continue
            if isinstance(v, Size):
                v = self.size_value(v, n)
            if isinstance(v, Literal) and type(v.value) is int:
                v = IRValue(ir.Const(v.value, "i32"), ValueType("i32"))
            if isinstance(v, IRValue) and dtypes.is_int(v.type.dtype):
                items.append(ir.ValueIndex(v.value))
                shape.extend(v.type.shape)
                continue
            self.fail(n, "an index is a tile variable, an integer scalar, or an integer tile (a gather)",
                      TileTypeError)
        return p, tuple(items), tuple(shape)

    def load(self, sub: ast.Subscript, other=None, mask=None, node=None):
        indexed = self._index(sub)
        if indexed is None:
            return None
        p, items, shape = indexed
        vt = ValueType(p.type.dtype, shape)
        other_v = None
        if other is not None:
            other_v = self.coerce(self.expr(other), p.type.dtype, other).value
        mask_v = self._mask(mask, shape) if mask is not None else None
        return self.assign_tmp(vt, ir.Load(p.name, items, other_v, mask_v), node or sub)

    def _mask(self, node, shape):
        m = self.materialize(self.expr(node), node)
        if m.type.dtype != "bool":
            self.fail(node, f"a mask must be a bool tile, got {m.type}", TileTypeError)
        if broadcast_shapes(m.type.shape, shape) != tuple(shape):
            self.fail(node, f"mask {m.type} does not broadcast to the indexed shape "
                            f"[{', '.join(map(format_expr, shape))}]", ShapeMismatchError)
        return m.value

    def _store(self, target: ast.Subscript, value_node, mask_node, stmt, atomic: str | None = None):
        indexed = self._index(target)
        if indexed is None:
            self.fail(target, "only tensor parameters can be stored into")
        p, items, shape = indexed
        if atomic is not None and p.type.dtype not in ir.ATOMIC_DTYPES:
            self.fail(target, f"tl.atomic_{atomic} on `{p.name}` of {p.type.dtype}: atomics support "
                              f"{', '.join(ir.ATOMIC_DTYPES)} tensors", TileTypeError)
        value = self.expr(value_node)
        if isinstance(value, Literal):
            value = self.coerce(value, p.type.dtype, value_node)
        value = self.materialize(value, value_node)
        if value.type.dtype != p.type.dtype:
            self.fail(value_node, f"storing {value.type.dtype} into `{p.name}` of {p.type.dtype}: convert "
                                  f"explicitly, e.g. `(...).to({p.name}.dtype)`", TileTypeError)
        if value.type.shape != shape:
            if broadcast_shapes(value.type.shape, shape) != shape:
                self.fail(value_node, f"cannot store a {value.type} value into `{p.name}[...]` of shape "
                                      f"[{', '.join(map(format_expr, shape))}]", ShapeMismatchError)
            value = self.op("broadcast_to", [value], {"shape": shape}, value_node)
        mask_v = self._mask(mask_node, shape) if mask_node is not None else None
        self.emit(ir.Store(p.name, items, value.value, mask_v, None, self.loc(stmt), atomic))

    # ---- expressions -------------------------------------------------------------------------------

    def lookup(self, name: str, node):
        if name in self.scope.names:
            return self.scope.names[name]
        try:
            return self._python_value(self.src.closure_value(name), node)
        except KeyError:
            pass
        g = self.src.globals
        if name in g:
            return self._python_value(g[name], node)
        import builtins
        if hasattr(builtins, name):
            return PyObject(getattr(builtins, name))
        self.fail(node, f"name `{name}` is not defined", NameError_)

    def _python_value(self, obj, node):
        if isinstance(obj, (bool, int, float)):
            return Literal(obj)
        dt = dsl.dtype_name(obj) if not isinstance(obj, str) else None
        if dt is not None:
            return DTypeValue(dt)
        return PyObject(obj)

    def resolve_callee(self, node):
        try:
            v = self.expr(node)
        except TileLangError:
            return None
        return v.obj if isinstance(v, PyObject) else v

    def expr(self, node: ast.expr):
        method = getattr(self, "_e_" + type(node).__name__, None)
        if method is None:
            what = {"Lambda": "lambdas", "ListComp": "list comprehensions", "Dict": "dicts",
                    "IfExp": "conditional expressions (use tl.where)", "BoolOp": "`and`/`or` (use & and |)",
                    "JoinedStr": "f-strings", "Starred": "`*` unpacking", "NamedExpr": "`:=`"}
            self.fail(node, f"{what.get(type(node).__name__, type(node).__name__)} are not supported in a "
                            "tile kernel")
        return method(node)

    def _e_Constant(self, node):
        if isinstance(node.value, (bool, int, float)):
            return Literal(node.value)
        self.fail(node, f"constant {node.value!r} is not a number")

    def _e_Name(self, node):
        return self.lookup(node.id, node)

    def _e_Attribute(self, node):
        base = self.expr(node.value)
        a = node.attr
        if isinstance(base, PyObject):
            if not hasattr(base.obj, a):
                self.fail(node, f"`{ast.unparse(node)}` does not exist", NameError_)
            return self._python_value(getattr(base.obj, a), node)
        if isinstance(base, TensorRef):
            if a == "shape":
                return SizeTuple(tuple(Size(d) for d in base.param.type.shape))
            if a == "dtype":
                return DTypeValue(base.param.type.dtype)
            self.fail(node, f"tensors have `.shape` and `.dtype`; `.{a}` is not available in a kernel")
        if isinstance(base, TileRef):
            if a in _TILE_ATTRS:
                op = _TILE_ATTRS[a]
                attrs = {"tile": base.var.name}
                if op == "tile_index":
                    attrs["block"] = base.var.block
                return self.op(op, [], attrs, node)
            if a == "size":
                return Size(base.var.block)
            self.fail(node, f"a tile variable has .index (its global indices), .start, .id and .size; "
                            f"not .{a}")
        if isinstance(base, IRValue):
            if a == "T":
                return self.op("trans", [base], {}, node)
            if a == "dtype":
                return DTypeValue(base.type.dtype)
            if a in ("to", "sum", "max", "min", "argmax", "argmin", "reshape"):
                return BoundMethod(base, a)
            if a == "shape":
                return SizeTuple(tuple(Size(d) for d in base.type.shape))
            self.fail(node, f"tile values have .to(), .sum(), .max(), .min(), .argmax(), .argmin(), .reshape(), "
                            f".T, .shape and .dtype; not .{a}")
        self.fail(node, f"`.{a}` is not available here")

    def _e_Subscript(self, node):
        base = self.expr(node.value)
        if isinstance(base, TensorRef):
            return self.load(node)
        if isinstance(base, SizeTuple):
            idx = self.expr(node.slice)
            if isinstance(idx, Literal) and type(idx.value) is int and -len(base.items) <= idx.value < len(base.items):
                return base.items[idx.value]
            self.fail(node.slice, f"index into .shape with an int in range(-{len(base.items)}, {len(base.items)})")
        if isinstance(base, IRValue):
            from .shapes import index_tile
            return index_tile(self, base, node)
        self.fail(node, "only tensors, .shape and tiles (with `[:, None]` or `[:, a:b]`) can be indexed")

    def _e_BinOp(self, node):
        # `a + b + c + ...` nests to the left as deep as it is long: walk that spine in a loop, so a
        # 1000-term sum neither recurses 1000 levels deep nor hits Python's recursion limit.
        spine = []
        while isinstance(node, ast.BinOp):
            if type(node.op) not in _BINOPS:
                self.fail(node, f"operator `{type(node.op).__name__}` is not supported")
            spine.append(node)
            node = node.left
        acc = self.expr(node)
        for n in reversed(spine):
            acc = self.binary(_BINOPS[type(n.op)], acc, self.expr(n.right), n)
        return acc

    def _e_UnaryOp(self, node):
        v = self.expr(node.operand)
        if isinstance(node.op, ast.UAdd):
            return v
        if isinstance(node.op, ast.Not):
            self.fail(node, "`not` is not supported on tiles; use `~`")
        if isinstance(v, Literal):
            if isinstance(node.op, ast.Invert) and type(v.value) is not int:
                self.fail(node, f"`~` needs an integer, got {v.value!r}", TileTypeError)
            return Literal(-v.value if isinstance(node.op, ast.USub) else ~v.value)
        if isinstance(v, Size) and isinstance(node.op, ast.USub):
            return Size(-v.expr)
        return self.op("neg" if isinstance(node.op, ast.USub) else "not", [self.materialize(v, node)], {}, node)

    def _e_Compare(self, node):
        if len(node.ops) != 1:
            self.fail(node, "chained comparisons are not supported; combine with `&`")
        op = _CMPOPS.get(type(node.ops[0]))
        if op is None:
            self.fail(node, f"comparison `{type(node.ops[0]).__name__}` is not supported")
        return self.binary(op, self.expr(node.left), self.expr(node.comparators[0]), node)

    def _e_Call(self, node):
        callee = self.expr(node.func)
        if isinstance(callee, BoundMethod):
            return self._method(callee, node)
        if isinstance(callee, PyObject):
            name = getattr(callee.obj, "__tilelang_builtin__", None)
            if name is not None:
                from .builtins import call_builtin
                return call_builtin(self, name, node)
            import builtins
            if callee.obj in (builtins.min, builtins.max, builtins.abs, builtins.float, builtins.int):
                from .builtins import call_python_builtin
                return call_python_builtin(self, callee.obj.__name__, node)
            from tilelang import api
            if callee.obj is api.tile:
                self.fail(node, "tl.tile(...) is only used as a loop: `for m in tl.tile(M):`")
            if isinstance(callee.obj, api.TileFunc):
                from .funcs import inline_call
                return inline_call(self, callee.obj, node)
        self.fail(node.func, f"`{ast.unparse(node.func)}` cannot be called in a kernel; kernels call tl.* "
                             "functions and tile methods")

    def _method(self, m: BoundMethod, node):
        from .builtins import reduce_call, to_dtype
        if m.name == "reshape":
            from .shapes import reshape_call
            return reshape_call(self, m.receiver, node.args, node.keywords, node)
        if m.name == "to":
            if len(node.args) != 1 or node.keywords:
                self.fail(node, ".to() takes one dtype, e.g. x.to(tl.float16) or x.to(c.dtype)")
            return self.op("cast", [m.receiver], {"dtype": to_dtype(self, node.args[0])}, node)
        return reduce_call(self, m.name, m.receiver, node.args, node.keywords, node)

    # ---- building IR values --------------------------------------------------------------------------

    def assign_tmp(self, vt: ValueType, expr, node) -> IRValue:
        self.tmp += 1
        while str(self.tmp) in self.used_ir_names:
            self.tmp += 1
        name = str(self.tmp)
        self.used_ir_names.add(name)
        self.emit(ir.Assign(name, vt, expr, self.loc(node)))
        return IRValue(ir.Var(name), vt)

    def op(self, name: str, args: list[IRValue], attrs: dict, node) -> IRValue:
        try:
            vt = result_type(name, [a.type for a in args], attrs)
        except OpTypeError as e:
            cls = ShapeMismatchError if "shape" in str(e) else TileTypeError
            raise cls(str(e), self.loc(node)) from None
        return self.assign_tmp(vt, ir.Op(name, tuple(a.value for a in args), tuple(sorted(attrs.items()))), node)

    def size_value(self, s: Size, node) -> IRValue:
        return self.op("size", [], {"expr": s.expr}, node)

    def materialize(self, v, node) -> IRValue:
        """Turn a literal or size into an IR value; reject what cannot be one."""
        if isinstance(v, IRValue):
            return v
        if isinstance(v, Literal):
            return IRValue(ir.Const(v.value, v.default_dtype), ValueType(v.default_dtype))
        if isinstance(v, Size):
            return self.size_value(v, node)
        kind = {TileRef: "a tile variable (use .index for its indices)", TensorRef: "a tensor (index it to load)",
                DTypeValue: "a dtype", SizeTuple: "a shape",
                ValueTuple: "a tuple of values (unpack it: `values, indices = tl.topk(x, k, axis)`)"}.get(type(v), "a Python object")
        self.fail(node, f"{kind} cannot be used as a value here", TileTypeError)

    def coerce(self, v, dtype: str, node) -> IRValue:
        """A literal takes `dtype`; other values are materialized as they are."""
        if isinstance(v, Literal):
            value = v.value
            if dtypes.is_float(dtype):
                value = float(value)
            elif dtypes.is_int(dtype):
                if isinstance(value, float):
                    if not value.is_integer():
                        self.fail(node, f"{value!r} is not an integer, but is used with {dtype}", TileTypeError)
                value = int(value)
                lo, hi = dtypes.int_range(dtype)
                if not lo <= value <= hi:
                    self.fail(node, f"{value} does not fit in {dtype} (range {lo} to {hi}); convert explicitly",
                              TileTypeError)
            else:
                value = bool(value)
            return IRValue(ir.Const(value, dtype), ValueType(dtype))
        return self.materialize(v, node)

    def _fold(self, op: str, x, y, node) -> Literal:
        """Arithmetic on two Python constants happens at compile time, with Python's semantics."""
        fn = _PY_OPS.get(op)
        if fn is None:
            self.fail(node, f"`{op}` on two Python constants is not supported")
        try:
            return Literal(fn(x, y))
        except ZeroDivisionError:
            self.fail(node, "division by zero in a constant expression")

    def binary(self, op: str, a, b, node):
        if op in _CMP_NAMES and isinstance(a, (Size, Literal)) and isinstance(b, (Size, Literal)):
            from .control import fold_size_compare
            folded = fold_size_compare(self, op, a, b)
            if folded is not None:
                return folded
        if isinstance(a, (Size, Literal)) and isinstance(b, (Size, Literal)) and (
                isinstance(a, Size) or isinstance(b, Size)) and op in ("add", "sub", "mul", "floordiv"):
            ea = a.expr if isinstance(a, Size) else a.value
            eb = b.expr if isinstance(b, Size) else b.value
            if all(isinstance(x, sympy.Basic) or type(x) is int for x in (ea, eb)):
                r = {"add": lambda: ea + eb, "sub": lambda: ea - eb, "mul": lambda: ea * eb,
                     "floordiv": lambda: sympy.floor(sympy.sympify(ea) / eb)}[op]()
                return Size(sympy.sympify(r))
        if isinstance(a, Literal) and isinstance(b, Literal):
            return self._fold(op, a.value, b.value, node)
        if isinstance(a, Literal):
            b = self.materialize(b, node)
            a = self.coerce(a, _literal_dtype(a, b.type.dtype), node)
        elif isinstance(b, Literal):
            a = self.materialize(a, node)
            b = self.coerce(b, _literal_dtype(b, a.type.dtype), node)
        else:
            a, b = self.materialize(a, node), self.materialize(b, node)
        return self.op(op, [a, b], {"precision": "ieee"} if op == "dot" else {}, node)


_CMP_NAMES = frozenset(_CMPOPS.values())

_PY_OPS = {"add": lambda x, y: x + y, "sub": lambda x, y: x - y, "mul": lambda x, y: x * y,
           "truediv": lambda x, y: x / y, "floordiv": lambda x, y: x // y, "mod": lambda x, y: x % y,
           "lt": lambda x, y: x < y, "le": lambda x, y: x <= y, "gt": lambda x, y: x > y, "ge": lambda x, y: x >= y,
           "eq": lambda x, y: x == y, "ne": lambda x, y: x != y, "maximum": max, "minimum": min}


def _literal_dtype(lit: Literal, other: str) -> str:
    """The dtype a literal takes next to a value of dtype `other` (a float literal floats an int tile)."""
    if isinstance(lit.value, float) and not dtypes.is_float(other):
        return "f32"
    if isinstance(lit.value, bool) or other != "bool":
        return other
    return "i32"


def lower(src: FunctionSource, signature: dict[str, ArgSpec],
          assumptions: tuple[ir.Assumption, ...] = (), config: dict[str, int] | None = None) -> ir.Kernel:
    return Lowerer(src, signature, assumptions, config).lower()
