"""`@tl.tile`: the decorator that turns a Python function into a tile kernel, and calling it."""

from __future__ import annotations

import functools
import threading

from . import backend as backends
from .config import Config
from .errors import (ConfigError, InternalCompilerError, LaunchError, Loc, TileLangError)
from .ir import dtypes
from .ir import nodes as ir


def tile(fn=None, /, *, divisible_by: dict[str, int] | None = None, configs: list[Config] | None = None,
         constants: tuple[str, ...] | list[str] = ()):
    """Decorate a kernel: `@tl.tile` or `@tl.tile(divisible_by={"K": 16})`.

    `constants` names scalar parameters whose values are compile-time constants: the kernel is
    specialized (and cached) per value, and `if causal:` on one lowers only the branch taken.

    Inside a kernel, `tl.tile(...)` is a tile loop instead: `for m, n in tl.tile([M, N]):`.
    `divisible_by` promises that size symbols are multiples of the given ints (checked at every
    call); the masking pass uses it to drop bounds checks.
    """
    if fn is not None and callable(fn) and not isinstance(fn, (list, tuple)):
        return TileKernel(fn, divisible_by=divisible_by or {}, configs=configs, constants=constants)
    if fn is not None:
        raise TileLangError("tl.tile([...]) is a tile loop: use it as `for m in tl.tile(M):` inside a "
                            "@tl.tile kernel")
    return functools.partial(tile, divisible_by=divisible_by, configs=configs, constants=constants)


def func(fn):
    """Decorate a helper that kernels call: `@tl.func`. Calls are inlined while the kernel is lowered,
    so a helper takes and returns anything a kernel expression can be (tile values, scalars, sizes,
    tile variables, tensors) and may itself call helpers (not recursively)."""
    if not callable(fn):
        raise TileLangError("@tl.func decorates a function: `@tl.func` then `def helper(x): ...`")
    return TileFunc(fn)


class TileFunc:
    """A `@tl.func` helper: inlined where a kernel calls it (frontend/funcs.py)."""

    def __init__(self, fn):
        from tilelang.frontend.source import parse_function

        self.fn = fn
        self.src = parse_function(fn)
        self.name = self.src.name
        functools.update_wrapper(self, fn)

    def __repr__(self) -> str:
        return f"<tilelang func {self.name} at {self.src.loc(self.src.tree)}>"

    def __call__(self, *args, **kwargs):
        raise TileLangError(f"@tl.func `{self.name}` can only be called inside a @tl.tile kernel (or another "
                            "@tl.func); it is inlined there")


