"""Inlining `@tl.func` helpers into the kernel being lowered.

A helper is lowered at each call, in the caller's IR, with its parameters bound to the caller's
values (tile values, scalars, sizes, tile variables, tensors, dtypes, Python constants). Its body
is read from its own file, so errors point at the helper's lines. Parameters are passed by value:
assigning a parameter inside the helper never changes the caller's variable. Recursion is
rejected: inlining it would never end.
"""

from __future__ import annotations

import ast

from tilelang.errors import UnsupportedSyntaxError

from .values import TupleValue


def _bind_args(lw, f, node: ast.Call) -> dict:
    fn = f.src.tree
    a = fn.args
    if a.vararg or a.kwarg or a.kwonlyargs or a.posonlyargs:
        lw.fail(node, f"@tl.func `{f.name}` must take plain positional parameters (no *args, **kwargs, "
                      "keyword-only)")
    names = [x.arg for x in a.args]
    if len(node.args) > len(names):
        lw.fail(node, f"`{f.name}` takes {len(names)} argument(s), got {len(node.args)}")
    values = {n: lw.expr(v) for n, v in zip(names, node.args)}
    for k in node.keywords:
        if k.arg is None or k.arg not in names:
            lw.fail(k.value, f"`{f.name}` has no parameter `{k.arg}` (its parameters: {', '.join(names)})")
        if k.arg in values:
            lw.fail(k.value, f"argument `{k.arg}` of `{f.name}` given twice")
        values[k.arg] = lw.expr(k.value)
    defaults = dict(zip(names[len(names) - len(f.fn.__defaults__ or ()):], f.fn.__defaults__ or ()))
    for n in names:
        if n not in values:
            if n not in defaults:
                lw.fail(node, f"missing argument `{n}` of `{f.name}`")
            values[n] = lw._python_value(defaults[n], node)
    return values


def inline_call(lw, f, node: ast.Call):
    """Lower a call of @tl.func `f`: its statements go into the current body; returns its value."""
    if f in lw.call_stack:
        chain = " -> ".join(g.name for g in lw.call_stack[lw.call_stack.index(f):] + [f])
        lw.fail(node, f"recursive call of @tl.func `{f.name}` ({chain}): helpers are inlined, so recursion "
                      "is not supported", UnsupportedSyntaxError)
    values = _bind_args(lw, f, node)
    body = list(f.src.tree.body)
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        body = body[1:]  # docstring
    ret = body.pop() if body and isinstance(body[-1], ast.Return) else None

    saved = (lw.src, lw.scope.names, set(lw.pinned_ir_names))
    lw.src = f.src
    lw.scope.names = dict(values)
    for v in values.values():  # the caller's variables must survive assignments to parameters
        for item in (v.items if isinstance(v, TupleValue) else (v,)):
            name = getattr(getattr(item, "value", None), "name", None)
            if isinstance(name, str):
                lw.pinned_ir_names.add(name)
    lw.call_stack.append(f)
    try:
        lw.block(body)
        result = None
        if ret is not None and ret.value is not None:
            if isinstance(ret.value, ast.Tuple):
                result = TupleValue(tuple(lw.expr(e) for e in ret.value.elts))
            else:
                result = lw.expr(ret.value)
    finally:
        lw.call_stack.pop()
        lw.src, lw.scope.names, lw.pinned_ir_names = saved
    return result


__all__ = ["inline_call"]
