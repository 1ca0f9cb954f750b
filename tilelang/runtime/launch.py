"""Checking a call's arguments against a kernel, before anything is launched."""

from __future__ import annotations

import sympy

from tilelang.errors import LaunchError
from tilelang.ir import dtypes
from tilelang.ir import nodes as ir
from tilelang.ir.types import size_subs


def _torch():
    import torch

    return torch


def bind_arguments(kernel, args):
    """(name -> argument, signature name -> ArgSpec, device type) or a LaunchError."""
    from tilelang.frontend.lower import ArgSpec

    torch = _torch()
    names = kernel.param_names
    if len(args) != len(names):
        raise LaunchError(f"kernel `{kernel.name}` takes {len(names)} argument(s) ({', '.join(names)}), "
                          f"got {len(args)}", kernel.loc)
    bound, sig, devices = {}, {}, {}
    for name, a in zip(names, args):
        if name in getattr(kernel, "constants", ()):
            if type(a) not in (bool, int, float):
                raise LaunchError(f"`{name}` is a constant parameter: pass a Python bool, int or float, got "
                                  f"{type(a).__name__}", kernel.loc)
            sig[name] = ArgSpec("const", type(a).__name__, 0, a)
        elif isinstance(a, torch.Tensor):
            dt = dtypes.from_torch(a.dtype)
            if dt is None:
                raise LaunchError(f"argument `{name}` has dtype {a.dtype}, which tilelang does not support "
                                  f"(supported: {', '.join(dtypes.DTYPES)})", kernel.loc)
            if a.dim() == 0:
                raise LaunchError(f"argument `{name}` is a 0-d tensor; pass a Python number for scalars",
                                  kernel.loc)
            devices[name] = a.device.type
            sig[name] = ArgSpec("tensor", dt, a.dim())
        elif isinstance(a, bool):
            sig[name] = ArgSpec("scalar", "bool")
        elif isinstance(a, int):
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


def bind_sizes(kernel, ir_kernel: ir.Kernel, bound: dict) -> dict[str, int]:
    """Size symbol -> value from the tensors' shapes; checks shared symbols and assumptions agree."""
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
    return sizes


def grid_size(kernel: ir.Kernel, sizes: dict[str, int]) -> int:
    """Number of programs in the launch grid."""
    subs = size_subs(sizes)
    total = 1
    for t in kernel.grid_loop.tiles:
        total *= int(t.count.subs(subs))
    return total
