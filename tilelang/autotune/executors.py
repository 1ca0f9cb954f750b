"""Where a sweep's work runs.

local: configs compile in a pool of worker processes first (`precompile_local`): each worker loads
the kernel from its file, compiles one config and leaves the result in the compile caches (the cpu
backend's object code on disk, Triton's cache on GPU); the sweep then loads them and times the
configs one at a time in this process, where the device is.

ray (`pip install -e ".[distributed]"`): one Ray task per config (a GPU requested per task on
GPU targets); each task loads the kernel from its file (the same path must exist on every node),
runs the config on copies of the arguments, checks it against the reference output the driver
computed with the first config, times it, and returns the result; the driver writes it to the
database as it arrives. `TILELANG_RAY_ADDRESS` (or a `ray.init` done by the caller) picks the
cluster; otherwise a local instance is started.
"""

from __future__ import annotations

import json
import os

from tilelang.config import Config
from tilelang.errors import TileLangError

_loaded: dict = {}


def _kernel_from_file(file: str, name: str):
    from tilelang.frontend.source import parse_file_function

    if (file, name) not in _loaded:
        _loaded[(file, name)] = parse_file_function(file, name)
    return _loaded[(file, name)]


def _importable(kernel) -> bool:
    """Whether another process can load this kernel by file and name (module-level kernels)."""
    import sys

    mod = sys.modules.get(getattr(kernel.fn, "__module__", ""), None)
    return (mod is not None and getattr(mod, kernel.name, None) is kernel
            and os.path.isfile(kernel.src.file))


def compile_batch(file: str, name: str, signature_items, backend: str, config_jsons: list[str]) -> list[str]:
    """Compile configs of a kernel loaded from its file; one error message ('' = fine) per config."""
    from tilelang import backend as backends

    out = []
    for cj in config_jsons:
        try:
            k = _kernel_from_file(file, name)
            k.compile(dict(signature_items), Config.from_dict(json.loads(cj)), backends.get(backend))
            out.append("")
        except Exception as e:  # reported by the sweep when it compiles the config itself
            out.append(f"{type(e).__name__}: {e}")
    return out


def precompile_local(kernel, signature, backend: str, configs: list[Config], workers: int | None) -> None:
    """Compile `configs` in parallel worker processes to warm the compile caches. Does nothing for
    kernels another process cannot load (closures) or when there is nothing to gain.

    Workers are fresh interpreters (`python -m tilelang.autotune.executors`), each compiling a
    share of the configs: unlike multiprocessing's spawn they never re-run the caller's script."""
    import pickle
    import subprocess
    import sys
    from concurrent.futures import ThreadPoolExecutor

    if backend != "cpu" and not _gpu_here():
        return  # interpreters compile nothing worth sharing
    n = min(workers or os.cpu_count() or 1, len(configs))
    if n < 2 or not _importable(kernel):
        return
    items = tuple(sorted(signature.items()))
    shares = [configs[i::n] for i in range(n)]

    def run(share):
        job = pickle.dumps((kernel.src.file, kernel.name, items, backend, [c.to_json() for c in share]))
        subprocess.run([sys.executable, "-m", "tilelang.autotune.executors"], input=job,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=3600, check=False)

    with ThreadPoolExecutor(max_workers=n) as pool:
        list(pool.map(run, shares))


def _gpu_here() -> bool:
    import torch

    return torch.cuda.is_available()


# ---- ray ------------------------------------------------------------------------------------------

def _ray_task(file: str, name: str, args, config_json: str, backend: str, reference, poison, device: str) -> dict:
    from .sweep import measure_one

    kernel = _kernel_from_file(file, name)
    if device == "cuda":
        args = [a.cuda() if hasattr(a, "cuda") else a for a in args]
    m = measure_one(kernel, args, Config.from_dict(json.loads(config_json)), backend, reference, poison, device)
    m.pop("outputs", None)
    return m


def measure_ray(kernel, args, configs: list[Config], backend: str, reference, poison: set[str], device: str):
    """Yield (config, measurement) as Ray tasks finish, one task per config."""
    try:
        import ray
    except ImportError:
        raise TileLangError("--executor ray needs Ray: pip install -e \".[distributed]\"") from None
    if not _importable(kernel):
        raise TileLangError(f"kernel `{kernel.name}` must be defined at the top level of its file for Ray "
                            "workers to load it", kernel.loc)
    if not ray.is_initialized():
        address = os.environ.get("TILELANG_RAY_ADDRESS")
        if address:
            ray.init(address=address, log_to_driver=False)
        else:
            ray.init(num_cpus=min(2, os.cpu_count() or 1), include_dashboard=False, log_to_driver=False)
    cpu_args = [a.cpu() if hasattr(a, "cpu") else a for a in args]
    ref = [r.cpu() if hasattr(r, "cpu") else r for r in reference] if reference is not None else None
    task = ray.remote(num_gpus=1 if device == "cuda" else 0, num_cpus=1)(_ray_task)
    args_ref, ref_ref = ray.put(cpu_args), ray.put(ref)
    pending = {task.remote(kernel.src.file, kernel.name, args_ref, c.to_json(), backend, ref_ref, poison, device): c
               for c in configs}
    while pending:
        done, _ = ray.wait(list(pending), num_returns=1)
        for ref_ in done:
            c = pending.pop(ref_)
            try:
                m = ray.get(ref_)
            except Exception as e:  # a task that died is that config's error, not the sweep's
                m = {"status": "error", "time_s": None, "detail": f"ray task failed: {type(e).__name__}: {e}"}
            yield c, m


if __name__ == "__main__":  # a precompile worker: a pickled job on stdin
    import pickle
    import sys

    compile_batch(*pickle.loads(sys.stdin.buffer.read()))
