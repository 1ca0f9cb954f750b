"""The cpu backend: tile IR -> loop level (lower.py) -> LLVM IR (codegen.py) -> native code (jit.py).

The launch grid runs in parallel: the launcher splits the program ids into one contiguous chunk
per core and calls the compiled function on each from a thread pool through ctypes (which releases
the GIL); no Python runs inside a chunk. It is the default backend for CPU tensors (priority 10);
backend="reference" still selects the numpy interpreter.
"""

from __future__ import annotations

import ctypes
import hashlib
import json
import os
import struct
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import sympy

from tilelang.backend import Backend, register
from tilelang.errors import BackendError, TileLangError
from tilelang.ir import nodes as ir
from tilelang.ir.types import size_subs

from . import jit
from .loopir import Program

_FN = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_int64, ctypes.c_int64)
_pool: ThreadPoolExecutor | None = None


def num_threads() -> int:
    env = os.environ.get("TILELANG_NUM_THREADS")
    if env:
        if not env.strip().isdigit() or int(env) < 1:
            raise TileLangError(f"TILELANG_NUM_THREADS must be a positive integer, got {env!r}")
        return int(env)
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)


def _get_pool(n: int) -> ThreadPoolExecutor:
    global _pool
    if _pool is None or _pool._max_workers < n:
        _pool = ThreadPoolExecutor(max_workers=n, thread_name_prefix="tilelang-cpu")
    return _pool


# ---- size expressions, evaluated in Python at launch -----------------------------------------

def _py(e: sympy.Expr) -> str:
    if e.is_Integer:
        return str(int(e))
    if e.is_Symbol:
        return f"s[{e.name!r}]"
    if isinstance(e, (sympy.ceiling, sympy.floor)):
        num, den = sympy.fraction(sympy.together(e.args[0]))
        q = f"(({_py(num)}) // ({_py(den)}))"
        return q if isinstance(e, sympy.floor) else f"(-((-({_py(num)})) // ({_py(den)})))"
    if e.is_Add:
        return "(" + " + ".join(_py(a) for a in e.args) + ")"
    if e.is_Mul:
        num, den = sympy.fraction(e)
        if den != 1:
            raise ValueError(f"non-integer size expression {e}")
        return "(" + " * ".join(_py(a) for a in e.args) + ")"
    if isinstance(e, sympy.Mod):
        return f"(({_py(e.args[0])}) % ({_py(e.args[1])}))"
    if e.is_Pow and e.exp.is_Integer and e.exp >= 0:
        return f"(({_py(e.base)}) ** {int(e.exp)})"
    raise ValueError(f"size expression {e} has no integer form")


def size_evaluator(exprs):
    """A function sizes-dict -> list of ints for `exprs`."""
    try:
        src = "lambda s: [" + ", ".join(_py(sympy.sympify(e)) for e in exprs) + "]"
        return eval(src, {})  # noqa: S307 (built from sympy nodes above, no user text)
    except ValueError:
        def slow(s):
            subs = size_subs(s)
            return [int(sympy.sympify(e).subs(subs)) for e in exprs]
        return slow


# ---- compiling -----------------------------------------------------------------------------------

def to_program(kernel: ir.Kernel) -> Program:
    from .lower import lower

    prog = lower(kernel)
    _check_stack(prog, kernel)
    return prog


_BYTES = {"bool": 1, "i8": 1, "f64": 8, "i64": 8}  # f16/bf16 live in f32 buffers: 4 bytes like the rest


def stack_budget() -> int:
    """Bytes of tile buffers a program may keep on its stack: half the stack size threads get
    (RLIMIT_STACK, which glibc also gives new threads; 8 MiB when unlimited), the rest for LLVM."""
    import resource

    soft = resource.getrlimit(resource.RLIMIT_STACK)[0]
    return (soft if 0 < soft != resource.RLIM_INFINITY else 8 << 20) // 2


def _check_stack(prog: Program, kernel: ir.Kernel):
    """Tile buffers are stack arrays (static shapes, see lower.py): refuse what would overflow the
    stack (a crash) with an error that says which tiles to shrink."""
    need = sum(b.size * _BYTES.get(b.dtype, 4) for b in prog.buffers)
    budget = stack_budget()
    if need > budget:
        tiles = ", ".join(f"{t.name}={t.block}" for s in ir.walk(kernel.body) if isinstance(s, ir.TileLoop)
                          for t in s.tiles)
        raise BackendError(f"cpu backend: kernel `{kernel.name}` needs {need / 2**20:.1f} MiB of tile buffers, "
                           f"more than the {budget / 2**20:.1f} MiB of stack it may use; use smaller tiles "
                           f"(now {tiles}), e.g. a smaller Config block beside a whole dimension", kernel.loc)


def llvm_ir(prog: Program) -> tuple[str, str]:
    from .codegen import generate

    triple, layout = jit.triple_and_layout()
    return generate(prog, triple, layout)


