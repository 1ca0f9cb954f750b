"""The Ascend backend: tile IR -> the explicit-memory level for one AI core
(passes/lower_ascend.py) -> Ascend C (render.py) -> run here through a strict CPU emulation of the
Ascend C subset the renderer emits (emu.py, emu/ascend_emu.h). No Ascend toolchain or device is
needed or used; see docs/ascend.md for what the emulator enforces and what it does not.

`backend="ascend"` runs CPU tensors through the emulator (never picked by default);
`tilelang compile ... --target ascend:910b` writes the Ascend C source, the emulator build and a
manifest.
"""

from __future__ import annotations

import json
from pathlib import Path

from tilelang.backend import Backend, register
from tilelang.errors import BackendError
from tilelang.ir import nodes as ir
from tilelang.passes.lower_ascend import place_ascend
from tilelang.passes.lower_memory import lower_to_memory

from . import emu
from .render import AI_CORES, AIC_CORES, render_ascend

TARGETS = ("910b",)


def ascend_program(kernel: ir.Kernel, observe=None):
    """The one-thread explicit-memory program with Ascend memory spaces; `observe(step, mk)` sees
    each step's result."""
    mk = lower_to_memory(kernel, threads=1, target=None)  # no SIMT matrix instructions: the Cube route is ours
    if observe:
        observe("lower_memory", mk)
    mk = place_ascend(mk)
    if observe:
        observe("lower_ascend", mk)
    return mk


class AscendBackend(Backend):
    name = "ascend"
    devices = ("cpu",)  # emulated on CPU tensors
    default_on = ()  # only when asked for: the emulator is a checker, not a fast path
    priority = 0
    default_parallel_tile = 32
    default_sequential_tile = 32
    aot_targets = ("ascend",)

    def available(self) -> tuple[bool, str]:
        if emu.gxx() is None:
            return False, "the Ascend emulator needs g++"
        return True, ""

    def compile(self, kernel: ir.Kernel, key: str):
        rendered = render_ascend(ascend_program(kernel))
        fn = emu.build(rendered)
        return emu.launcher(rendered, fn, AIC_CORES if rendered.kind == "aic" else AI_CORES)

    def lower_steps(self, kernel: ir.Kernel, config=None) -> list[tuple[str, str]]:
        from tilelang.memir.printer import print_memkernel

        steps = []
        ascend_program(kernel, lambda name, mk: steps.append((name, print_memkernel(mk))))
        return steps

    def write_aot(self, kernel: ir.Kernel, target: str, out_dir, key: str, config=None) -> dict:
        chip = target.split(":", 1)[1] if ":" in target else "910b"
        if chip not in TARGETS:
            raise BackendError(f"unknown Ascend target {target!r}; use one of "
                               f"{', '.join('ascend:' + t for t in TARGETS)}")
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        rendered = render_ascend(ascend_program(kernel))
        name = kernel.name
        (out_dir / f"{name}.cpp").write_text(rendered.source)
        obj = emu.compile_emulator(rendered, out_dir, shared=False)
        params = []
        for a in rendered.args:
            if a.kind == "ptr":
                params.append({"name": f"{a.of}_ptr", "kind": "data_ptr", "of": a.of, "c_type": "int64_t", "bytes": 8,
                               "pass": f"address of `{a.of}`'s first element (GM_ADDR)"})
            elif a.kind in ("size", "stride"):
                params.append({"name": f"{a.of}_{a.kind}{a.dim}", "kind": a.kind, "of": a.of, "dim": a.dim,
                               "c_type": "int64_t", "bytes": 8})
            elif a.kind == "scalar":
                floating = a.dtype.startswith(("f", "bf"))
                params.append({"name": a.of, "kind": "scalar", "of": a.of, "c_type": "int64_t", "bytes": 8,
                               "encoding": "f64-bits" if floating else "i64"})
            else:
                params.append({"name": a.of, "kind": "size_expr", "of": a.of, "expr": a.of, "c_type": "int64_t",
                               "bytes": 8})
        files = [f"{name}.cpp", obj.name, f"{name}.emu.cpp", *emu.HEADERS]
        info = {"chip": chip, "kernel_type": rendered.kind, "ub_bytes": rendered.ub_bytes,
                "l1_bytes": rendered.l1_bytes, "block_dim": f"min(programs, {AIC_CORES if rendered.kind == 'aic' else AI_CORES})",
                "unit_stride_tensors": rendered.unit_stride}
        (out_dir / f"{name}.ascend.json").write_text(json.dumps(info, indent=1) + "\n")
        files.append(f"{name}.ascend.json")
        # The C launcher links the emulator build (c-call ABI, one emulated core per program; link with
        # -lstdc++). On a device, the .cpp is what CANN's compiler takes.
        return {"files": files, "binary_kind": "elf-object", "ascend": info,
                "binary": {"file": obj.name, "kind": "elf-object", "symbol": f"{name}_emu"},
                "launch_api": "c-call", "params": params, "block": [1, 1, 1], "index_bits": 64,
                "toolchain": {"g++": emu.gxx_version()}}


register(AscendBackend())
__all__ = ["AscendBackend", "ascend_program", "render_ascend"]


def run_emulated(kernel, *args, config=None, edit=None, **render_options):
    """Call a @tl.tile kernel on CPU tensors through the Ascend emulator, optionally rendering with
    `render_options` (check_capacity, split_repeats) or editing the generated source first
    (`edit(source) -> source`: tests plant mistakes this way). Returns the Rendered program."""
    import dataclasses

    from tilelang.config import Config
    from tilelang.runtime.launch import bind_arguments, bind_sizes, grid_size

    be = AscendBackend()
    config = config or Config()
    bound, signature, _ = bind_arguments(kernel, args)
    final = kernel.final_ir(signature, config, be, kernel.specialized_sizes(signature, bound))
    rendered = render_ascend(ascend_program(final), **render_options)
    if edit is not None:
        extra = {k: getattr(rendered, k) for k in ("ub_bytes", "l1_bytes", "kind", "unit_stride")}
        rendered = dataclasses.replace(rendered, source=edit(rendered.source))
        for k, v in extra.items():
            setattr(rendered, k, v)
    launch = emu.launcher(rendered, emu.build(rendered), AIC_CORES if rendered.kind == "aic" else AI_CORES)
    sizes = bind_sizes(kernel, final, bound)
    grid = grid_size(final, sizes)
    if grid:
        launch(bound, sizes, grid)
    return rendered
