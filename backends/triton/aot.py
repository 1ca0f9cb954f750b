"""Ahead-of-time Triton compilation to cubin (NVIDIA) or hsaco (AMD), with no GPU present.

`triton.compile` runs in a child process (`python -m tilelang.backends.triton.aot`) so that it
always sees triton imported in compile mode, whatever the parent process chose (see loader.py).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

from tilelang.errors import BackendError

# target prefix -> (triton backend, default arch, warp size, binary kind, file suffix)
TARGETS = {
    "triton-cuda": ("cuda", "sm_90", 32, "cubin", ".cubin"),
    "triton-hip": ("hip", "gfx942", 64, "hsaco", ".hsaco"),
}


def parse_target(target: str):
    """'triton-cuda:sm_90' -> ('cuda', 90, 32, 'cubin', '.cubin'); errors name what is accepted."""
    prefix, _, arch = target.partition(":")
    if prefix not in TARGETS:
        raise BackendError(f"unknown Triton target {target!r}; use triton-cuda:sm_XX or triton-hip:gfxXXX")
    backend, default_arch, warp, kind, suffix = TARGETS[prefix]
    arch = arch or default_arch
    if backend == "cuda":
        m = re.fullmatch(r"sm_(\d+)a?", arch)
        if not m:
            raise BackendError(f"CUDA architecture {arch!r} is not of the form sm_80, sm_90")
        return backend, int(m.group(1)), warp, kind, suffix
    if not re.fullmatch(r"gfx[0-9a-f]+", arch):
        raise BackendError(f"AMD architecture {arch!r} is not of the form gfx90a, gfx942")
    return backend, arch, warp, kind, suffix


def compile_in_subprocess(source_path, fn_name: str, signature: dict, target: str, num_warps: int,
                          num_stages: int, out_path) -> dict:
    backend, arch, warp, kind, _ = parse_target(target)
    job = {"source": str(source_path), "fn": fn_name, "signature": signature, "backend": backend, "arch": arch,
           "warp": warp, "kind": kind, "num_warps": num_warps, "num_stages": num_stages, "out": str(out_path)}
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    proc = subprocess.run([sys.executable, "-m", "tilelang.backends.triton.aot", json.dumps(job)],
                          capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-15:]
        raise BackendError(f"Triton failed to compile for {target}:\n" + "\n".join(tail))
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _worker(job: dict) -> dict:
    import importlib.util

    import triton
    from triton.backends.compiler import GPUTarget
    from triton.compiler import ASTSource

    spec = importlib.util.spec_from_file_location("tilelang_aot_kernel", job["source"])
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    fn = getattr(module, job["fn"])
    src = ASTSource(fn=fn, signature=job["signature"], constexprs={})
    target = GPUTarget(job["backend"], job["arch"], job["warp"])
    compiled = triton.compile(src, target=target,
                              options={"num_warps": job["num_warps"], "num_stages": job["num_stages"]})
    binary = compiled.asm[job["kind"]]
    with open(job["out"], "wb") as f:
        f.write(binary if isinstance(binary, bytes) else binary.encode())
    md = compiled.metadata
    if job["backend"] == "cuda":
        params = ptx_entry_params(compiled.asm["ptx"], md.name)
    else:
        params = amdgpu_kernel_args(compiled.asm["amdgcn"], md.name)
    # Launch facts as this triton version records them (older versions lack some: defaults then).
    launch = {k: getattr(md, k, default) for k, default in LAUNCH_METADATA.items()}
    launch["cluster_dims"] = list(getattr(md, "cluster_dims", (1, 1, 1)) or (1, 1, 1))
    return {"symbol": md.name, "shared_memory_bytes": getattr(md, "shared", 0), "num_warps": md.num_warps,
            "warp_size": getattr(md, "warp_size", job["warp"]), "binary_params": params, "launch_metadata": launch,
            "triton_version": triton.__version__, "toolchain": _toolchain(job, compiled)}


def _toolchain(job: dict, compiled) -> dict:
    """Versions beyond triton's own that shaped the binary, as far as this triton version tells."""
    out = {"triton": triton_version()}
    if job["backend"] == "cuda":
        m = re.search(r"^\.version\s+(\S+)", compiled.asm.get("ptx", ""), re.M)
        if m:
            out["ptx_isa"] = m.group(1)
        try:
            from triton.backends.nvidia.compiler import get_ptxas_version

            rel = re.search(r"release\s+([\d.]+)", get_ptxas_version(job["arch"]))
            if rel:
                out["ptxas"] = rel.group(1)
        except Exception:  # an older triton without this helper, or no ptxas to ask
            pass
    return out


def triton_version() -> str:
    import triton

    return triton.__version__


# Metadata fields that change how a binary must be launched, with the value that means "nothing special".
LAUNCH_METADATA = {"num_ctas": 1, "global_scratch_size": None, "global_scratch_align": 1,
                   "profile_scratch_size": None, "profile_scratch_align": 1, "launch_cooperative_grid": False,
                   "launch_pdl": False, "tmem_size": 0}

_PTX_PARAM = re.compile(r"\.param\s+\.(?P<type>[a-z]\d+)(?P<ptr>\s+\.ptr)?(?:\s+\.\w+)*?(?:\s+\.align\s+(?P<align>\d+))?"
                        r"\s+(?P<name>[\w$]+)")


def ptx_entry_params(ptx: str, symbol: str) -> list[dict]:
    """The parameters of `.entry symbol(...)` in PTX, in order: [{"type": "u64", "bytes": 8, "pointer": bool}]."""
    m = re.search(r"\.entry\s+" + re.escape(symbol) + r"\s*\((?P<body>[^)]*)\)", ptx)
    if m is None:
        raise BackendError(f"entry {symbol} not found in the PTX Triton produced")
    out = []
    for p in _PTX_PARAM.finditer(m.group("body")):
        t = p.group("type")
        out.append({"type": t, "bytes": max(1, int(t[1:]) // 8), "pointer": bool(p.group("ptr"))})
    return out


def amdgpu_kernel_args(amdgcn: str, symbol: str) -> list[dict]:
    """The kernel arguments recorded in the AMDGPU metadata (.args of amdhsa.kernels) for `symbol`."""
    meta = amdgcn[amdgcn.find("amdhsa.kernels:"):amdgcn.find(".end_amdgpu_metadata")]
    for kernel in re.split(r"\n  - ", meta)[1:]:
        if not re.search(r"\.name:\s+" + re.escape(symbol) + r"\s*$", kernel, re.M):
            continue
        args_block = kernel.split(".args:", 1)[1]
        out = []
        args_block = re.split(r"\n    \.", args_block, maxsplit=1)[0]  # the list ends at the next kernel field
        for arg in re.split(r"\n\s+- ", args_block)[1:]:
            fields = dict(re.findall(r"\.(\w+):\s+(\S+)", arg))
            out.append({"type": fields["value_kind"], "bytes": int(fields["size"]), "offset": int(fields["offset"]),
                        "pointer": fields["value_kind"] == "global_buffer"})
        return out
    raise BackendError(f"kernel {symbol} not found in the AMDGPU metadata Triton produced")


if __name__ == "__main__":
    import warnings

    warnings.filterwarnings("ignore")
    print(json.dumps(_worker(json.loads(sys.argv[1]))))
