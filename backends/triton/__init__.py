"""The Triton backend: renders tile IR as Triton source; runs it on CUDA tensors (compiled) or on
CPU tensors (Triton's interpreter); compiles it ahead of time to cubin / hsaco."""

from __future__ import annotations

import threading
from pathlib import Path

from tilelang.backend import Backend, register
from tilelang.errors import BackendError
from tilelang.ir import nodes as ir
from tilelang.ir.dtypes import storage_bytes

from .aot import TARGETS, compile_in_subprocess, parse_target
from .loader import cuda_available, interpreter_lock, interpreter_mode, load_kernel
from .render import render


class TritonBackend(Backend):
    name = "triton"
    devices = ("cuda", "cpu")
    default_on = ("cuda",)
    priority = 10
    pow2_tiles = True
    default_parallel_tile = 64
    default_sequential_tile = 32
    aot_targets = tuple(TARGETS)

    def available(self):
        import importlib.util

        # Only look: importing triton here would fix its interpreter mode (see loader.py).
        if importlib.util.find_spec("triton") is None:
            return False, "triton is not installed"
        return True, ""

    def compile(self, kernel: ir.Kernel, key: str):
        return self.compile_with(kernel, key, None)

    def compile_with(self, kernel: ir.Kernel, key: str, config):
        interpreted = interpreter_mode()
        tk = render(kernel, interpreter=interpreted)
        fn, _ = load_kernel(tk.source, tk.fn_name, key + ("-interp" if interpreted else ""))
        num_warps = config.num_warps if config else 4
        num_stages = config.num_stages if config else 2

        first_tensor = next((a.source for a in tk.args if a.kind == "tensor"), None)
        # Each launch argument as a Python expression over (args, sizes), compiled once: the hot path
        # is one list display, no per-argument branching.
        parts = []
        for a in tk.args:
            if a.kind == "tensor":
                parts.append(f"args[{a.source!r}]")
            elif a.kind == "stride":
                parts.append(f"args[{a.source!r}].stride({a.dim})")
            elif a.kind == "scalar":
                parts.append(f"args[{a.source!r}]")
            else:
                parts.append(f"sizes[{a.source!r}]")
        values_of = eval(f"lambda args, sizes: [{', '.join(parts)}]", {})  # noqa: S307 (names from our IR)

        first_launch_lock = threading.Lock()
        warmed = False

        def first_launch(values, grid):
            # Triton compiles on a function's first launch; threads that race to it take turns.
            nonlocal warmed
            with first_launch_lock:
                fn[(grid,)](*values, num_warps=num_warps, num_stages=num_stages)
                warmed = True

        def launch(args: dict, sizes: dict, grid: int):
            # Arguments share one device (checked before launch); tensors are dense and resolved.
            on_cpu = first_tensor is None or args[first_tensor].is_cpu
            if on_cpu and not interpreted:
                raise BackendError("Triton runs CPU tensors only through its interpreter, but triton was imported "
                                   "in GPU mode; set TRITON_INTERPRET=1 before importing triton, or use CUDA tensors")
            if not on_cpu and interpreted:
                raise BackendError("triton was imported in interpreter mode (TRITON_INTERPRET=1), so it cannot run "
                                   "CUDA tensors; unset TRITON_INTERPRET")
            values = values_of(args, sizes)
            if interpreted:
                import torch

                with interpreter_lock, torch.no_grad():
                    fn[(grid,)](*values)
            elif warmed:  # no autograd context needed: Triton takes the tensors' data pointers
                fn[(grid,)](*values, num_warps=num_warps, num_stages=num_stages)
            else:
                first_launch(values, grid)

        launch.source = tk.source
        launch.fn = fn  # the @triton.jit function and its arguments (benchmarks launch it raw)
        launch.args = tk.args
        launch.values_of = values_of
        return launch

    def write_aot(self, kernel: ir.Kernel, target: str, out_dir, key: str, config=None) -> dict:
        backend, _, _, kind, suffix = parse_target(target)
        out_dir = Path(out_dir)
        tk = render(kernel)
        src_path = out_dir / f"{kernel.name}.py"
        src_path.write_text(tk.source)
        binary = out_dir / f"{kernel.name}{suffix}"
        info = compile_in_subprocess(src_path, tk.fn_name, tk.signature(), target,
                                     config.num_warps if config else 4, config.num_stages if config else 2, binary)
        sig = tk.signature()
        launch = info.pop("launch_metadata")
        params = binary_params(tk, sig, info.pop("binary_params"), launch)
        block = info["num_warps"] * info["warp_size"]
        return {"files": [src_path.name, binary.name], "binary_kind": kind, "entry": tk.fn_name,
                "arguments": [{"name": a.name, "kind": a.kind, "of": a.source, "type": sig[a.name]}
                              for a in tk.args],
                "grid": {"dims": 1, "programs": tk.grid},
                "binary": {"file": binary.name, "kind": kind, "symbol": info["symbol"]},
                "launch_api": "cuda-driver" if backend == "cuda" else "hip-runtime",
                "params": params,
                "block": [block, 1, 1],
                "launch": launch,
                # Sizes and strides reach the binary as i32; the kernel's offset arithmetic is i32 too.
                "index_bits": 32,
                "toolchain": info.pop("toolchain"),
                **info}


