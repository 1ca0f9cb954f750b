"""The call path: checking a call's arguments against a kernel, and the per-specialization launcher.

A call first computes a cheap specialization key from its arguments (`arg_key`: per tensor its
dtype, rank, device type, layout and negative bit; per scalar its kind). The first call with a key
runs the full checks here (`bind_arguments`), compiles, and builds a `Runner`: generated Python
that reads the sizes from the shapes, checks what the key does not guarantee (symbols named twice
agree, `divisible_by`, dimensions tied to a tile extent) with int comparisons, computes the grid
with int arithmetic and calls the backend's launcher. Later calls with that key go straight to the
runner. When a check in a runner fails, the full checks here run again to raise their message.
Kernels compiled per value of some sizes (whole-dimension tiles) get a `SizeDispatch` instead: one
Runner per value, picked by reading those sizes from the shapes.
"""

from __future__ import annotations

import sympy

from tilelang.errors import InternalCompilerError, LaunchError
from tilelang.ir import dtypes
from tilelang.ir import nodes as ir
from tilelang.runtime.limits import INT32_MAX, check_index_width, needs_wide_positions, uses_int32_positions
from tilelang.ir.types import format_expr, size_subs

from .sizecode import NoIntegerForm, py_int_code


def _torch():
    import torch

    return torch


# ---- the specialization key ------------------------------------------------------------------

_I32, _I64 = "i32", "i64"
_tensor_type = None


def arg_key(args) -> tuple:
    """What a call is specialized on, computed without sympy: equal keys share one Runner. Anything
    the key does not tell apart must be checked by the Runner (or be irrelevant to the code).

    Per tensor: (dtype, rank, device type, layout, negative bit, nested); per int: i32 or i64 by
    its value; other values: their type (so a wrong kind of argument never matches a Runner)."""
    global _tensor_type
    tensor = _tensor_type or _set_tensor_type()
    out = []
    for a in args:
        t = type(a)
        if t is tensor or (t is not int and t is not float and isinstance(a, tensor)):
            # a.device.type builds a device object (~0.5 us): ask is_cpu / is_cuda first
            dev = "cpu" if a.is_cpu else "cuda" if a.is_cuda else a.device.type
            out.append((a.dtype, a.dim(), dev, a.layout, a.is_neg(), a.is_nested))
        elif t is int:
            out.append(_I32 if -2147483648 <= a <= 2147483647 else
                       _I64 if -9223372036854775808 <= a <= 9223372036854775807 else int)
        else:
            out.append(t)
    return tuple(out)


def _set_tensor_type():
    global _tensor_type
    _tensor_type = _torch().Tensor
    return _tensor_type


# ---- full checks (first call of a key, and error messages) --------------------------------------

