"""Launching a cubin through the CUDA driver API (cuda-python) on torch's current stream.

UNVERIFIED: written without a GPU at hand (see docs/cuda.md); the argument packing is what the
renderer's ArgSlot list says, and the tests check that packing on CPU.
"""

from __future__ import annotations

import ctypes

from tilelang.errors import BackendError, LaunchError

_CTYPES = {"bool": ctypes.c_bool, "i8": ctypes.c_int8, "i32": ctypes.c_int32, "i64": ctypes.c_int64,
           "f32": ctypes.c_float, "f64": ctypes.c_double}


def _check(result, what: str):
    from cuda.bindings import driver as cu

    err, *rest = result if isinstance(result, tuple) else (result,)
    if err != cu.CUresult.CUDA_SUCCESS:
        _, msg = cu.cuGetErrorString(err)
        raise BackendError(f"CUDA driver: {what} failed: {msg.decode() if msg else err}")
    return rest[0] if len(rest) == 1 else rest


def device_arch() -> str:
    """The build that runs on the current GPU: a cubin runs on its own major version's later minors."""
    import torch

    major, minor = torch.cuda.get_device_capability()
    if (major, minor) == (9, 0):
        return "sm_90a"
    if major == 8:
        return "sm_80"
    raise BackendError(f"the cuda backend builds for sm_80 (8.x GPUs) and sm_90a (9.0); this GPU is "
                       f"sm_{major}{minor}")


def pack_arguments(rendered, args: dict, sizes: dict) -> tuple[tuple, tuple]:
    """(values, ctypes types) for cuLaunchKernel, in the renderer's parameter order."""
    import sympy

    from tilelang.ir.types import size_subs

    subs = size_subs(sizes)
    values, types = [], []
    for slot in rendered.args:
        if slot.kind == "ptr":
            values.append(args[slot.of].data_ptr())
            types.append(ctypes.c_void_p)
        elif slot.kind == "size":
            values.append(int(args[slot.of].shape[slot.dim]))
            types.append(ctypes.c_int64)
        elif slot.kind == "stride":
            values.append(int(args[slot.of].stride(slot.dim)))
            types.append(ctypes.c_int64)
        elif slot.kind == "scalar":
            values.append(args[slot.of])
            types.append(_CTYPES[slot.dtype])
        else:
            v = sympy.sympify(slot.expr).subs(subs)
            if not v.is_Integer:
                raise LaunchError(f"size {slot.expr} is not known at launch")
            values.append(int(v))
            types.append(ctypes.c_int64)
    return tuple(values), tuple(types)


def make_launcher(rendered, cubin: bytes):
    from cuda.bindings import driver as cu
    import torch

    _check(cu.cuInit(0), "cuInit")
    index = torch.cuda.current_device()
    torch.zeros(1, device=f"cuda:{index}")  # makes torch create the device's primary context
    device = _check(cu.cuDeviceGet(index), "cuDeviceGet")
    ctx = _check(cu.cuDevicePrimaryCtxRetain(device), "cuDevicePrimaryCtxRetain")  # the context torch uses
    _check(cu.cuCtxSetCurrent(ctx), "cuCtxSetCurrent")
    module = _check(cu.cuModuleLoadData(cubin), "cuModuleLoadData")
    fn = _check(cu.cuModuleGetFunction(module, rendered.entry.encode()), "cuModuleGetFunction")
    if rendered.shared_bytes > 48 * 1024:
        _check(cu.cuFuncSetAttribute(fn, cu.CUfunction_attribute.CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES,
                                     rendered.shared_bytes), "cuFuncSetAttribute")

    def launch(args: dict, sizes: dict, grid: int):
        for name, a in args.items():
            if isinstance(a, torch.Tensor) and (a.device.type != "cuda" or a.device.index != index):
                raise LaunchError(f"backend 'cuda' compiled this kernel for cuda:{index}; `{name}` is on {a.device}")
        params = pack_arguments(rendered, args, sizes)
        _check(cu.cuCtxSetCurrent(ctx), "cuCtxSetCurrent")  # the calling thread may not have it current
        stream = cu.CUstream(torch.cuda.current_stream(index).cuda_stream)
        _check(cu.cuLaunchKernel(fn, grid, 1, 1, rendered.threads, 1, 1, rendered.shared_bytes, stream,
                                 params, 0), "cuLaunchKernel")

    launch.module, launch.context = module, ctx  # kept alive as long as the launcher
    launch.source = rendered.source
    return launch
