"""What a call without `config=` runs with: the tuning database's winner for the call's shape
class, else (for `@tl.tile(autotune=True)`) a sweep run now, else defaults that fit the hardware.
TILELANG_AUTOTUNE=0 skips the database and sweeps: the hardware defaults only.

The answer is memoized per kernel, signature, backend and argument shapes, so only the first call
of a shape pays for the database lookup (a few milliseconds) or the sweep.
"""

from __future__ import annotations

import sqlite3
import sys
import warnings

from tilelang.config import Config
from tilelang.ir import nodes as ir

from .sweep import autotune_enabled, device_arch

_warned = False


def config_for_args(kernel, args: tuple, backend_name: str | None) -> Config | None:
    """The call path's entry (tilelang/api.py `_call`, for calls without `config=`): memoized on
    the arguments' dtypes, shapes and devices, so a repeat call costs one tuple and a dict lookup."""
    import torch

    if any(isinstance(a, torch.Tensor) and (a.is_nested or a.layout is not torch.strided) for a in args):
        return None  # nested / sparse tensors have no plain shape: the call path rejects them with its message
    tuning = autotune_enabled()
    # Per shape only when there is something tuned to look up (or a sweep to run): otherwise the
    # defaults depend on dtypes and ranks alone, and a call with new sizes stays on the cached path.
    per_shape = tuning and (kernel.autotune or _db_present())
    memo_key = (backend_name, tuning, per_shape,
                tuple((a.dtype, a.shape if per_shape else a.dim(), a.device) if hasattr(a, "data_ptr") else type(a)
                      for a in args))
    memo = kernel.__dict__.get("_tuned_for_args")
    if memo is not None:
        hit = memo.get(memo_key, memo)
        if hit is not memo:
            return hit
    from tilelang import backend as backends
    from tilelang.runtime.launch import bind_arguments

    bound, signature, device = bind_arguments(kernel, args)
    be = backends.get(backend_name) if backend_name else backends.default_for(device)
    if device not in be.devices or not be.available()[0]:
        return None  # the call path reports this with its own message
    if per_shape:
        config = config_for_call(kernel, args, bound, signature, be, device)
    else:
        config = hardware_default(kernel.lower(signature), be.name, device, None)
    kernel.__dict__.setdefault("_tuned_for_args", {})[memo_key] = config
    return config


_db_seen = [False, 0.0]


def _db_present() -> bool:
    """Whether the tuning database file exists (rechecked at most once a second until it does)."""
    import time

    from .db import default_path

    if _db_seen[0]:
        return True
    now = time.monotonic()
    if now - _db_seen[1] > 1.0:
        _db_seen[1] = now
        _db_seen[0] = default_path().exists()
    return _db_seen[0]


def config_for_call(kernel, args, bound, signature, backend, device: str) -> Config | None:
    tuning = autotune_enabled()
    # torch.Size is a tuple: hashable as it is; scalars give None
    memo_key = (tuple(signature.values()), backend.name, tuple(getattr(a, "shape", None) for a in args), tuning)
    memo = kernel.__dict__.setdefault("_tuned_for_call", {})
    hit = memo.get(memo_key, memo)
    if hit is not memo:
        return hit
    config = _choose(kernel, args, bound, signature, backend, device, tuning)
    kernel.__dict__.setdefault("_tuned_for_call", {})[memo_key] = config  # a sweep resets the memo
    return config


def _choose(kernel, args, bound, signature, backend, device, tuning: bool):
    from tilelang.runtime.launch import bind_sizes

    from .db import default_path, kernel_key

    base = kernel.lower(signature)
    sizes = bind_sizes(kernel, base, bound)
    if not tuning:
        return hardware_default(base, backend.name, device, sizes)
    key = kernel_key(kernel, signature)
    try:
        path = default_path()
        if not path.exists() and not getattr(kernel, "autotune", False):
            return hardware_default(base, backend.name, device, sizes)  # nothing tuned yet: create no file
        db = _open(path)
        found = db.lookup(key, backend.name, sizes)
    except (sqlite3.Error, OSError) as e:  # a broken database must not break calls
        _warn(f"tilelang: tuning database unusable ({e}); using defaults")
        db, found = None, None
    if found is not None:
        return found
    if getattr(kernel, "autotune", False):
        from .sweep import tune

        result = tune(kernel, *args, backend=backend.name, db=db, store=db is not None,
                      progress=sys.stderr.isatty())
        if result.best is not None:
            return result.best
    return hardware_default(base, backend.name, device, sizes)


def hardware_default(base, target: str, device: str, sizes: dict[str, int] | None = None) -> Config | None:
    """Defaults that fit the hardware when nothing was tuned, for kernels with a `@` (GEMM-like)
    and no whole-dimension tiles (beside those the tiling pass shrinks its own defaults):
    GPU (sm_90): 128 x 256 x 64 tiles, 8 warps, 3 stages, grouped order, kept only if the pruning
    estimate says it fits (shared memory, registers); cpu: 128 x 128 grid tiles and 256-long
    sequential tiles. Each tile is capped at the next power of two of the call's extent. None
    elsewhere: the backend's own defaults apply (the cpu GEMM register block always comes from
    the host's ISA, in codegen)."""
    from .hardware import default_config_values
    from .space import _cap, _has_dot, prune_reason, tile_params

    if target not in ("cpu", "triton") or not _has_dot(base) or ir.whole_dim_symbols(base):
        return None
    params = tile_params(base)
    if target == "cpu":
        d = default_config_values("cpu")
        return Config({p.symbol: _cap([d["parallel"] if p.parallel else d["sequential"]], p.extent, sizes or {})[0]
                       for p in params})
    arch = device_arch(device)
    if arch is None:
        return None  # Triton's interpreter on CPU tensors: the backend's small defaults
    d = default_config_values(target, arch)
    last = len(base.grid_loop.tiles) - 1
    tiles = {}
    for p in params:
        want = d["sequential"] if not p.parallel else d["parallel_n"] if 0 < p.grid_position == last else d["parallel"]
        tiles[p.symbol] = _cap([want], p.extent, sizes or {})[0]
    config = Config(tiles, num_warps=d["num_warps"], num_stages=d["num_stages"],
                    group_m=8 if len(base.grid_loop.tiles) >= 2 else 0)
    return None if prune_reason(base, config, target, arch) else config


_dbs: dict = {}


def _open(path):
    from .db import TuningDB

    if path not in _dbs:
        _dbs[path] = TuningDB(path)
    return _dbs[path]


def _warn(msg: str):
    global _warned
    if not _warned:
        _warned = True
        warnings.warn(msg, RuntimeWarning, stacklevel=3)