# Triton appends these pointers after the kernel's own parameters, in this order, when the compiled
# metadata has the matching *_size field (which versions do differs; the binary's own parameter list
# says how many there are).
HIDDEN_SCRATCH = ("global_scratch", "profile_scratch")
C_TYPE = {"i1": "uint8_t", "i8": "int8_t", "i32": "int32_t", "i64": "int64_t", "fp16": "uint16_t", "bf16": "uint16_t",
          "fp32": "float", "fp64": "double"}


def binary_params(tk, sig: dict, found: list[dict], launch: dict) -> list[dict]:
    """Every parameter of the binary in order, the hidden ones included, each with its C type, size and
    what to pass, checked against the parameter list read back from the binary itself."""
    out = []
    for a in tk.args:
        t = sig[a.name]
        if a.kind == "tensor":
            out.append({"name": a.name, "kind": "data_ptr", "of": a.source, "c_type": "uint64_t", "bytes": 8,
                        "pass": f"device address of `{a.source}`'s first element (aligned to its element size)"})
        elif a.kind == "stride":
            out.append({"name": a.name, "kind": "stride", "of": a.source, "dim": a.dim, "c_type": C_TYPE[t],
                        "bytes": 4, "pass": f"stride of `{a.source}` along dim {a.dim}, in elements"})
        elif a.kind == "scalar":
            out.append({"name": a.name, "kind": "scalar", "of": a.source, "c_type": C_TYPE[t],
                        "bytes": {"i1": 1, "i8": 1, "fp16": 2, "bf16": 2, "i64": 8, "fp64": 8}.get(t, 4),
                        "pass": f"the value of `{a.source}`"})
        else:
            out.append({"name": a.name, "kind": "size_symbol", "of": a.source, "c_type": C_TYPE[t], "bytes": 4,
                        "pass": f"the size `{a.source}`"})
    hidden = found[len(out):]
    expected = [h for h in HIDDEN_SCRATCH if launch.get(f"{h}_size") is not None]
    if len(found) < len(out) or len(hidden) != len(expected) or not all(h["pointer"] for h in hidden):
        raise BackendError(f"the compiled kernel has {len(found)} parameters, but tilelang passes {len(out)} and "
                           f"this triton version's metadata explains {len(expected)} more ({', '.join(expected)}); "
                           "the launcher cannot be generated safely")
    for name in expected:
        size, align = launch[f"{name}_size"], launch.get(f"{name}_align", 1)
        what = (f"NULL (the kernel needs no {name.replace('_', ' ')})" if size == 0 else
                f"a device buffer of {size} bytes per program (x num_ctas), aligned to {align}")
        out.append({"name": name, "kind": name, "c_type": "uint64_t", "bytes": 8, "bytes_per_program": size,
                    "buffer_align": align, "hidden": True, "pass": what})
    elem_bytes = {a.source: storage_bytes(a.dtype) for a in tk.args if a.kind == "tensor"}
    for p, f in zip(out, found):
        p["align"] = p["bytes"]  # in the parameter buffer, each parameter is aligned to its size
        if "offset" in f:
            p["kernarg_offset"] = f["offset"]  # AMDGPU: its offset in the kernel-argument segment
        if p["kind"] == "data_ptr":
            p["pointee_align"] = elem_bytes[p["of"]]
        if p["bytes"] != f["bytes"] or (p["kind"] == "data_ptr" or p.get("hidden", False)) != f["pointer"]:
            raise BackendError(f"parameter {p['name']} of the compiled kernel is {f}, not the {p['c_type']} "
                               "tilelang passes; the launcher cannot be generated safely")
    return out


def render_source(kernel: ir.Kernel) -> str:
    return render(kernel).source


register(TritonBackend())
__all__ = ["TritonBackend", "render", "render_source", "cuda_available"]
