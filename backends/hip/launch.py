"""Launching a code object through the HIP runtime (libamdhip64, by ctypes) on torch's current
stream. UNVERIFIED: written without an AMD GPU at hand (docs/hip.md); the argument packing is the
CUDA launcher's (the same renderer ArgSlots), which the tests check on CPU."""

from __future__ import annotations

import ctypes

from tilelang.errors import BackendError, LaunchError

from ..cuda.launch import pack_arguments


def _hip():
    for name in ("libamdhip64.so", "libamdhip64.so.5", "libamdhip64.so.6"):
        try:
            return ctypes.CDLL(name)
        except OSError:
            continue
    raise BackendError("the HIP runtime (libamdhip64) is not installed")


def make_launcher(rendered, code_object: bytes):
    import torch

    hip = _hip()

    def check(err, what):
        if err != 0:
            raise BackendError(f"HIP runtime: {what} failed with hipError_t {err}")

    module, fn = ctypes.c_void_p(), ctypes.c_void_p()
    image = ctypes.create_string_buffer(code_object, len(code_object))
    check(hip.hipModuleLoadData(ctypes.byref(module), image), "hipModuleLoadData")
    check(hip.hipModuleGetFunction(ctypes.byref(fn), module, rendered.entry.encode()), "hipModuleGetFunction")
    index = torch.cuda.current_device()

    def launch(args: dict, sizes: dict, grid: int):
        for name, a in args.items():
            if isinstance(a, torch.Tensor) and (a.device.type != "cuda" or a.device.index != index):
                raise LaunchError(f"backend 'hip' compiled this kernel for cuda:{index}; `{name}` is on {a.device}")
        values, types = pack_arguments(rendered, args, sizes)
        boxes = [t(v) for v, t in zip(values, types)]
        argv = (ctypes.c_void_p * len(boxes))(*[ctypes.cast(ctypes.pointer(b), ctypes.c_void_p) for b in boxes])
        stream = ctypes.c_void_p(torch.cuda.current_stream(index).cuda_stream)
        check(hip.hipModuleLaunchKernel(fn, ctypes.c_uint(grid), 1, 1, ctypes.c_uint(rendered.threads), 1, 1,
                                        ctypes.c_uint(rendered.shared_bytes), stream, argv, None),
              "hipModuleLaunchKernel")

    launch.module, launch.image = module, image
    launch.source = rendered.source
    return launch
