"""The Triton backend: renders tile IR as Triton source; runs it on CUDA tensors (compiled) or on
CPU tensors (Triton's interpreter); compiles it ahead of time to cubin / hsaco."""

from __future__ import annotations

import threading
from pathlib import Path

from tilelang.backend import Backend, register
from tilelang.errors import BackendError
from tilelang.ir import nodes as ir

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