def abi_description(prog: Program, entry: str) -> dict:
    return {
        "entry": entry,
        "c_signature": f"void {entry}(int64_t *args, int64_t program_begin, int64_t program_end)",
        "args": [{"slot": i, "kind": k, "of": w} for i, (k, w) in enumerate(prog.arg_layout())],
        "grid": {"tiles": [t.name for t in prog.grid],
                 "programs": " * ".join(f"({prog.size_exprs[t.count_slot]})" for t in prog.grid)},
        "notes": "sizes and strides in elements; float scalars as the bits of a double; "
                 "run programs [begin, end) of the grid, the last grid tile varying fastest",
        "host": jit.host_description(),
    }


def _host_key(key: str) -> str:
    import llvmlite.binding as llvm

    h = hashlib.sha256()
    for part in (key, llvm.get_host_cpu_name(), llvm.get_host_cpu_features().flatten(),
                 os.environ.get("TILELANG_CPU_MICROKERNEL", ""), "cpu-backend-v1"):
        h.update(part.encode())
        h.update(b"\0")
    return h.hexdigest()[:32]


class Launcher:
    def __init__(self, prog: Program, addr: int):
        self.prog = prog
        self.fn = _FN(addr)
        self.sizes_of = size_evaluator(prog.size_exprs)
        self.nslots = len(prog.arg_layout())

    def pack(self, args: dict, sizes: dict):
        import torch

        vals = []
        for t in self.prog.tensors:
            x = args[t.name]
            if not isinstance(x, torch.Tensor) or x.device.type != "cpu":
                raise BackendError(f"cpu backend: argument `{t.name}` must be a CPU tensor")
            vals.append(x.data_ptr())
            vals += list(x.shape)
            vals += list(x.stride())
        for name, dt in self.prog.scalars:
            v = args[name]
            if dt.startswith(("f", "bf")):
                vals.append(struct.unpack("<q", struct.pack("<d", float(v)))[0])
            else:
                vals.append(int(v))
        vals += self.sizes_of(sizes)
        return (ctypes.c_int64 * len(vals))(*vals)

    def __call__(self, args: dict, sizes: dict, grid: int):
        buf = self.pack(args, sizes)
        ptr = ctypes.addressof(buf)
        n = min(num_threads(), grid)
        if n <= 1:
            self.fn(ptr, 0, grid)
            return
        bounds = [grid * i // n for i in range(n + 1)]
        pool = _get_pool(n)
        futs = [pool.submit(self.fn, ptr, bounds[i], bounds[i + 1]) for i in range(1, n)]
        self.fn(ptr, bounds[0], bounds[1])
        for f in futs:
            f.result()


class CpuBackend(Backend):
    name = "cpu"
    devices = ("cpu",)
    priority = 10
    aot_targets = ("cpu",)
    default_parallel_tile = 64
    default_sequential_tile = 128

    def available(self):
        try:
            import llvmlite.binding  # noqa: F401
        except ImportError as e:
            return False, f"llvmlite is not installed ({e})"
        return True, ""

    def compile(self, kernel: ir.Kernel, key: str):
        try:
            prog = to_program(kernel)
            hkey = _host_key(key)
            holder = {}

            def build():
                text, entry = llvm_ir(prog)
                holder["entry"] = entry
                return text

            entry = f"tl_{prog.name}"
            addr = jit.compile_cached(hkey, prog.name, entry, build, abi_description(prog, entry))
            return Launcher(prog, addr)
        except TileLangError:
            raise
        except Exception as e:  # an LLVM failure is reported, not dumped as a traceback
            raise BackendError(f"cpu backend failed to compile kernel `{kernel.name}`: {type(e).__name__}: {e}",
                               kernel.loc) from e

    def write_aot(self, kernel: ir.Kernel, target: str, out_dir, key: str, config=None) -> dict:
        if target != "cpu":
            raise BackendError(f"cpu backend: unknown target {target!r} (use 'cpu': the host CPU)")
        try:
            prog = to_program(kernel)
            text, entry = llvm_ir(prog)
            ll, obj, asm = jit.compile_artifacts(text)
        except TileLangError:
            raise
        except Exception as e:
            raise BackendError(f"cpu backend failed to compile kernel `{kernel.name}`: {type(e).__name__}: {e}",
                               kernel.loc) from e
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        names = {"ll": f"{kernel.name}.ll", "o": f"{kernel.name}.o", "s": f"{kernel.name}.s",
                 "abi": f"{kernel.name}.abi.json"}
        (out_dir / names["ll"]).write_text(ll)
        (out_dir / names["o"]).write_bytes(obj)
        (out_dir / names["s"]).write_text(asm)
        abi = abi_description(prog, entry)
        (out_dir / names["abi"]).write_text(json.dumps(abi, indent=1))
        return {"files": list(names.values()), "binary_kind": "elf-object", **abi}


register(CpuBackend())
__all__ = ["CpuBackend", "STATS"]
STATS = jit.STATS
