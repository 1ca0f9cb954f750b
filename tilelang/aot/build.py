"""`tilelang compile`: kernels -> binaries + manifests -> one C library (header + source).

A library holds one public launcher per kernel. A kernel compiled for several tuned configs gets
one static launcher per config and a public dispatcher (dispatch.py) that picks one by the shapes.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from tilelang.config import Config
from tilelang.errors import TileLangError
from tilelang.ir import nodes as ir

from . import clib, dispatch, manifest


@dataclass
class KernelJob:
    """One kernel of the library: what to compile it with."""

    kernel: object  # a TileKernel
    signature: dict
    config: Config  # the default (or only) config
    fixed: dict[str, int] = field(default_factory=dict)
    divisible: dict[str, int] = field(default_factory=dict)
    tuned: list[tuple[dict, Config]] = field(default_factory=list)  # (shapes, config) per tuned class


def compile_binary(job: KernelJob, backend, target: str, out_dir: Path, config: Config, name: str,
                   divisible: dict[str, int]) -> tuple[dict, bytes]:
    """Compile one binary of `job.kernel` named `name`; write its files and manifest; return
    (manifest, binary bytes)."""
    from tilelang.ir.printer import print_kernel
    from tilelang.runtime.cache import cache_key

    k = copy.copy(job.kernel)  # the promises are this binary's, not the kernel's
    k.divisible_by = {**k.divisible_by, **divisible}
    final = k.final_ir(job.signature, config, backend, job.fixed)
    if name != final.name:
        final = dataclasses.replace(final, name=name)
    info = backend.write_aot(final, target, out_dir, cache_key(k.src.text, final, target), config=config)
    (out_dir / f"{name}.tir").write_text(print_kernel(final))
    m = manifest.build(final, target=target, backend=backend.name, source=f"{k.src.file}:{k.loc.line}",
                       config=config.to_dict() | {"tiles": dict(final.config)}, fixed=job.fixed, backend_info=info)
    m["signature"] = {p.name: str(p.type) for p in final.params}
    m["files"] = list(info.get("files", [])) + [f"{name}.tir"]
    (out_dir / f"{name}.json").write_text(json.dumps(m, indent=2) + "\n")
    return m, (out_dir / m["binary"]["file"]).read_bytes()


def build_library(jobs: list[KernelJob], backend, target: str, out_dir, lib_name: str) -> dict:
    """Compile every job into `out_dir` and write LIB.h / LIB.c; returns a summary for the CLI."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    if not re.fullmatch(r"[A-Za-z_]\w*", lib_name):
        raise TileLangError(f"library name {lib_name!r} is not a C identifier (use --name)")
    entries: list[clib.Entry] = []
    publics: list[tuple[str, dict]] = []
    dispatchers: list[str] = []
    choosers: list[str] = []
    files: list[str] = []
    for job in jobs:
        name = job.kernel.name
        if not job.tuned:
            m, binary = compile_binary(job, backend, target, out_dir, job.config, name, job.divisible)
            entries.append(clib.Entry(name, m, binary))
            publics.append((name, m))
            files += m["files"] + [f"{name}.json"]
            continue
        default_name = f"{name}__default"
        m_default, binary = compile_binary(job, backend, target, out_dir, job.config, default_name, job.divisible)
        entries.append(clib.Entry(default_name, m_default, binary, public=False))
        files += m_default["files"] + [f"{default_name}.json"]
        classes = []
        for i, (shapes, cfg) in enumerate(job.tuned):
            vname = f"{name}__t{i}"
            spec = dispatch.class_divisibility(shapes, cfg, m_default["sizes"])
            m, binary = compile_binary(job, backend, target, out_dir, cfg, vname, {**job.divisible, **spec})
            entries.append(clib.Entry(vname, m, binary, public=False))
            files += m["files"] + [f"{vname}.json"]
            classes.append(dispatch.ShapeClass(vname, dict(shapes), m))
        publics.append((name, m_default))
        dispatchers.append(dispatch.dispatcher(name, m_default, classes, default_name))
        choosers.append(dispatch.choice_prototype(name, m_default["sizes"]))
    (out_dir / f"{lib_name}.h").write_text(clib.header(lib_name, publics, choosers))
    (out_dir / f"{lib_name}.c").write_text(clib.source(lib_name, entries, "\n".join(dispatchers)))
    files += [f"{lib_name}.h", f"{lib_name}.c"]
    return {"files": files, "kernels": [n for n, _ in publics], "binaries": len(entries)}


def restrict_to_kernel(kernel, signature, fixed: dict, divisible: dict, config: Config, strict: bool):
    """The --shape / --divisible / --config entries that apply to `kernel` (all of them when strict:
    a name the kernel lacks is then an error, reported by the pipeline)."""
    if strict:
        return fixed, divisible, config
    lowered = kernel.lower(signature)
    sizes = set(ir.size_symbols(lowered))
    blocks = set(ir.block_symbols(lowered))
    tiles = {k: v for k, v in config.tiles if k in blocks}
    return ({k: v for k, v in fixed.items() if k in sizes}, {k: v for k, v in divisible.items() if k in sizes},
            Config(tiles, num_warps=config.num_warps, num_stages=config.num_stages))
