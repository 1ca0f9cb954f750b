"""LLVM through llvmlite: optimize for the host CPU, emit object code, load it with MCJIT.

Compiled object code is cached in memory (per key) and on disk (tilelang.runtime.cache, kind
"cpu": kernel.o, the optimized kernel.ll and abi.json), so another process calling the same kernel
with the same Config loads the object file without building or optimizing any IR. STATS counts
what happened (tests read it to prove a disk hit skipped the optimizer).

TILELANG_DUMP_LLVM=1 prints the optimized LLVM IR and the assembly to stderr; set to a directory
path, it writes NAME-KEY.ll and NAME-KEY.s there instead.
"""

from __future__ import annotations

import functools
import os
import sys
import threading
from pathlib import Path

import llvmlite.binding as llvm

STATS = {"ir_built": 0, "optimized": 0, "object_emitted": 0, "disk_hits": 0, "memory_hits": 0, "loaded": 0}

_lock = threading.Lock()
_engines: dict[str, tuple] = {}  # key -> (engine, address)


@functools.cache
def target_machine():
    llvm.initialize_native_target()
    llvm.initialize_native_asmprinter()
    target = llvm.Target.from_default_triple()
    return target.create_target_machine(cpu=llvm.get_host_cpu_name(),
                                        features=llvm.get_host_cpu_features().flatten(), opt=3)


def host_description() -> str:
    return f"{llvm.get_process_triple()} cpu={llvm.get_host_cpu_name()}"


def triple_and_layout() -> tuple[str, str]:
    tm = target_machine()
    return llvm.get_process_triple(), str(tm.target_data)


def optimize(text: str):
    """Parse and run the O3 pipeline (loop and SLP vectorization on); returns the module."""
    tm = target_machine()
    mod = llvm.parse_assembly(text)
    mod.verify()
    pto = llvm.create_pipeline_tuning_options(3)
    pto.loop_vectorization = True
    pto.slp_vectorization = True
    pto.loop_unrolling = True
    pb = llvm.create_pass_builder(tm, pto)
    pb.getModulePassManager().run(mod, pb)
    STATS["optimized"] += 1
    return mod


def emit_object(mod) -> bytes:
    STATS["object_emitted"] += 1
    return target_machine().emit_object(mod)


def dump(name: str, key: str, ll_text: str, asm: str | None = None):
    where = os.environ.get("TILELANG_DUMP_LLVM", "")
    if not where or where == "0":
        return
    if asm is None:
        asm = target_machine().emit_assembly(llvm.parse_assembly(ll_text))
    if where.lower() in ("1", "true", "yes", "stderr"):
        print(f"; ==== tilelang cpu: LLVM IR of {name} ({key}) ====\n{ll_text}", file=sys.stderr)
        print(f"# ==== tilelang cpu: assembly of {name} ({key}) ====\n{asm}", file=sys.stderr)
        return
    d = Path(where)
    d.mkdir(parents=True, exist_ok=True)
    (d / f"{name}-{key}.ll").write_text(ll_text)
    (d / f"{name}-{key}.s").write_text(asm)


def _load_object(obj: bytes, entry: str) -> tuple:
    tm = target_machine()
    engine = llvm.create_mcjit_compiler(llvm.parse_assembly(""), tm)
    engine.add_object_file(llvm.ObjectFileRef.from_data(obj))
    engine.finalize_object()
    addr = engine.get_function_address(entry)
    if not addr:
        raise RuntimeError(f"entry point {entry} not found in the object code")
    STATS["loaded"] += 1
    return engine, addr


@functools.cache
def _libm():
    # Make libm's symbols (sinf, cosf, exp, ...) visible to the JIT linker.
    import ctypes.util

    path = ctypes.util.find_library("m")
    if path:
        try:
            llvm.load_library_permanently(path)
        except RuntimeError:
            pass
    return True


def compile_cached(key: str, name: str, entry: str, build_ir, abi: dict) -> int:
    """The address of `entry`, compiling `build_ir()` (-> LLVM IR text) only when no cache has it."""
    import json

    from tilelang.runtime import cache

    _libm()
    with _lock:
        hit = _engines.get(key)
        if hit is not None:
            STATS["memory_hits"] += 1
            return hit[1]
        files = ("kernel.o", "kernel.ll", "abi.json")
        entry_dir = cache.lookup("cpu", key, files)
        obj = None
        if entry_dir is not None:
            try:
                obj = (entry_dir / "kernel.o").read_bytes()
                engine, addr = _load_object(obj, entry)
                STATS["disk_hits"] += 1
                dump(name, key, (entry_dir / "kernel.ll").read_text())
            except Exception:  # a damaged entry: rebuild it
                cache.discard("cpu", key)
                obj = None
        if obj is None:
            text = build_ir()
            STATS["ir_built"] += 1
            mod = optimize(text)
            ll = str(mod)
            obj = emit_object(mod)
            if os.environ.get("TILELANG_DUMP_LLVM", "") not in ("", "0"):
                dump(name, key, ll, target_machine().emit_assembly(mod))
            cache.store("cpu", key, {"kernel.o": obj, "kernel.ll": ll, "abi.json": json.dumps(abi, indent=1)})
            engine, addr = _load_object(obj, entry)
        _engines[key] = (engine, addr)
        return addr


@functools.cache
def aot_target_machine():
    """Like target_machine(), but position-independent with the small code model: an object file to
    link into executables and shared libraries (the JIT's large code model needs text relocations)."""
    llvm.initialize_native_target()
    llvm.initialize_native_asmprinter()
    target = llvm.Target.from_default_triple()
    return target.create_target_machine(cpu=llvm.get_host_cpu_name(), features=llvm.get_host_cpu_features().flatten(),
                                        opt=3, reloc="pic", codemodel="default")


def compile_artifacts(text: str) -> tuple[str, bytes, str]:
    """(optimized LLVM IR, object code, assembly) for ahead-of-time output."""
    mod = optimize(text)
    tm = aot_target_machine()
    STATS["object_emitted"] += 1
    return str(mod), tm.emit_object(mod), tm.emit_assembly(mod)
