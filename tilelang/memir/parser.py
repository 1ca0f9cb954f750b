"""Parse the explicit-memory level's text form: the tile IR grammar plus the rules below."""

from __future__ import annotations

import functools
from pathlib import Path

from lark import Lark, Token, v_args
from lark.exceptions import LarkError, UnexpectedInput, VisitError

from tilelang.errors import IRParseError, Loc
from tilelang.ir import nodes as ir
from tilelang.ir.parser import _Build

from . import nodes as M
from .fragments import FragmentMap

_EXTRA = r"""
memkernel: "memkernel" "@" NAME "(" [param ("," param)*] ")" "threads" INT where? config? loc? "{" buffer* mstmt* "}"
buffer: BUFSPACE VAR ":" value_type swizzle? ring?
swizzle: "swizzle" "(" INT "," INT ("," INT)? ")"
ring: "ring" "(" NAME "," INT ")"
?mstmt: compute | put | barrier | asynccopy | commit | wait | mloop | mif
mif: "if" value loc? "{" mbranch "}" "else" "{" mbranch "}"
mbranch: mstmt*
asynccopy: VAR "=" "async" "ahead" INT FIRST? vec? load loc?
vec: VEC INT
VEC.2: /vec(?![A-Za-z0-9_])/
FIRST.2: /first(?![A-Za-z0-9_])/
commit: "commit" loc?
wait: "wait" INT loc?
compute: VAR "=" expr "map" threadmap loc?
put: STOREKIND VAR "[" index "]" "," value access_tail "map" threadmap loc?
threadmap: MAPKIND | FRAGMENT NAME "[" INT "," INT "]"
FRAGMENT.2: /fragment(?![A-Za-z0-9_])/
barrier: "barrier" loc?
mloop: "tile" LOOPKIND "(" tilevar ("," tilevar)* ")" loc? "{" mstmt* "}"
BUFSPACE.2: /(shared|local|ub|l1|l0a|l0b|l0c)(?![A-Za-z0-9_])/
MAPKIND.2: /(cyclic|uniform)(?![A-Za-z0-9_])/
"""


@functools.cache
def _parser() -> Lark:
    tile_grammar = (Path(__file__).parent.parent / "ir" / "grammar.lark").read_text()
    grammar = tile_grammar.replace("start: kernel", "start: memkernel", 1) + _EXTRA
    return Lark(grammar, parser="lalr", propagate_positions=False)


_STMTS = (M.Compute, M.Put, M.Barrier, M.AsyncCopy, M.Commit, M.Wait, ir.TileLoop, ir.If)


@v_args(inline=True)
class _BuildMem(_Build):
    def buffer(self, space, var, vtype, *rest):
        shape = tuple(int(d) for d in vtype.shape)
        swz = next((r for r in rest if isinstance(r, tuple) and isinstance(r[0], int)), None)
        ring = next((r for r in rest if isinstance(r, tuple) and isinstance(r[0], str)), None)
        return M.Buffer(str(var)[1:], str(space), vtype.dtype, shape, swz, ring)

    def ring(self, tile, stages):
        return (str(tile), int(stages))

    def vec(self, _kw, n):
        return ("vec", int(n))

    def asynccopy(self, var, ahead, *rest):
        first = any(isinstance(r, Token) and r.type == "FIRST" for r in rest)
        load = next(r for r in rest if isinstance(r, ir.Load))
        loc = next((r for r in rest if isinstance(r, Loc)), None)
        vec = next((r[1] for r in rest if isinstance(r, tuple) and r[:1] == ("vec",)), 1)
        return M.AsyncCopy(str(var)[1:], load, int(ahead), first, loc, vec)

    def commit(self, loc=None):
        return M.Commit(loc)

    def wait(self, n, loc=None):
        return M.Wait(int(n), loc)

    def swizzle(self, q, p, u=None):
        return (int(q), int(p)) if u is None else (int(q), int(p), int(u))

    def threadmap(self, kind, name=None, wm=None, wn=None):
        if name is None:
            return str(kind)
        return FragmentMap(str(name), (int(wm), int(wn)))

    def compute(self, var, expr, tmap, loc=None):
        return M.Compute(str(var)[1:], expr, tmap, loc)

    def put(self, kind, var, index, value, tail, tmap, loc=None):
        return M.Put(self.store(kind, var, index, value, tail, loc), tmap)

    def mbranch(self, *stmts):
        return ("branch", tuple(stmts))

    def mif(self, cond, *rest):
        loc = next((r for r in rest if isinstance(r, Loc)), None)
        then, orelse = (r[1] for r in rest if isinstance(r, tuple) and r[:1] == ("branch",))
        return ir.If(cond, then, orelse, loc)

    def barrier(self, loc=None):
        return M.Barrier(loc)

    def mloop(self, kind, *rest):
        tiles = tuple(r for r in rest if isinstance(r, ir.TileVar))
        loc = next((r for r in rest if isinstance(r, Loc)), None)
        body = tuple(r for r in rest if isinstance(r, _STMTS))
        return ir.TileLoop(tiles, body, str(kind) == "parallel", loc)

    def memkernel(self, name, *rest):
        params = tuple(r for r in rest if isinstance(r, ir.Param))
        tagged = dict(r for r in rest if isinstance(r, tuple) and len(r) == 2 and isinstance(r[0], str))
        loc = next((r for r in rest if isinstance(r, Loc)), None)
        threads = next(int(r) for r in rest if isinstance(r, Token) and r.type == "INT")
        buffers = tuple(r for r in rest if isinstance(r, M.Buffer))
        body = tuple(r for r in rest if isinstance(r, _STMTS))
        return M.MemKernel(str(name), params, threads, buffers, body, tagged.get("where", ()),
                           tagged.get("config", ()), loc)


def parse_memkernel(text: str) -> M.MemKernel:
    try:
        tree = _parser().parse(text)
    except UnexpectedInput as e:
        lines = text.splitlines()
        line = lines[e.line - 1] if 0 < e.line <= len(lines) else ""
        raise IRParseError(f"memory-level IR text does not parse at line {e.line}, column {e.column}:\n"
                           f"    {line}\n    {' ' * (e.column - 1)}^") from None
    except LarkError as e:
        raise IRParseError(f"memory-level IR text does not parse: {e}") from None
    try:
        return _BuildMem().transform(tree)
    except VisitError as e:
        if isinstance(e.orig_exc, IRParseError):
            raise e.orig_exc from None
        raise IRParseError(f"memory-level IR text is malformed: {e.orig_exc}") from None
