"""The cpu backend: tile IR -> loop level (lower.py) -> LLVM IR (codegen.py) -> native code (jit.py).

The launch grid runs in parallel: the launcher splits the program ids into one contiguous chunk
per core and calls the compiled function on each from a thread pool through ctypes (which releases
the GIL); no Python runs inside a chunk. Small launches (under INLINE_BELOW_POINTS iteration
points) run inline on the calling thread, where the pool's hand-off would cost more than the work.
It is the default backend for CPU tensors (priority 10); backend="reference" still selects the
numpy interpreter.
"""

from __future__ import annotations

import array
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
from tilelang.runtime.limits import uses_int32_positions
from tilelang.runtime.sizecode import NoIntegerForm, py_int_code, size_evaluator
from tilelang.ir.dtypes import storage_bytes

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


# ---- compiling -----------------------------------------------------------------------------------

def to_program(kernel: ir.Kernel) -> Program:
    from .lower import lower

    prog = lower(kernel)
    _check_stack(prog, kernel)
    return prog


_BYTES = {"bool": 1, "i8": 1, "f64": 8, "i64": 8}  # f16/bf16 live in f32 buffers: 4 bytes like the rest


def _check_stack(prog: Program, kernel: ir.Kernel):
    """Tile buffers live on the stack up to codegen.STACK_BUDGET and on the heap beyond it (see
    codegen.Codegen.local_array): refuse, before running, what would not fit in memory at all, with
    an error that says which tiles to shrink."""
    from .codegen import HEAP_LIMIT

    need = sum(b.size * _BYTES.get(b.dtype, 4) for b in prog.buffers)
    if need > HEAP_LIMIT:
        tiles = ", ".join(f"{t.name}={t.block}" for s in ir.walk(kernel.body) if isinstance(s, ir.TileLoop)
                          for t in s.tiles)
        raise BackendError(f"cpu backend: kernel `{kernel.name}` needs {need / 2**20:.1f} MiB of tile buffers per "
                           f"thread, more than the {HEAP_LIMIT // 2**20} MiB limit; use smaller tile sizes "
                           f"(now {tiles}), e.g. a smaller Config block beside a whole dimension", kernel.loc)


def llvm_ir(prog: Program, microkernel: str = "") -> tuple[str, str]:
    from .codegen import generate

    triple, layout = jit.triple_and_layout()
    return generate(prog, triple, layout, microkernel)


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


def _host_key(key: str, microkernel: str = "") -> str:
    import llvmlite.binding as llvm

    from tilelang.autotune.hardware import host_isa

    isa = host_isa()
    h = hashlib.sha256()
    for part in (key, llvm.get_host_cpu_name(), llvm.get_host_cpu_features().flatten(), isa.cpu, isa.features,
                 os.environ.get("TILELANG_CPU_MICROKERNEL", ""), microkernel, "cpu-backend-v2"):
        h.update(part.encode())
        h.update(b"\0")
    return h.hexdigest()[:32]


# A launch with fewer iteration points than this runs on the calling thread: handing chunks to the
# pool and waiting for them costs 10-30 microseconds, more than such a small kernel takes itself
# (2^16 points of even exp-heavy elementwise work is a few microseconds per core).
INLINE_BELOW_POINTS = 1 << 16


def iteration_points(stmts) -> sympy.Expr:
    """A size expression counting the kernel's element-level iterations: each tile loop contributes
    the product of its extents times (1 + what its body's loops do). A cost estimate, not exact."""
    total = sympy.Integer(0)
    for s in stmts:
        if isinstance(s, ir.TileLoop):
            inner = iteration_points(s.body)
            # a runtime-bounded tile's extent is unknown here: count one tile of it
            total += sympy.Mul(*[t.block if t.is_runtime else t.extent for t in s.tiles]) * (1 + inner)
        elif isinstance(s, ir.If):
            total += iteration_points(s.then) + iteration_points(s.orelse)
    return total


def _f64_bits(v) -> int:
    return struct.unpack("<q", struct.pack("<d", float(v)))[0]


