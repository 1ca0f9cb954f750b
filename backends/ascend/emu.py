"""Build and run rendered Ascend C on the CPU against the strict emulator (emu/ascend_emu.h).

The kernel source is exactly what `tilelang compile --target ascend:910b` writes; a small driver
(below) unpacks one int64 slot per kernel parameter and runs AI cores through the emulator. One
translation unit, `g++ -O1`, cached in the compile cache by the hash of everything compiled.

Two entry points share the driver: `tl_launch` (the Python launcher: `blocks` cores stride over
the grid as on the device, a violation returned as text) and `<kernel>_emu` with the C launcher
ABI of the cpu target (`void fn(int64_t *args, int64_t program_begin, int64_t program_end)`: one
fresh core per program, a violation printed to stderr before abort()).
"""

from __future__ import annotations

import ctypes
import hashlib
import shutil
import struct
import subprocess
import tempfile
from pathlib import Path

from tilelang.errors import BackendError, HardwareRuleError, LaunchError, Loc
from tilelang.runtime import cache

EMU_DIR = Path(__file__).parent / "emu"
HEADERS = ("ascend_emu.h", "kernel_operator.h")
GXX_FLAGS = ("-std=c++20", "-O1", "-fPIC", "-w")


def gxx() -> str | None:
    return shutil.which("g++")


def gxx_version() -> str:
    g = gxx()
    if g is None:
        return "none"
    return subprocess.run([g, "--version"], capture_output=True, text=True).stdout.splitlines()[0]


def driver(rendered) -> str:
    unpack = []
    for i, a in enumerate(rendered.args):
        if a.kind == "ptr":
            unpack.append(f"(GM_ADDR)(uintptr_t)a[{i}]")
        elif a.kind == "scalar" and a.dtype in ("f16", "bf16", "f32", "f64"):
            unpack.append(f"(float)tl_f64_of_bits(a[{i}])")
        elif a.kind == "scalar" and a.dtype == "bool":
            unpack.append(f"(bool)a[{i}]")
        elif a.kind == "scalar":
            unpack.append(f"({ {'i8': 'signed char', 'i32': 'int'}.get(a.dtype, 'long long') })a[{i}]")
        else:
            unpack.append(f"(int64_t)a[{i}]")
    name = rendered.entry
    return f"""
// ---- emulator driver (not part of the Ascend C kernel) ----
static double tl_f64_of_bits(int64_t b) {{ double d; memcpy(&d, &b, 8); return d; }}
static void tl_call(int64_t* a) {{ {name}({", ".join(unpack)}); }}
extern "C" int tl_launch(int64_t blocks, int64_t* args, char* err, int errlen) {{
  return AscendC::run_cores(0, blocks, blocks, err, errlen, [&] {{ tl_call(args); }});
}}
extern "C" void {name}_emu(int64_t* args, int64_t program_begin, int64_t program_end) {{
  char err[2048];
  if (AscendC::run_cores(program_begin, program_end, INT64_MAX / 4, err, sizeof err, [&] {{ tl_call(args); }})) {{
    fprintf(stderr, "ascend emulator: %s\\n", err);
    abort();
  }}
}}
"""


def emulated_source(rendered) -> str:
    # The kernel's own symbol is renamed so that a C launcher of the same name can link with it.
    return f"#define {rendered.entry} tl_ascend_{rendered.entry}\n" + rendered.source + driver(rendered)


def compile_emulator(rendered, out_dir: Path, shared: bool = True) -> Path:
    """Compile kernel + driver in `out_dir` (which gets the emulator headers); return the binary."""
    g = gxx()
    if g is None:
        raise BackendError("the Ascend emulator needs g++ (apt-get install g++)")
    for h in HEADERS:
        shutil.copy(EMU_DIR / h, out_dir / h)
    src = out_dir / f"{rendered.entry}.emu.cpp"
    src.write_text(emulated_source(rendered))
    out = out_dir / (f"{rendered.entry}.emu.so" if shared else f"{rendered.entry}.emu.o")
    mode = ["-shared"] if shared else ["-c"]
    res = subprocess.run([g, *GXX_FLAGS, *mode, src.name, "-o", out.name], cwd=out_dir, capture_output=True, text=True)
    if res.returncode != 0:
        raise BackendError(f"g++ rejected the generated Ascend C source:\n{res.stderr[:4000]}")
    return out


def build(rendered):
    """A ctypes handle on the emulated kernel, compiled once per source and cached on disk."""
    parts = [emulated_source(rendered), gxx_version(), " ".join(GXX_FLAGS)]
    parts += [(EMU_DIR / h).read_text() for h in HEADERS]
    key = hashlib.sha256("\0".join(parts).encode()).hexdigest()[:32]
    hit = cache.lookup("ascend-emu", key, ("kernel.so",))
    if hit is None:
        with tempfile.TemporaryDirectory(prefix="tilelang-ascend-") as d:
            so = compile_emulator(rendered, Path(d))
            hit = cache.store("ascend-emu", key, {"kernel.cpp": rendered.source, "kernel.so": so.read_bytes()})
    lib = ctypes.CDLL(str(hit / "kernel.so"))
    fn = lib.tl_launch
    fn.argtypes = [ctypes.c_int64, ctypes.POINTER(ctypes.c_int64), ctypes.c_char_p, ctypes.c_int]
    fn.restype = ctypes.c_int
    fn._lib = lib
    return fn


def slot_values(rendered, args: dict, sizes: dict) -> list[int]:
    """One int64 per kernel parameter: addresses, sizes, strides, scalars (floats as f64 bits)."""
    import sympy

    from tilelang.ir.types import size_subs

    subs = size_subs(sizes)
    out = []
    for a in rendered.args:
        if a.kind == "ptr":
            out.append(args[a.of].data_ptr())
        elif a.kind == "size":
            out.append(int(args[a.of].shape[a.dim]))
        elif a.kind == "stride":
            out.append(int(args[a.of].stride(a.dim)))
        elif a.kind == "scalar":
            v = args[a.of]
            if a.dtype.startswith(("f", "bf")):
                out.append(struct.unpack("<q", struct.pack("<d", float(v)))[0])
            else:
                out.append(int(v))
        else:
            v = sympy.sympify(a.expr).subs(subs)
            if not v.is_Integer:
                raise LaunchError(f"size {a.expr} is not known at launch")
            out.append(int(v))
    return out


def launcher(rendered, fn, cores: int):
    def launch(args: dict, sizes: dict, grid: int):
        for t in rendered.unit_stride:
            x = args[t]
            if x.dim() and x.stride(-1) != 1 and x.shape[-1] > 1:
                raise LaunchError(f"backend 'ascend': `{t}` feeds the Cube unit's DMA, which needs unit stride "
                                  "along its last dimension; pass a contiguous tensor")
        slots = slot_values(rendered, args, sizes)
        argv = (ctypes.c_int64 * max(1, len(slots)))(*slots)
        err = ctypes.create_string_buffer(2048)
        if fn(min(grid, cores), argv, err, len(err)):
            raise emulator_error(err.value.decode(errors="replace"))

    launch.rendered = rendered
    return launch


def emulator_error(text: str) -> HardwareRuleError:
    """`file:line: message` from the emulator as a located error."""
    head, sep, rest = text.partition(": ")
    file, _, line = head.rpartition(":")
    if sep and file and line.isdigit():
        return HardwareRuleError(f"Ascend emulator: {rest}", Loc(file, int(line), 0))
    return HardwareRuleError(f"Ascend emulator: {text}")
