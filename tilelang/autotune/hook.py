"""What a call without `config=` runs with: the tuning database's winner for the call's shape
class, else (for `@tl.tile(autotune=True)`) a sweep run now, else defaults that fit the hardware.
TILELANG_AUTOTUNE=0 skips the database and sweeps: the hardware defaults only.

The answer is memoized per kernel, argument kinds, backend and (once something is tuned) the
class of the argument shapes (each dimension rounded up to a power of two, as the database keys
shapes), so only the first call of a shape class pays for the database lookup (a few
milliseconds) or the sweep; the call path memoizes the Runner under the same key.
"""

from __future__ import annotations

import sqlite3
import sys
import warnings
from time import monotonic as _monotonic

from tilelang.config import Config
from tilelang.ir import nodes as ir

from .sweep import autotune_enabled, device_arch

_warned = False


def call_memo_key(kernel, args: tuple, akey: tuple, backend_name: str | None, watch) -> tuple:
    """What the hook's answer for a call depends on, built from the call's argument key (already
    computed for the specialization): the argument kinds, the backend, whether tuning is on, and,
    once there is something tuned to look up (a database exists) or a sweep to run
    (`autotune=True`), the class of the arguments' shapes, each dimension and int rounded up to a
    power of two as the database's shape classes are. The call path memoizes the Runner under this
    key; `watch` (the watched globals) is last."""
    tuning = autotune_enabled()
    per_shape = tuning and (kernel.autotune or _db_present())
    return ("auto", akey, backend_name, tuning, _shape_class_of(args) if per_shape else None, watch)


def _pow2(v: int) -> int:
    return 1 << (v - 1).bit_length() if v > 0 else v


def _shape_class_of(args: tuple) -> tuple:
    out = []
    for a in args:
        if getattr(a, "is_nested", False):  # no plain shape (.shape raises): the call path rejects it
            out.append(None)
            continue
        shape = getattr(a, "shape", None)
        if shape is not None:
            out.append(tuple(_pow2(d) for d in shape))
        elif type(a) is int:
            out.append(_pow2(a) if a >= 0 else -_pow2(-a))
        else:
            out.append(None)
    return tuple(out)


def config_for_args(kernel, args: tuple, backend_name: str | None, memo_key: tuple) -> Config | None:
    """The call path's entry (tilelang/api.py `_call`, for calls without `config=`), on a call whose
    `call_memo_key` was not seen yet; memoized under that key."""
    import torch

    if any(isinstance(a, torch.Tensor) and (a.is_nested or a.layout is not torch.strided) for a in args):
        return None  # nested / sparse tensors have no plain shape: the call path rejects them with its message
    memo = kernel.__dict__.setdefault("_tuned_for_args", {})
    hit = memo.get(memo_key, memo)
    if hit is not memo:
        return hit
    from tilelang import backend as backends
    from tilelang.runtime.launch import bind_arguments

    bound, signature, device = bind_arguments(kernel, args)
    be = backends.get(backend_name) if backend_name else backends.default_for(device)
    if device not in be.devices or not be.available()[0]:
        return None  # the call path reports this with its own message
    if memo_key[4] is not None:  # per shape class: the database, a sweep, or capped defaults
        config = _choose(kernel, args, bound, signature, be, device, memo_key[3])
    else:
        config = hardware_default(kernel.lower(signature), be.name, device, None)
    memo[memo_key] = config
    return config


def forget_tuned_choices(kernel) -> None:
    """Drop the hook's memoized answers and the Runners the call path memoized under them (after
    a sweep stores a new winner), so the next call of each shape class looks it up again."""
    kernel.__dict__.pop("_tuned_for_args", None)
    compiled = kernel._compiled
    for key in list(compiled):  # list(dict) copies atomically: calls may insert meanwhile
        if key[0] == "auto":
            compiled.pop(key, None)


_db_seen = [False, 0.0]


def _db_present() -> bool:
    """Whether the tuning database file exists (rechecked at most once a second until it does)."""
    if _db_seen[0]:
        return True
    now = _monotonic()
    if now - _db_seen[1] > 1.0:
        from .db import default_path

        _db_seen[1] = now
        _db_seen[0] = default_path().exists()
    return _db_seen[0]


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