def _not_on_cpu(args: dict, names):
    bad = next(n for n in names if not args[n].is_cpu)
    raise BackendError(f"cpu backend: argument `{bad}` must be a CPU tensor")


def packer_source(prog: Program, work) -> str:
    """Python source of `pack(args, s) -> (int64 slots as an array.array, iteration points)`: one
    expression per slot, generated once per kernel (an array.array is three times cheaper to build
    than a ctypes array). The caller (runtime/launch.py's Runner) passes dense, resolved tensors."""
    lines = ["def pack(args, s):"]
    slots, tensors = [], []
    for i, t in enumerate(prog.tensors):
        lines.append(f"    t{i} = args[{t.name!r}]")
        tensors.append(f"t{i}.is_cpu")
        slots += [f"t{i}.data_ptr()", f"*t{i}.shape", f"*t{i}.stride()"]
    for name, dt in prog.scalars:
        slots.append(f"f64_bits(args[{name!r}])" if dt.startswith(("f", "bf")) else f"int(args[{name!r}])")
    slots += [py_int_code(e, lambda n: f"s[{n!r}]") for e in prog.size_exprs]
    slots.append("0")  # the status slot (codegen.Codegen.local_array writes 1 when allocation fails)
    if tensors:
        names = tuple(t.name for t in prog.tensors)
        lines.append(f"    if not ({' and '.join(tensors)}): not_on_cpu(args, {names!r})")
    slot_tuple = f"({', '.join(slots)},)" if slots else "()"
    lines.append(f"    return array('q', {slot_tuple}), {py_int_code(work, lambda n: f's[{n!r}]')}")
    return "\n".join(lines) + "\n"


