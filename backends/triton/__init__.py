"""The Triton backend: renders tile IR as Triton source; runs it on CUDA tensors (compiled) or on
CPU tensors (Triton's interpreter); compiles it ahead of time to cubin / hsaco."""

from __future__ import annotations

from pathlib import Path

from tilelang.backend import Backend, register
from tilelang.errors import BackendError
from tilelang.ir import nodes as ir

from .aot import TARGETS, compile_in_subprocess, parse_target
from .loader import cuda_available, interpreter_mode, load_kernel
from .render import render

# Offsets reach at most a tensor's span plus one tile; below this, 32-bit index arithmetic is exact.
INDEX32_LIMIT = 2**31 - 2**24


def needs_index64(args: dict) -> bool:
    """Whether some tensor argument spans too many elements for 32-bit offsets."""
    import torch

    for t in args.values():
        if isinstance(t, torch.Tensor) and t.numel():
            span = 1 + sum((n - 1) * abs(st) for n, st in zip(t.shape, t.stride()))
            if span >= INDEX32_LIMIT or t.numel() >= INDEX32_LIMIT:
                return True
    return False


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
        variants = {}  # index64 -> (TritonKernel, jit function): 64-bit offsets only where needed

        def variant(index64: bool):
            if index64 not in variants:
                tk = render(kernel, interpreter=interpreted, index64=index64)
                tag = ("-interp" if interpreted else "") + ("-i64" if index64 else "")
                variants[index64] = (tk, load_kernel(tk.source, tk.fn_name, key + tag)[0])
            return variants[index64]

        tk, _ = variant(False)
        num_warps = config.num_warps if config else 4
        num_stages = config.num_stages if config else 2

        def launch(args: dict, sizes: dict, grid: int):
            import torch

            tk, fn = variant(needs_index64(args))
            values = []
            on_cpu = False
            for a in tk.args:
                if a.kind == "tensor":
                    t = args[a.source]
                    on_cpu = on_cpu or t.device.type == "cpu"
                    values.append(t)
                elif a.kind == "stride":
                    values.append(args[a.source].stride(a.dim))
                elif a.kind == "scalar":
                    values.append(args[a.source])
                else:
                    values.append(sizes[a.source])
            if on_cpu and not interpreted:
                raise BackendError("Triton runs CPU tensors only through its interpreter, but triton was imported "
                                   "in GPU mode; set TRITON_INTERPRET=1 before importing triton, or use CUDA tensors")
            if not on_cpu and interpreted:
                raise BackendError("triton was imported in interpreter mode (TRITON_INTERPRET=1), so it cannot run "
                                   "CUDA tensors; unset TRITON_INTERPRET")
            with torch.no_grad():
                if interpreted:
                    fn[(grid,)](*values)
                else:
                    fn[(grid,)](*values, num_warps=num_warps, num_stages=num_stages)

        launch.source = tk.source
        return launch

    def write_aot(self, kernel: ir.Kernel, target: str, out_dir, key: str, config=None) -> dict:
        _, _, _, kind, suffix = parse_target(target)
        out_dir = Path(out_dir)
        tk = render(kernel)
        src_path = out_dir / f"{kernel.name}.py"
        src_path.write_text(tk.source)
        binary = out_dir / f"{kernel.name}{suffix}"
        info = compile_in_subprocess(src_path, tk.fn_name, tk.signature(), target,
                                     config.num_warps if config else 4, config.num_stages if config else 2, binary)
        return {"files": [src_path.name, binary.name], "binary_kind": kind, "entry": tk.fn_name,
                "arguments": [{"name": a.name, "kind": a.kind, "of": a.source, "type": tk.signature()[a.name]}
                              for a in tk.args],
                "grid": {"dims": 1, "programs": tk.grid}, **info}


def render_source(kernel: ir.Kernel) -> str:
    return render(kernel).source


register(TritonBackend())
__all__ = ["TritonBackend", "render", "render_source", "cuda_available"]