class TileKernel:
    """A kernel: call it with torch tensors and scalars; `.ir()` / `.source()` show what it becomes."""

    __tilelang_kernel__ = True

    def __init__(self, fn, divisible_by: dict[str, int], configs, constants=()):
        from tilelang.frontend.source import parse_function

        self.fn = fn
        self.src = parse_function(fn)
        self.name = self.src.name
        self.param_names = [a.arg for a in self.src.tree.args.args]
        self.divisible_by = dict(divisible_by)
        self.constants = tuple(constants)
        for c in self.constants:
            if c not in self.param_names:
                raise TileLangError(f"constants names `{c}`, which is not a parameter of `{self.name}` (its "
                                    f"parameters: {', '.join(self.param_names)})", self.loc)
        self.configs = list(configs or [])
        for k, v in self.divisible_by.items():
            if type(v) is not int or v <= 0:
                raise TileLangError(f"divisible_by[{k!r}] must be a positive int, got {v!r}", self.loc)
        self._lock = threading.Lock()
        self._compiled: dict = {}
        self._whole_dims: dict = {}  # signature -> size symbols the kernel is specialized on
        functools.update_wrapper(self, fn)

    @property
    def loc(self) -> Loc:
        return self.src.loc(self.src.tree)

    def __repr__(self) -> str:
        return f"<tilelang kernel {self.name} at {self.loc}>"

    # ---- compilation --------------------------------------------------------------------------------

    def assumptions(self, extra: dict[str, int] | None = None) -> tuple[ir.Assumption, ...]:
        out = [ir.Assumption(k, "div", v) for k, v in sorted(self.divisible_by.items())]
        out += [ir.Assumption(k, "eq", v) for k, v in sorted((extra or {}).items())]
        return tuple(out)

    def lower(self, signature, fixed_sizes: dict[str, int] | None = None, config: Config | None = None) -> ir.Kernel:
        """The kernel's IR for a signature (param -> ArgSpec), before any pass. The Config's tile sizes
        decide compile-time `if`s and `tl.static_range` bounds that depend on them."""
        from tilelang.frontend.lower import lower

        kernel = lower(self.src, signature, self.assumptions(fixed_sizes), dict(config.tiles) if config else None)
        known = set(ir.size_symbols(kernel)) | set(ir.block_symbols(kernel))
        for k in list(self.divisible_by) + list(fixed_sizes or {}):
            if k not in known:
                raise TileLangError(f"`{k}` is not a size of kernel `{self.name}` (its sizes: "
                                    f"{', '.join(ir.size_symbols(kernel))})", self.loc)
        return kernel

    def final_ir(self, signature, config: Config, backend: backends.Backend,
                 fixed_sizes: dict[str, int] | None = None, observe=None) -> ir.Kernel:
        """The kernel's IR after every pass, with the backend's defaults for what the Config leaves open;
        `observe(step, kernel)` sees each step's result."""
        from tilelang.passes import PassContext, run_pipeline

        ctx = PassContext(config=config, target=backend.name,
                          default_parallel_tile=backend.default_parallel_tile,
                          default_sequential_tile=backend.default_sequential_tile,
                          pow2_tiles=backend.pow2_tiles)
        return run_pipeline(self.lower(signature, fixed_sizes, config), ctx, observe)

    def compile(self, signature, config: Config | None, backend: backends.Backend,
                fixed_sizes: dict[str, int] | None = None):
        """(final IR, launcher) for a signature, Config and backend; cached in memory."""
        from tilelang.runtime.cache import cache_key

        config = config or (self.configs[0] if self.configs else Config())
        key = (tuple(sorted(signature.items())), config, backend.name, tuple(sorted((fixed_sizes or {}).items())))
        with self._lock:
            hit = self._compiled.get(key)
        if hit is not None:
            return hit
        final = self.final_ir(signature, config, backend, fixed_sizes)
        launcher = backend.compile_with(final, cache_key(self.src.text, final, backend.name), config)
        with self._lock:
            self._compiled[key] = (final, launcher)
        return final, launcher

    def specialized_sizes(self, signature, bound, config: Config | None = None) -> dict[str, int]:
        """Values of the sizes whole-dimension tiles span (`x[m, :]`): the kernel compiles once per value.
        The Config takes part: compile-time `if`s and `tl.static_range` may depend on its tile sizes."""
        from tilelang.runtime.launch import bind_sizes

        config = config or (self.configs[0] if self.configs else Config())
        key = (tuple(sorted(signature.items())), config)
        with self._lock:
            hit = self._whole_dims.get(key)
        if hit is None:
            lowered = self.lower(signature, None, config)
            hit = (lowered, tuple(ir.whole_dim_symbols(lowered)))
            with self._lock:
                self._whole_dims[key] = hit
        lowered, names = hit
        if not names:
            return {}
        sizes = bind_sizes(self, lowered, bound)
        return {n: sizes[n] for n in names}

    # ---- calling ----------------------------------------------------------------------------------------

    def __call__(self, *args, config: Config | None = None, backend: str | None = None):
        try:
            return self._call(args, config, backend)
        except TileLangError as e:
            raise e.with_traceback(None) from None
        except Exception as e:  # anything else is our bug, not the user's
            raise InternalCompilerError(f"{type(e).__name__}: {e} while running kernel `{self.name}`",
                                        self.loc) from e

    def _call(self, args, config, backend_name):
        from tilelang.runtime.launch import bind_arguments, bind_sizes, grid_size

        if config is not None and not isinstance(config, Config):
            raise ConfigError(f"config= takes a tl.Config, got {type(config).__name__}", self.loc)
        bound, signature, device = bind_arguments(self, args)
        be = backends.get(backend_name) if backend_name else backends.default_for(device)
        ok, why = be.available()
        if not ok:
            raise LaunchError(f"backend {be.name!r} is not usable here: {why}", self.loc)
        if device not in be.devices:
            raise LaunchError(f"backend {be.name!r} runs tensors on {', '.join(be.devices)}, but the arguments "
                              f"are on {device}", self.loc)
        kernel, launcher = self.compile(signature, config, be, self.specialized_sizes(signature, bound, config))
        sizes = bind_sizes(self, kernel, bound)
        grid = grid_size(kernel, sizes)
        if grid == 0:
            return None  # an empty output: nothing to compute
        launcher(bound, sizes, grid)
        return None


def kernel_signature_from_options(kernel: TileKernel, dtype_opts: dict[str, str], ranks: dict[str, int]):
    """Build a signature for ahead-of-time compilation (the CLI), where no tensors exist."""
    from tilelang.frontend.lower import ArgSpec, shape_unpacks

    unpacks = shape_unpacks(kernel.src.tree)
    default = dtype_opts.get("*")
    sig = {}
    for name in kernel.param_names:
        dt = dtype_opts.get(name, default)
        if dt is None:
            raise TileLangError(f"give the dtype of `{name}`: --dtype {name}=f16 (or --dtype f16 for all)")
        norm = dtypes.normalize(dt)
        if norm is None:
            raise TileLangError(f"unknown dtype {dt!r} for `{name}`; use one of {', '.join(dtypes.DTYPES)}")
        rank = ranks.get(name, len(unpacks[name]) if name in unpacks else None)
        if name in kernel.constants:
            raise TileLangError(f"`{name}` is a constant parameter of `{kernel.name}`; ahead-of-time compilation "
                                "does not take constant values yet (call the kernel instead)")
        if rank is None and _is_scalar_param(kernel, name):
            sig[name] = ArgSpec("scalar", norm)
            continue
        if rank is None:
            raise TileLangError(f"cannot tell the rank of `{name}`: unpack its shape in the kernel "
                                f"(`M, K = {name}.shape`)")
        sig[name] = ArgSpec("tensor", norm, rank)
    return sig


def _is_scalar_param(kernel: TileKernel, name: str) -> bool:
    import ast

    for node in ast.walk(kernel.src.tree):
        if isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name) and node.value.id == name:
            return False
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == name:
            return False
    return True
