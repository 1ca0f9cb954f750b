"""`@tl.tile`: the decorator that turns a Python function into a tile kernel, and calling it."""

from __future__ import annotations

import functools
import threading

from . import backend as backends
from .config import Config
from .errors import (ConfigError, InternalCompilerError, LaunchError, Loc, TileLangError)
from .ir import dtypes
from .ir import nodes as ir
from .runtime.freevars import free_value_watcher, tensor_uses


def tile(fn=None, /, *, divisible_by: dict[str, int] | None = None, configs: list[Config] | None = None,
         autotune: bool = False, constants: tuple[str, ...] | list[str] = ()):
    """Decorate a kernel: `@tl.tile` or `@tl.tile(divisible_by={"K": 16})`.

    `constants` names scalar parameters whose values are compile-time constants: the kernel is
    specialized (and cached) per value, and `if causal:` on one lowers only the branch taken.

    Inside a kernel, `tl.tile(...)` is a tile loop instead: `for m, n in tl.tile([M, N]):`.
    `divisible_by` promises that size symbols are multiples of the given ints (checked at every
    call); the masking pass uses it to drop bounds checks. `autotune=True`: the first call of each
    shape class with no tuning-database entry sweeps `configs` (or the space derived from the
    kernel) and stores the winner (see tilelang.autotune).
    """
    if fn is not None and callable(fn) and not isinstance(fn, (list, tuple)):
        return TileKernel(fn, divisible_by=divisible_by or {}, configs=configs, autotune=autotune, constants=constants)
    if fn is not None:
        raise TileLangError("tl.tile([...]) is a tile loop: use it as `for m in tl.tile(M):` inside a "
                            "@tl.tile kernel")
    return functools.partial(tile, divisible_by=divisible_by, configs=configs, autotune=autotune, constants=constants)


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

    def __init__(self, fn, divisible_by: dict[str, int], configs, autotune: bool = False, constants=()):
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
        self.autotune = bool(autotune)
        for k, v in self.divisible_by.items():
            if type(v) is not int or v <= 0:
                raise TileLangError(f"divisible_by[{k!r}] must be a positive int, got {v!r}", self.loc)
        # One memory cache for compiles (signature key -> (final IR, launcher)) and for calls
        # (("call", ...) key -> Runner); clearing it forgets both.
        self._compiled: dict = {}
        self._lock = threading.Lock()  # guards _key_locks and _whole_dims
        self._key_locks: dict = {}  # one lock per key: a specialization compiles once, in one thread
        self.tensor_uses = tensor_uses(self.src, self.param_names)
        self._watch = free_value_watcher(self.src, self.param_names)
        from tilelang.runtime.launch import arg_key

        self._arg_key = arg_key
        if self.constants:  # a constant parameter's value is part of what a call is specialized on
            where = [self.param_names.index(c) for c in self.constants]
            self._arg_key = lambda args: arg_key(args) + tuple((type(args[i]), args[i]) if i < len(args) else None
                                                               for i in where)
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
                 fixed_sizes: dict[str, int] | None = None, observe=None, index_bits: int = 32) -> ir.Kernel:
        """The kernel's IR after every pass, with the backend's defaults for what the Config leaves open;
        `observe(step, kernel)` sees each step's result. `index_bits=64`: the variant for sizes of
        2**31 or more (tile positions and sizes as i64 values)."""
        from tilelang.passes import PassContext, run_pipeline

        ctx = PassContext(config=config, target=backend.name,
                          default_parallel_tile=backend.default_parallel_tile,
                          default_sequential_tile=backend.default_sequential_tile,
                          pow2_tiles=backend.pow2_tiles, index_bits=index_bits)
        return run_pipeline(self.lower(signature, fixed_sizes, config), ctx, observe)

    def compile(self, signature, config: Config | None, backend: backends.Backend,
                fixed_sizes: dict[str, int] | None = None, index_bits: int = 32):
        """(final IR, launcher) for a signature, Config and backend; cached in memory."""
        from tilelang.runtime.cache import cache_key

        config = config or (self.configs[0] if self.configs else Config())
        key = (tuple(sorted(signature.items())), config, backend.name, tuple(sorted((fixed_sizes or {}).items())),
               self._watch(), index_bits)
        with self._lock_for(key):
            hit = self._compiled.get(key)
            if hit is not None:
                return hit
            final = self.final_ir(signature, config, backend, fixed_sizes, index_bits=index_bits)
            launcher = backend.compile_with(final, cache_key(self.src.text, final, backend.name), config)
            self._compiled[key] = (final, launcher)
        return final, launcher

    def whole_dims(self, signature, config: Config | None = None) -> tuple[ir.Kernel, tuple[str, ...]]:
        """(the kernel lowered for a signature, the size symbols its whole-dimension tiles span): the
        kernel compiles once per value of those (`x[m, :]`). The Config takes part: compile-time `if`s
        and `tl.static_range` may depend on its tile sizes."""
        config = config or (self.configs[0] if self.configs else Config())
        key = (tuple(sorted(signature.items())), config)
        with self._lock:
            hit = self._whole_dims.get(key)
        if hit is None:
            lowered = self.lower(signature, None, config)
            hit = (lowered, tuple(ir.whole_dim_symbols(lowered)))
            with self._lock:
                self._whole_dims[key] = hit
        return hit

    def specialized_sizes(self, signature, bound, config: Config | None = None) -> dict[str, int]:
        """Values of the sizes whole-dimension tiles span (`x[m, :]`): the kernel compiles once per value."""
        from tilelang.runtime.launch import bind_sizes

        lowered, names = self.whole_dims(signature, config)
        if not names:
            return {}
        sizes = bind_sizes(self, lowered, bound)
        return {n: sizes[n] for n in names}

    # ---- calling ----------------------------------------------------------------------------------------

    def __call__(self, *args, config: Config | None = None, backend: str | None = None, **kwargs):
        """Run the kernel. The hot path is a dict lookup by a key computed from the arguments' kinds
        (see runtime/launch.py: arg_key) and the watched globals, then the specialization's Runner."""
        try:
            if kwargs:
                args = self._positional(args, kwargs)
            return self._call(args, config, backend)
        except TileLangError as e:
            raise e.with_traceback(None) from None
        except RecursionError:
            raise TileLangError(f"kernel `{self.name}` nests expressions too deeply to compile; split long "
                                "expressions into several statements", self.loc) from None
        except Exception as e:  # anything else is our bug, not the user's
            raise InternalCompilerError(f"{type(e).__name__}: {e} while running kernel `{self.name}`",
                                        self.loc) from e

    def _call(self, args: tuple, config, backend_name):
        if config is None and (self.autotune or not self.configs) and (backend_name is None or type(backend_name) is str):
            # The tuning database's winner for these shapes (or a sweep now, or hardware defaults).
            # The hook's answer depends on the argument kinds (and, once something is tuned, on the
            # shapes' class), so the Runner it leads to is memoized under that same key: a repeat
            # call costs the argument key, the hook's state and one dict lookup.
            from tilelang.autotune.hook import call_memo_key, config_for_args

            akey = self._arg_key(args)
            memo = call_memo_key(self, args, akey, backend_name, self._watch())
            runner = self._compiled.get(memo)
            if runner is None:
                config = config_for_args(self, args, backend_name, memo)
                key = ("call", akey, config, backend_name, memo[-1])
                runner = self._compiled.get(key) or self._specialize(key, args, config, backend_name)
                self._compiled[memo] = runner
            runner.run(args)
            return None
        key = self._call_key(args, config, backend_name)
        runner = self._compiled.get(key)
        if runner is None:
            runner = self._specialize(key, args, config, backend_name)
        runner.run(args)
        return None

    def specialize(self, *args, config: Config | None = None, backend: str | None = None, **kwargs):
        """The Runner a call with these arguments uses (compiled on first use; nothing is launched):
        `.kernel` is its final IR, `.launcher` the backend's launcher, `.source` the generated call code."""
        try:
            if kwargs:
                args = self._positional(args, kwargs)
            key = self._call_key(args, config, backend)
            runner = self._compiled.get(key) or self._specialize(key, args, config, backend)
            if hasattr(runner, "runner_for"):  # compiled per whole-dimension size: this call's one
                runner = runner.runner_for(runner.sizes_of(args))
            return runner
        except TileLangError as e:
            raise e.with_traceback(None) from None

    def _call_key(self, args, config, backend) -> tuple:
        """The specialization key of a call: argument kinds (runtime/launch.py: arg_key), the call
        options and the watched globals. A new thing to specialize on joins this tuple; whatever it
        leaves out, the Runner must check."""
        if config is not None and type(config) is not Config:
            raise ConfigError(f"config= takes a tl.Config, got {type(config).__name__}", self.loc)
        if backend is not None and type(backend) is not str:
            raise LaunchError(f"backend= takes a backend name such as 'cpu', got {type(backend).__name__}",
                              self.loc)
        return ("call", self._arg_key(args), config, backend, self._watch())

    def _positional(self, args: tuple, kwargs: dict) -> tuple:
        """Keyword arguments placed by parameter name, as Python would."""
        names = self.param_names
        if len(args) > len(names):
            raise LaunchError(f"kernel `{self.name}` takes {len(names)} argument(s) ({', '.join(names)}), "
                              f"got {len(args) + len(kwargs)}", self.loc)
        out = dict(zip(names, args))
        for k, v in kwargs.items():
            if k not in names:
                raise LaunchError(f"kernel `{self.name}` has no parameter `{k}` (its parameters: "
                                  f"{', '.join(names)}; config= and backend= are call options)", self.loc)
            if k in out:
                raise LaunchError(f"kernel `{self.name}` got two values for `{k}`", self.loc)
            out[k] = v
        missing = [n for n in names if n not in out]
        if missing:
            raise LaunchError(f"kernel `{self.name}` is missing argument(s) {', '.join(missing)}", self.loc)
        return tuple(out[n] for n in names)

    def _specialize(self, key, args, config, backend_name):
        """First call with this key: full argument checks, compile, build the Runner (one thread per key
        does this; the others wait for it)."""
        from tilelang.runtime.launch import Runner, SizeDispatch, bind_arguments

        with self._lock_for(key):
            runner = self._compiled.get(key)
            if runner is not None:
                return runner
            _, signature, device = bind_arguments(self, args)
            be = backends.get(backend_name) if backend_name else backends.default_for(device)
            ok, why = be.available()
            if not ok:
                raise LaunchError(f"backend {be.name!r} is not usable here: {why}", self.loc)
            if device not in be.devices:
                raise LaunchError(f"backend {be.name!r} runs tensors on {', '.join(be.devices)}, but the "
                                  f"arguments are on {device}", self.loc)
            lowered, whole = self.whole_dims(signature, config)
            if whole:  # compiled per value of those sizes: the Runner dispatches on them
                runner = SizeDispatch(self, lowered, whole, signature, config, be, key[1])
            else:
                kernel, launcher = self.compile(signature, config, be)
                runner = Runner(self, kernel, launcher, key[1],
                                wide=lambda: self.compile(signature, config, be, index_bits=64))
            self._compiled[key] = runner
            return runner

    def _lock_for(self, key) -> threading.Lock:
        with self._lock:
            lock = self._key_locks.get(key)
            if lock is None:
                lock = self._key_locks[key] = threading.Lock()
            return lock


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
