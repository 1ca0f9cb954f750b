"""The manifest: everything a program needs to launch one compiled binary without tilelang.

Backends contribute what only they know (`Backend.write_aot`: the binary, its parameters in order
with hidden ones, block size, shared memory, launch API); this module adds what the IR says (the
tensors and their shapes, scalars, size symbols, grid, the specialization the binary assumes) and
the toolchain versions. The format is backend-neutral and versioned; docs/deployment.md describes
every field.
"""

from __future__ import annotations

import platform

from tilelang.ir import nodes as ir

FORMAT = "tilelang-aot-manifest"
FORMAT_VERSION = 1

# What the binary's parameters may be (`params[i].kind`), and what a launcher passes for each.
PARAM_KINDS = ("data_ptr", "size", "stride", "scalar", "size_symbol", "size_expr", "global_scratch",
               "profile_scratch")
LAUNCH_APIS = ("c-call", "cuda-driver", "hip-runtime")


def written_tensors(kernel: ir.Kernel) -> set[str]:
    return {s.tensor for s in ir.walk(kernel.body) if isinstance(s, ir.Store)}


def describe_kernel(final: ir.Kernel, fixed: dict[str, int]) -> dict:
    """The IR's part of a manifest: arguments, sizes, grid and specialization."""
    written = written_tensors(final)
    args = []
    for p in final.params:
        if p.is_tensor:
            args.append({"name": p.name, "kind": "tensor", "dtype": p.type.dtype,
                         "shape": [str(d) for d in p.type.shape], "written": p.name in written})
        else:
            args.append({"name": p.name, "kind": "scalar", "dtype": p.type.dtype})
    grid = final.grid_loop
    programs = 1
    for t in grid.tiles:
        programs = programs * t.count
    div = {a.symbol: a.value for a in final.assumptions if a.kind == "div"}
    eq = {a.symbol: a.value for a in final.assumptions if a.kind == "eq"}
    return {
        "args": args,
        "sizes": list(ir.size_symbols(final)),
        "grid_programs": str(programs),
        "specialization": {"fixed": {**eq, **fixed}, "divisible_by": div},
    }


def toolchain(extra: dict | None = None) -> dict:
    from tilelang.version import __version__

    return {"tilelang": __version__, "python": platform.python_version(), **(extra or {})}


def build(final: ir.Kernel, *, target: str, backend: str, source: str, config: dict, fixed: dict[str, int],
          backend_info: dict) -> dict:
    """A complete manifest (a JSON-ready dict) from the final IR and the backend's write_aot result."""
    info = dict(backend_info)
    # The backend's own slot list (cpu: "args") is superseded by "params"; it stays in its .abi.json.
    info.pop("args", None)
    tools = toolchain(info.pop("toolchain", None))
    manifest = {"format": FORMAT, "format_version": FORMAT_VERSION, "kernel": final.name, "source": source,
                "target": target, "backend": backend, "config": config, **info, **describe_kernel(final, fixed),
                "toolchain": tools}
    manifest.setdefault("shared_memory_bytes", 0)
    manifest["grid"] = {**manifest.get("grid", {}), "x": manifest["grid_programs"], "y": "1", "z": "1"}
    for key in ("binary", "launch_api", "params", "block"):
        if key not in manifest:
            raise ValueError(f"backend {backend!r} wrote no {key!r} for the manifest")
    return manifest