def bind_arguments(kernel, args):
    """(name -> argument, signature name -> ArgSpec, device type) or a LaunchError."""
    from tilelang.frontend.lower import ArgSpec

    torch = _torch()
    names = kernel.param_names
    if len(args) != len(names):
        raise LaunchError(f"kernel `{kernel.name}` takes {len(names)} argument(s) ({', '.join(names)}), "
                          f"got {len(args)}", kernel.loc)
    tensor_uses = getattr(kernel, "tensor_uses", {})
    bound, sig, devices = {}, {}, {}
    for name, a in zip(names, args):
        if name in getattr(kernel, "constants", ()):
            if type(a) not in (bool, int, float):
                raise LaunchError(f"`{name}` is a constant parameter: pass a Python bool, int or float, got "
                                  f"{type(a).__name__}", kernel.loc)
            sig[name] = ArgSpec("const", type(a).__name__, 0, a)
        elif isinstance(a, torch.Tensor):
            check_tensor_kind(kernel, name, a)
            dt = dtypes.from_torch(a.dtype)
            if dt is None:
                raise LaunchError(f"argument `{name}` has dtype {a.dtype}, which tilelang does not support "
                                  f"(supported: {', '.join(dtypes.DTYPES)})", kernel.loc)
            if a.dim() == 0:
                raise LaunchError(f"argument `{name}` is a 0-d tensor; pass a Python number for scalars",
                                  kernel.loc)
            devices[name] = a.device.type
            sig[name] = ArgSpec("tensor", dt, a.dim())
        elif isinstance(a, (bool, int, float)) and name in tensor_uses:
            raise LaunchError(f"argument `{name}` is a Python {type(a).__name__} ({a!r}), but kernel "
                              f"`{kernel.name}` uses `{name}` as a tensor here; pass a torch tensor",
                              tensor_uses[name])
        elif isinstance(a, bool):
            sig[name] = ArgSpec("scalar", "bool")
        elif isinstance(a, int):
            if not -2**63 <= a < 2**63:
                raise LaunchError(f"argument `{name}` = {a} does not fit in a 64-bit integer", kernel.loc)
            sig[name] = ArgSpec("scalar", "i32" if -2**31 <= a < 2**31 else "i64")
        elif isinstance(a, float):
            sig[name] = ArgSpec("scalar", "f32")
        else:
            hint = " (convert numpy arrays with torch.from_numpy)" if type(a).__module__ == "numpy" else ""
            raise LaunchError(f"argument `{name}` is a {type(a).__name__}; kernels take torch tensors and Python "
                              f"numbers{hint}", kernel.loc)
        bound[name] = a
    kinds = set(devices.values())
    if len(kinds) > 1:
        listing = ", ".join(f"{n} on {d}" for n, d in devices.items())
        raise LaunchError(f"kernel `{kernel.name}` got tensors on different devices ({listing}); move them to "
                          "one device", kernel.loc)
    if not devices:
        raise LaunchError(f"kernel `{kernel.name}` needs at least one tensor argument", kernel.loc)
    return bound, sig, kinds.pop()


def check_tensor_kind(kernel, name: str, a) -> None:
    """Reject tensors that are not a strided block of memory. (Negative-bit views are resolved at
    launch instead: see Runner.)"""
    torch = _torch()
    if a.is_nested:
        raise LaunchError(f"argument `{name}` is a nested tensor; kernels take dense tensors "
                          f"(use {name}.to_padded_tensor(0) or unbind it)", kernel.loc)
    if a.layout != torch.strided:
        kind = "sparse" if a.is_sparse or "sparse" in str(a.layout) else str(a.layout).replace("torch.", "")
        raise LaunchError(f"argument `{name}` is a {kind} tensor (layout {a.layout}); kernels take dense "
                          f"strided tensors: pass {name}.to_dense()", kernel.loc)
    if a.is_quantized:
        raise LaunchError(f"argument `{name}` is a quantized tensor; pass {name}.dequantize() or its int_repr()",
                          kernel.loc)


def tied_dims(kernel: ir.Kernel) -> dict[tuple[str, int], sympy.Expr]:
    """Tensor dimensions the kernel never names (no `M, K = a.shape` for them) but indexes only with
    tiles over one extent: (param, dim) -> that extent. Such a dimension must equal its extent at
    launch, or a 4x4 `c` for an 8x8 product would silently get its top-left corner."""
    extents: dict[str, set] = {}
    for s in ir.walk(kernel.body):
        if isinstance(s, ir.TileLoop):
            for t in s.tiles:
                extents.setdefault(t.name, set()).add(t.extent)
    uses: dict[tuple[str, int], set] = {}
    for s in ir.walk(kernel.body):
        access = s.value if isinstance(s, ir.Assign) and isinstance(s.value, ir.Load) else s
        if not isinstance(access, (ir.Load, ir.Store)):
            continue
        for i, item in enumerate(access.index):
            ext = extents.get(item.tile) if isinstance(item, ir.TileIndex) else None
            uses.setdefault((access.tensor, i), set()).add(next(iter(ext)) if ext and len(ext) == 1 else None)
    out = {}
    for p in kernel.params:
        if not p.is_tensor:
            continue
        for i, d in enumerate(p.type.shape):
            found = uses.get((p.name, i), set())
            auto_named = isinstance(d, sympy.Symbol) and d.name == f"{p.name}_{i}"
            if auto_named and len(found) == 1 and None not in found and next(iter(found)) != d:
                out[(p.name, i)] = next(iter(found))
    return out