class Launcher:
    """Runs a compiled kernel: packs the argument slots, then runs the grid inline (small launches) or
    split over the cores (the rest)."""

    def __init__(self, prog: Program, addr: int, work=sympy.Integer(1 << 30), threads: int = 0):
        self.prog = prog
        self.threads = threads  # 0: TILELANG_NUM_THREADS or every core
        self.fn = _FN(addr)
        self.nslots = len(prog.arg_layout())
        env = {"array": array.array, "f64_bits": _f64_bits, "not_on_cpu": _not_on_cpu, "max": max, "min": min}
        try:
            self.source = packer_source(prog, work)
            exec(compile(self.source, f"<tilelang cpu pack {prog.name}>", "exec"), env)  # noqa: S102 (generated)
            self.pack = env["pack"]
        except NoIntegerForm:  # sizes with no int form: evaluate them with sympy
            self.source, sizes_of = None, size_evaluator(list(prog.size_exprs) + [work])
            self.pack = lambda args, s: self._pack_slowly(args, sizes_of(s))

    def _pack_slowly(self, args: dict, size_values: list[int]):
        vals = []
        for t in self.prog.tensors:
            x = args[t.name]
            if not x.is_cpu:
                _not_on_cpu(args, [t.name])
            vals += [x.data_ptr(), *x.shape, *x.stride()]
        for name, dt in self.prog.scalars:
            vals.append(_f64_bits(args[name]) if dt.startswith(("f", "bf")) else int(args[name]))
        return array.array("q", vals + size_values[:-1] + [0]), size_values[-1]  # + status slot

    def __call__(self, args: dict, sizes: dict, grid: int):
        buf, work = self.pack(args, sizes)  # buf stays alive until this call returns
        ptr = buf.buffer_info()[0]
        n = 1 if work < INLINE_BELOW_POINTS else min(self.threads or num_threads(), grid)
        if n <= 1:
            self.fn(ptr, 0, grid)
        else:
            bounds = [grid * i // n for i in range(n + 1)]
            pool = _get_pool(n)
            futs = [pool.submit(self.fn, ptr, bounds[i], bounds[i + 1]) for i in range(1, n)]
            self.fn(ptr, bounds[0], bounds[1])
            for f in futs:
                f.result()
        if buf[len(buf) - 1]:
            raise BackendError(f"cpu backend: kernel `{self.prog.name}` could not allocate its tile buffers "
                               "(out of memory); the outputs are not written. Use smaller tile sizes")


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
        return self.compile_with(kernel, key, None)

    def compile_with(self, kernel: ir.Kernel, key: str, config) -> Launcher:
        """Compile with the Config's cpu settings: `microkernel` (GEMM register block) and
        `num_threads` (0: all cores)."""
        microkernel = getattr(config, "microkernel", "") or ""
        try:
            prog = to_program(kernel)
            hkey = _host_key(key, microkernel)
            holder = {}

            def build():
                text, entry = llvm_ir(prog, microkernel)
                holder["entry"] = entry
                return text

            entry = f"tl_{prog.name}"
            addr = jit.compile_cached(hkey, prog.name, entry, build, abi_description(prog, entry))
            return Launcher(prog, addr, iteration_points(kernel.body), getattr(config, "num_threads", 0) or 0)
        except TileLangError as e:
            if e.loc is None:  # point at the kernel (e.g. a Config whose tiles are too large)
                raise type(e)(e.message, kernel.loc) from None
            raise
        except Exception as e:  # an LLVM failure is reported, not dumped as a traceback
            raise BackendError(f"cpu backend failed to compile kernel `{kernel.name}`: {type(e).__name__}: {e}",
                               kernel.loc) from e

    def write_aot(self, kernel: ir.Kernel, target: str, out_dir, key: str, config=None) -> dict:
        if target != "cpu":
            raise BackendError(f"cpu backend: unknown target {target!r} (use 'cpu': the host CPU)")
        try:
            prog = to_program(kernel)
            text, entry = llvm_ir(prog, getattr(config, "microkernel", "") or "")
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
        return {"files": list(names.values()), "binary_kind": "elf-object", **abi,
                "binary": {"file": names["o"], "kind": "elf-object", "symbol": entry},
                "launch_api": "c-call", "params": slot_params(prog), "block": [1, 1, 1],
                "index_bits": 64, "position_bits": 32 if uses_int32_positions(kernel) else 64,
                "toolchain": {"llvmlite": _llvmlite_version()}}


def slot_params(prog: Program) -> list[dict]:
    """The int64 slots of the entry's `args` array, in order, in the manifest's parameter vocabulary."""
    out = []
    for t in prog.tensors:
        out.append({"name": f"{t.name}_ptr", "kind": "data_ptr", "of": t.name, "c_type": "int64_t", "bytes": 8,
                    "pass": f"address of `{t.name}`'s first element"})
        out += [{"name": f"{t.name}_size{d}", "kind": "size", "of": t.name, "dim": d, "c_type": "int64_t",
                 "bytes": 8, "pass": f"size of `{t.name}` along dim {d}"} for d in range(t.rank)]
        out += [{"name": f"{t.name}_stride{d}", "kind": "stride", "of": t.name, "dim": d, "c_type": "int64_t",
                 "bytes": 8, "pass": f"stride of `{t.name}` along dim {d}, in elements"} for d in range(t.rank)]
    for name, dt in prog.scalars:
        floating = dt.startswith(("f", "bf"))
        out.append({"name": name, "kind": "scalar", "of": name, "c_type": "int64_t", "bytes": 8,
                    "encoding": "f64-bits" if floating else "i64",
                    "pass": f"`{name}` as the bits of a double" if floating else f"`{name}` as an int64"})
    out += [{"name": f"size_expr{i}", "kind": "size_expr", "expr": str(e), "c_type": "int64_t", "bytes": 8,
             "pass": f"the value of {e} (sympy syntax, over the size symbols)"} for i, e in enumerate(prog.size_exprs)]
    elem = {t.name: storage_bytes(t.dtype) for t in prog.tensors}
    for p in out:
        p["align"] = 8
        if p["kind"] == "data_ptr":
            p["pointee_align"] = elem[p["of"]]
    return out



def _llvmlite_version() -> str:
    import llvmlite

    return llvmlite.__version__


register(CpuBackend())
__all__ = ["CpuBackend", "STATS"]
STATS = jit.STATS