def bind_sizes(kernel, ir_kernel: ir.Kernel, bound: dict) -> dict[str, int]:
    """Size symbol -> value from the tensors' shapes; checks shared symbols, assumptions and dimensions
    tied to a tile extent agree."""
    sizes: dict[str, int] = {}
    first: dict[str, str] = {}
    for p in ir_kernel.params:
        if not p.is_tensor:
            continue
        actual = bound[p.name].shape
        for i, (d, n) in enumerate(zip(p.type.shape, actual)):
            where = f"{p.name}.shape[{i}]"
            if isinstance(d, sympy.Symbol):
                if d.name in sizes and sizes[d.name] != n:
                    raise LaunchError(f"{where} is {n} but {first[d.name]} is {sizes[d.name]}; the kernel calls "
                                      f"both `{d.name}`, so they must be equal", kernel.loc)
                sizes.setdefault(d.name, int(n))
                first.setdefault(d.name, where)
    for a in ir_kernel.assumptions:
        v = sizes.get(a.symbol)
        if v is None:
            continue
        if a.kind == "div" and v % a.value:
            raise LaunchError(f"kernel `{kernel.name}` requires {a.symbol} to be a multiple of {a.value} "
                              f"(divisible_by), but {a.symbol} = {v}", kernel.loc)
        if a.kind == "eq" and v != a.value:
            raise LaunchError(f"kernel `{kernel.name}` was specialized for {a.symbol} = {a.value}, got {v}",
                              kernel.loc)
    subs = size_subs(sizes)
    for p in ir_kernel.params:
        if not p.is_tensor:
            continue
        actual = bound[p.name].shape
        for i, d in enumerate(p.type.shape):
            if not isinstance(d, sympy.Symbol) and d.free_symbols <= set(subs):
                want = int(d.subs(subs))
                if actual[i] != want:
                    raise LaunchError(f"{p.name}.shape[{i}] is {actual[i]} but the kernel needs "
                                      f"{format_expr(d)} = {want}", kernel.loc)
    for (name, i), ext in tied_dims(ir_kernel).items():
        if ext.free_symbols <= set(subs):
            want = int(ext.subs(subs))
            n = bound[name].shape[i]
            if n != want:
                raise LaunchError(f"{name}.shape[{i}] is {n}, but the kernel indexes that dimension with tiles "
                                  f"over {format_expr(ext)} = {want}; a dimension the kernel does not name "
                                  f"must match the extent it is indexed over (unpack `{name}.shape` to name it)",
                                  kernel.loc)
    return sizes


def grid_size(kernel: ir.Kernel, sizes: dict[str, int]) -> int:
    """Number of programs in the launch grid."""
    subs = size_subs(sizes)
    total = 1
    for t in kernel.grid_loop.tiles:
        total *= int(t.count.subs(subs))
    return total


# ---- the per-specialization launcher -----------------------------------------------------------

class Runner:
    """Launches one specialization: `runner(args)` with the call's positional arguments.

    Built once per specialization key; its body is Python generated from the final IR (size reads,
    int checks, the grid formula), so a call runs no sympy, no sorting and no argument re-binding.
    Tensors with the negative bit set (`z.conj().imag`) are resolved into a copy before the launch
    and, when the kernel writes them, copied back after it.
    """

    def __init__(self, tile_kernel, final: ir.Kernel, launcher, key: tuple, wide=None):
        self.tile_kernel = tile_kernel
        self.key = key
        # () -> (final IR, launcher) of the variant with i64 positions, compiled on the first call
        # with a size of 2**31 or more (passes/widen_positions.py); None: such calls are refused.
        self.wide = wide
        self.wide_runner = None
        self.kernel = final
        self.launcher = launcher
        self.names = [p.name for p in final.params]
        order = {n: i for i, n in enumerate(tile_kernel.param_names)}
        self.index = [order[n] for n in self.names]
        negated = {n for n, k in zip(tile_kernel.param_names, key) if isinstance(k, tuple) and k[4]}
        written = {s.tensor for s in ir.walk(final.body) if isinstance(s, ir.Store)}
        self.negated = negated
        self.written = written
        env = {"launcher": launcher, "recheck": self.recheck, "max": max, "min": min}
        # i32 tile positions cannot serve sizes of 2**31 or more (runtime/limits.py): one int
        # comparison per size in the generated code, the full check (and message) only past it.
        int32_limit = INT32_MAX if uses_int32_positions(final) else None
        try:
            self.source = _runner_source(final, self.index, negated, written, int32_limit)
        except NoIntegerForm:  # sizes with no int form (none known today): keep the sympy path
            self.source, self.run = None, self.slow_run
        else:
            exec(compile(self.source, f"<tilelang runner {final.name}>", "exec"), env)  # noqa: S102 (generated)
            self.run = env["run"]

    def __call__(self, args):
        return self.run(args)

    def _bound(self, args) -> dict:
        return {n: args[i] for n, i in zip(self.names, self.index)}

    def recheck(self, args):
        """A fast check failed: run the full checks for their message, or, where only a size of
        2**31 or more failed them, the variant with i64 positions."""
        sizes = bind_sizes(self.tile_kernel, self.kernel, self._bound(args))
        if self.wide is not None and needs_wide_positions(self.kernel, sizes):
            return self.wide_variant().run(args)
        check_index_width(self.kernel, sizes, self.tile_kernel.loc)
        raise InternalCompilerError(f"the launch checks of kernel `{self.kernel.name}` disagree "
                                    "(fast check failed, full check passed)", self.kernel.loc)

    def wide_variant(self) -> "Runner":
        if self.wide_runner is None:  # a race compiles it twice at worst (compile() itself is locked)
            final, launcher = self.wide()
            self.wide_runner = Runner(self.tile_kernel, final, launcher, self.key)
        return self.wide_runner

    def slow_run(self, args):
        bound = self._bound(args)
        sizes = bind_sizes(self.tile_kernel, self.kernel, bound)
        if self.wide is not None and needs_wide_positions(self.kernel, sizes):
            return self.wide_variant().run(args)
        check_index_width(self.kernel, sizes, self.tile_kernel.loc)
        grid = grid_size(self.kernel, sizes)
        if grid <= 0:
            return
        resolved = {n: (t.resolve_neg() if n in self.negated else t) for n, t in bound.items()}
        self.launcher(resolved, sizes, grid)
        for n in self.negated & self.written:
            bound[n].copy_(resolved[n])


def _runner_source(kernel: ir.Kernel, index: list[int], negated: set[str], written: set[str],
                   int32_limit: int | None = None) -> str:
    """Python source of `run(args)` for one specialization (see Runner)."""
    if not kernel.params:
        raise NoIntegerForm("no parameters")
    var = {n: f"a{i}" for n, i in zip((p.name for p in kernel.params), index)}
    size_var = {}

    def name_of(symbol: str) -> str:
        if symbol not in size_var:
            raise NoIntegerForm(f"size {symbol} is not bound by any tensor shape")
        return size_var[symbol]

    body = [f"    {var[p.name]} = args[{i}]" for p, i in zip(kernel.params, index)]
    later = []
    for p in kernel.params:
        if not p.is_tensor:
            continue
        v = var[p.name]
        body.append(f"    h_{v} = {v}.shape")
        for d, extent in enumerate(p.type.shape):
            if isinstance(extent, sympy.Symbol):
                if extent.name in size_var:
                    body.append(f"    if h_{v}[{d}] != {size_var[extent.name]}: return recheck(args)")
                else:
                    size_var[extent.name] = f"s{len(size_var)}"
                    body.append(f"    {size_var[extent.name]} = h_{v}[{d}]")
            else:
                later.append((v, d, extent))
    for v, d, extent in later:
        body.append(f"    if h_{v}[{d}] != {py_int_code(extent, name_of)}: return recheck(args)")
    for (name, d), extent in tied_dims(kernel).items():
        body.append(f"    if h_{var[name]}[{d}] != {py_int_code(extent, name_of)}: return recheck(args)")
    for a in kernel.assumptions:
        if a.symbol in size_var:
            op = "%" if a.kind == "div" else "!="
            body.append(f"    if {size_var[a.symbol]} {op} {a.value}: return recheck(args)")
    if int32_limit is not None and size_var:
        too_big = " or ".join(f"{v} > {int32_limit}" for v in size_var.values())
        body.append(f"    if {too_big}: return recheck(args)")
    counts = [py_int_code(t.count, name_of) for t in kernel.grid_loop.tiles]
    body.append(f"    grid = {' * '.join(counts) or '1'}")
    body.append("    if grid <= 0: return None")
    launch_args = {}
    for p in kernel.params:
        v = var[p.name]
        if p.name in negated:
            body.append(f"    r_{v} = {v}.resolve_neg()")
            launch_args[p.name] = f"r_{v}"
        else:
            launch_args[p.name] = v
    args_dict = "{" + ", ".join(f"{n!r}: {x}" for n, x in launch_args.items()) + "}"
    sizes_dict = "{" + ", ".join(f"{n!r}: {x}" for n, x in size_var.items()) + "}"
    body.append(f"    launcher({args_dict}, {sizes_dict}, grid)")
    for name in sorted(negated & written):
        body.append(f"    {var[name]}.copy_(r_{var[name]})")
    return "def run(args):\n" + "\n".join(body) + "\n"


class SizeDispatch:
    """A specialization whose kernel compiles per value of some sizes (those whole-dimension tiles
    span, `x[m, :]`): reads them from the shapes with generated code and keeps one Runner per value
    tuple, compiled on first use (one thread compiles, the others wait)."""

    def __init__(self, tile_kernel, lowered: ir.Kernel, names: tuple[str, ...], signature, config, backend,
                 key: tuple):
        import threading

        self.tile_kernel, self.names, self.signature = tile_kernel, names, signature
        self.config, self.backend, self.key = config, backend, key
        self.runners: dict[tuple, Runner] = {}
        self.lock = threading.Lock()
        order = {n: i for i, n in enumerate(tile_kernel.param_names)}
        where = {}
        for p in lowered.params:
            if p.is_tensor:
                for d, extent in enumerate(p.type.shape):
                    if isinstance(extent, sympy.Symbol):
                        where.setdefault(extent.name, (order[p.name], d))
        if all(n in where for n in names):
            reads = ", ".join(f"args[{where[n][0]}].shape[{where[n][1]}]" for n in names)
            self.sizes_of = eval(f"lambda args: ({reads},)", {})  # noqa: S307 (ints from our IR)
        else:  # a size no tensor dimension names: bind every size, with its messages
            def sizes_of(args):
                bound = dict(zip(tile_kernel.param_names, args))
                return tuple(tile_kernel.specialized_sizes(signature, bound, config)[n] for n in names)
            self.sizes_of = sizes_of

    def run(self, args):
        values = self.sizes_of(args)
        runner = self.runners.get(values)
        if runner is None:
            runner = self.runner_for(values)
        runner.run(args)

    __call__ = run

    def runner_for(self, values: tuple) -> Runner:
        with self.lock:
            runner = self.runners.get(values)
            if runner is None:
                fixed = dict(zip(self.names, values))
                final, launcher = self.tile_kernel.compile(self.signature, self.config, self.backend, fixed)
                runner = self.runners[values] = Runner(
                    self.tile_kernel, final, launcher, self.key,
                    wide=lambda: self.tile_kernel.compile(self.signature, self.config, self.backend, fixed,
                                                          index_bits=64))
            return runner
