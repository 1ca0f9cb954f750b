"""C launchers from manifests: a header and a C source with one function per kernel.

Every launcher takes, in the kernel's parameter order, each tensor as a typed pointer and one int64
stride per dimension (in elements), each scalar (double, int64 or uint64), then the size symbols as int64,
then a stream on GPU targets. It checks the specialization the binary assumes (fixed sizes,
divisibility, pointer alignment, index ranges) and returns a TL_* status instead of launching when
one fails; then it launches the binary the way its manifest's `launch_api` says:

- "c-call": the cpu target's object file is linked with the program; the launcher packs the entry's
  int64 argument slots and runs the whole grid in the calling thread, or on N pthreads when the
  library is built with -DTILELANG_AOT_THREADS=N.
- "cuda-driver": the cubin is embedded in the source as bytes, loaded into the calling thread's
  current context on first use (cuModuleLoadData) and launched with cuLaunchKernel.
- "hip-runtime": the same with hipModuleLoadData / hipModuleLaunchKernel for the code object.

Only the manifest is read here, never a backend, so any backend that writes a manifest (the CUDA
C++ backend's cubins included) gets a launcher.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import sympy

from tilelang.errors import BackendError

ELEM_C = {"f16": "uint16_t", "bf16": "uint16_t", "f32": "float", "f64": "double", "i8": "int8_t", "i32": "int32_t",
          "i64": "int64_t", "u8": "uint8_t", "u16": "uint16_t", "u32": "uint32_t", "u64": "uint64_t", "bool": "uint8_t"}
GPU_STREAM = {"cuda-driver": "CUstream", "hip-runtime": "hipStream_t"}
STATUS = [("TL_OK", 0, "launched (or nothing to do: an empty grid)"),
          ("TL_ERR_SIZE", 1, "a size is negative"),
          ("TL_ERR_SPECIALIZATION", 2, "a size breaks the specialization the binary was compiled for "
                                       "(a fixed size or a divisibility promise)"),
          ("TL_ERR_ALIGNMENT", 3, "a tensor pointer is not aligned to its element size"),
          ("TL_ERR_RANGE", 4, "a size, stride or the grid exceeds what the binary can index (int32 on GPU; "
                            "i32 tile positions on cpu)"),
          ("TL_ERR_NO_CONTEXT", 5, "no current CUDA context / HIP device on the calling thread"),
          ("TL_ERR_DRIVER_BASE", 1000, "1000 + the CUresult / hipError_t of a failed driver call")]
# cuLaunchKernel needs an opt-in above this much dynamic shared memory.
CUDA_DEFAULT_SHARED = 49152


@dataclass(frozen=True)
class Entry:
    """One compiled binary to launch from C: `c_name` is its launcher's name."""

    c_name: str
    manifest: dict
    binary: bytes | None = None  # embedded in the source for GPU targets
    public: bool = True  # False: a static variant a dispatcher calls


# ---- integer size expressions (sympy syntax in manifests) -> C --------------------------------------

HELPERS = """\
static inline int64_t tl_fdiv(int64_t a, int64_t b) {  /* Python's // (rounds toward -inf) */
    int64_t q = a / b;
    return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}
static inline int64_t tl_cdiv(int64_t a, int64_t b) { return -tl_fdiv(-a, b); }
static inline int64_t tl_mod(int64_t a, int64_t b) { return a - tl_fdiv(a, b) * b; }
static inline int tl_fits_i32(int64_t v) { return v >= INT32_MIN && v <= INT32_MAX; }
/* the farthest element offset a dimension reaches: (size - 1) * |stride| */
static inline int64_t tl_span(int64_t size, int64_t stride) { return size > 0 ? (size - 1) * (stride < 0 ? -stride : stride) : 0; }
static inline int64_t tl_f64_bits(double v) { int64_t b; memcpy(&b, &v, sizeof b); return b; }
"""


SIZE_FUNCTIONS = {"ceiling": sympy.ceiling, "floor": sympy.floor, "Mod": sympy.Mod}


def parse_size_expr(text: str) -> sympy.Expr:
    """A manifest's size expression (sympy syntax) with every other name a symbol: plain sympify
    would read `N`, `S` or `E` as sympy's own objects."""
    local = {n: sympy.Symbol(n, integer=True) for n in re.findall(r"[A-Za-z_]\w*", text) if n not in SIZE_FUNCTIONS}
    return sympy.sympify(text, locals={**local, **SIZE_FUNCTIONS})


def c_expr(e, names: dict[str, str] | None = None) -> str:
    """An integer sympy expression (or its string) as C over int64 variables named like the symbols."""
    e = parse_size_expr(e) if isinstance(e, str) else e
    names = names or {}
    if e.is_Integer:
        return f"INT64_C({int(e)})"
    if e.is_Symbol:
        return names.get(e.name, e.name)
    if isinstance(e, (sympy.ceiling, sympy.floor)):
        num, den = sympy.fraction(sympy.together(e.args[0]))
        fn = "tl_cdiv" if isinstance(e, sympy.ceiling) else "tl_fdiv"
        return f"{fn}({c_expr(num, names)}, {c_expr(den, names)})"
    if isinstance(e, sympy.Mod):
        return f"tl_mod({c_expr(e.args[0], names)}, {c_expr(e.args[1], names)})"
    if e.is_Add:
        return "(" + " + ".join(c_expr(a, names) for a in e.args) + ")"
    if e.is_Mul:
        num, den = sympy.fraction(e)
        if den != 1:
            raise BackendError(f"size expression {e} is not an integer expression")
        return "(" + " * ".join(c_expr(a, names) for a in e.args) + ")"
    if e.is_Pow and e.exp.is_Integer and e.exp > 0:
        return "(" + " * ".join([c_expr(e.base, names)] * int(e.exp)) + ")"
    raise BackendError(f"size expression {e} has no C form")


# ---- the C signature -----------------------------------------------------------------------------------

C_KEYWORDS = frozenset("""auto break case char const continue default do double else enum extern float for goto if
inline int long register restrict return short signed sizeof static struct switch typedef union unsigned void
volatile while _Bool _Complex _Imaginary bool true false NULL stream""".split())


def check_names(m: dict):
    """Parameter and size names become C identifiers: refuse those C (or the launcher) reserves."""
    names = [a["name"] for a in m["args"]] + list(m["sizes"])
    for n in names:
        if n in C_KEYWORDS or n.startswith("tl_") or n.upper().startswith("TL_"):
            raise BackendError(f"kernel `{m['kernel']}`: `{n}` cannot name a C launcher argument (a C keyword or "
                               "reserved by the launcher: `stream`, `tl_*`); rename it")


def c_params(m: dict) -> list[str]:
    """The launcher's C parameters (the same for every binary of one kernel and target)."""
    check_names(m)
    out = []
    for a in m["args"]:
        if a["kind"] == "tensor":
            const = "" if a["written"] else "const "
            out.append(f"{const}{ELEM_C[a['dtype']]} *{a['name']}")
            out += [f"int64_t {a['name']}_stride{d}" for d in range(len(a["shape"]))]
        elif a["dtype"].startswith(("f", "bf")):
            out.append(f"double {a['name']}")
        elif a["dtype"].startswith("u"):
            out.append(f"uint64_t {a['name']}")
        else:
            out.append(f"int64_t {a['name']}")
    out += [f"int64_t {s}" for s in m["sizes"]]
    if m["launch_api"] in GPU_STREAM:
        out.append(f"{GPU_STREAM[m['launch_api']]} stream")
    return out


def c_call_args(m: dict) -> list[str]:
    return [re.split(r"[ *]", p)[-1] for p in c_params(m)]


def prototype(name: str, m: dict, static: bool = False) -> str:
    return f"{'static ' if static else ''}int {name}({', '.join(c_params(m))})"


def doc_comment(m: dict) -> str:
    spec = m["specialization"]
    lines = [f"{m['kernel']} ({m['source']}) for {m['target']}; config {m['config']}",
             f"grid: {m['grid_programs']} programs" + (f" of {m['block'][0]} threads" if m["launch_api"] != "c-call"
                                                       else "")]
    for a in m["args"]:
        if a["kind"] == "tensor":
            lines.append(f"  {a['name']}: {a['dtype']}[{', '.join(a['shape'])}]{' (written)' if a['written'] else ''}")
        else:
            lines.append(f"  {a['name']}: {a['dtype']} scalar")
    if spec["fixed"]:
        lines.append("requires " + ", ".join(f"{k} == {v}" for k, v in spec["fixed"].items()))
    if spec["divisible_by"]:
        lines.append("requires " + ", ".join(f"{k} % {v} == 0" for k, v in spec["divisible_by"].items()))
    return "/* " + "\n * ".join(lines) + " */"


# ---- checks shared by every launch API ---------------------------------------------------------------------

def checks(m: dict) -> list[str]:
    out = []
    sizes = m["sizes"]
    if sizes:
        out.append(f"if ({' || '.join(f'{s} < 0' for s in sizes)}) return TL_ERR_SIZE;")
    for k, v in m["specialization"]["fixed"].items():
        out.append(f"if ({k} != {v}) return TL_ERR_SPECIALIZATION;")
    for k, v in m["specialization"]["divisible_by"].items():
        out.append(f"if ({k} % {v} != 0) return TL_ERR_SPECIALIZATION;")
    # A binary may need more than element alignment (vectorized loads): its data_ptr params say so.
    need = {p["of"]: p["pointee_align"] for p in m["params"] if p["kind"] == "data_ptr" and "pointee_align" in p}
    for a in m["args"]:
        if a["kind"] == "tensor":
            align = need.get(a["name"], f"sizeof({ELEM_C[a['dtype']]})")
            out.append(f"if ((uintptr_t){a['name']} % {align} != 0) return TL_ERR_ALIGNMENT;")
    if m.get("index_bits", 64) == 32:
        tensors = [a for a in m["args"] if a["kind"] == "tensor"]
        strides = {a["name"]: [f"{a['name']}_stride{d}" for d in range(len(a["shape"]))] for a in tensors}
        ranged = list(sizes) + [s for st in strides.values() for s in st]
        if ranged:
            out.append(f"if ({' || '.join(f'!tl_fits_i32({v})' for v in ranged)}) return TL_ERR_RANGE;")
        for a in tensors:
            span = " + ".join(f"tl_span({c_expr(s)}, {st})" for s, st in zip(a["shape"], strides[a["name"]])) or "0"
            out.append(f"if (!tl_fits_i32({span})) return TL_ERR_RANGE;  /* offsets into {a['name']} are i32 */")
    elif m.get("position_bits", 32) == 32 and sizes:
        # 64-bit offsets, but the kernel computes with i32 tile positions or sizes (m.index, M as a
        # value): a library holds that one variant (the Python call path compiles an i64 one).
        out.append(f"if ({' || '.join(f'!tl_fits_i32({s})' for s in sizes)}) return TL_ERR_RANGE;")
    out.append(f"const int64_t tl_programs = {c_expr(m['grid_programs'])};")
    if m["launch_api"] != "c-call":
        out.append("if (tl_programs > INT32_MAX) return TL_ERR_RANGE;")
    out.append("if (tl_programs == 0) return TL_OK;  /* an empty output: nothing to compute */")
    return out


def param_value(p: dict, m: dict) -> str:
    """A C expression for what the binary's parameter `p` receives (before the cast to its C type)."""
    kind = p["kind"]
    if kind == "data_ptr":
        return f"(uintptr_t){p['of']}"
    if kind == "stride":
        return f"{p['of']}_stride{p['dim']}"
    if kind == "size":
        shape = next(a["shape"] for a in m["args"] if a["name"] == p["of"])
        return c_expr(shape[p["dim"]])
    if kind == "scalar":
        return f"tl_f64_bits({p['of']})" if p.get("encoding") == "f64-bits" else p["of"]
    if kind == "size_symbol":
        return p["of"]
    if kind == "size_expr":
        return c_expr(p["expr"])
    if kind in ("global_scratch", "profile_scratch"):
        return f"tl_{kind}"
    raise BackendError(f"manifest parameter kind {kind!r} is unknown to the C launcher generator")


def _check_supported(m: dict):
    launch = m.get("launch", {})
    if launch.get("num_ctas", 1) != 1 or list(launch.get("cluster_dims", [1, 1, 1])) not in ([1, 1, 1], [0, 0, 0]):
        raise BackendError(f"{m['kernel']}: thread-block clusters (num_ctas > 1) are not supported by the C launcher")
    if launch.get("launch_cooperative_grid") or launch.get("launch_pdl"):
        raise BackendError(f"{m['kernel']}: cooperative / programmatic-dependent launches are not supported by the "
                           "C launcher")
    for a in m["args"]:
        if a["kind"] == "scalar" and a["dtype"] in ("f16", "bf16"):
            raise BackendError(f"{m['kernel']}: scalar `{a['name']}` is {a['dtype']}; the C launcher takes f32/f64 "
                               "scalars only (declare it f32)")


# ---- bodies per launch API ---------------------------------------------------------------------------------

def c_call_body(e: Entry) -> list[str]:
    m = e.manifest
    vals = ", ".join(f"(int64_t)({param_value(p, m)})" for p in m["params"])
    return [f"int64_t tl_slots[{max(1, len(m['params']))}] = {{{vals}}};",
            f"tl_run_grid({m['binary']['symbol']}, tl_slots, tl_programs);",
            "return TL_OK;"]


def gpu_body(e: Entry, api: str) -> list[str]:
    m = e.manifest
    cu = api == "cuda-driver"
    ok = "CUDA_SUCCESS" if cu else "hipSuccess"
    out = [f"int tl_status = {e.c_name}_load();", "if (tl_status != TL_OK) return tl_status;"]
    scratch = [p for p in m["params"] if p["kind"] in ("global_scratch", "profile_scratch")]
    free = "cuMemFreeAsync" if cu else "hipFreeAsync"
    allocated = []
    for p in scratch:
        ptr_t = "CUdeviceptr" if cu else "void *"
        out.append(f"{ptr_t} tl_{p['kind']} = 0;")
        if p["bytes_per_program"]:
            if p.get("buffer_align", 1) > 256:
                raise BackendError(f"{m['kernel']}: {p['kind']} needs {p['buffer_align']}-byte alignment; allocations "
                                   "guarantee 256")
            alloc = "cuMemAllocAsync" if cu else "hipMallocAsync"
            undo = "".join(f" (void){free}(tl_{q}, stream);" for q in allocated)
            out.append(f"{{ int tl_r = (int){alloc}(&tl_{p['kind']}, (size_t)tl_programs * {p['bytes_per_program']}, stream);"
                       f" if (tl_r != (int){ok}) {{{undo} return TL_ERR_DRIVER_BASE + tl_r; }} }}")
            allocated.append(p["kind"])
    names = []
    for i, p in enumerate(m["params"]):
        out.append(f"{p['c_type']} tl_p{i} = ({p['c_type']})({param_value(p, m)});")
        names.append(f"&tl_p{i}")
    out.append(f"void *tl_params[] = {{{', '.join(names) or 'NULL'}}};")
    launch = "cuLaunchKernel" if cu else "hipModuleLaunchKernel"
    fn = f"{e.c_name}_fn"
    out.append(f"int tl_r = (int){launch}({fn}, (unsigned)tl_programs, 1, 1, {m['block'][0]}, {m['block'][1]}, "
               f"{m['block'][2]}, {m['shared_memory_bytes']}, stream, tl_params, NULL);")
    for p in scratch:
        if p["bytes_per_program"]:
            out.append(f"{{ int tl_rf = (int){free}(tl_{p['kind']}, stream);  /* stream-ordered: after the kernel */"
                       f" if (tl_r == (int){ok}) tl_r = tl_rf; }}")
    out.append(f"return tl_r == (int){ok} ? TL_OK : TL_ERR_DRIVER_BASE + tl_r;")
    return out


def gpu_loader(e: Entry, api: str) -> str:
    m = e.manifest
    n = e.c_name
    data = e.binary or b""
    rows = [", ".join(str(b) for b in data[i:i + 24]) for i in range(0, len(data), 24)]
    image = f"static const unsigned char {n}_image[{len(data)}] TL_ALIGNED = {{\n    " + ",\n    ".join(rows) + "\n};"
    sym = m["binary"]["symbol"]
    shared = m["shared_memory_bytes"]
    if api == "cuda-driver":
        optin = (f"\n    r = cuFuncSetAttribute(fn, CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES, {shared});"
                 "\n    if (r != CUDA_SUCCESS) return TL_ERR_DRIVER_BASE + (int)r;" if shared > CUDA_DEFAULT_SHARED else "")
        return f"""{image}
static CUfunction {n}_fn;
static CUcontext {n}_ctx;
/* Load the embedded cubin into the calling thread's current context (once per context). */
static int {n}_load(void) {{
    CUcontext ctx = NULL;
    CUresult r = cuCtxGetCurrent(&ctx);
    if (r != CUDA_SUCCESS) return TL_ERR_DRIVER_BASE + (int)r;
    if (ctx == NULL) return TL_ERR_NO_CONTEXT;
    if ({n}_fn != NULL && ctx == {n}_ctx) return TL_OK;
    CUmodule mod;
    CUfunction fn;
    r = cuModuleLoadData(&mod, {n}_image);
    if (r != CUDA_SUCCESS) return TL_ERR_DRIVER_BASE + (int)r;
    r = cuModuleGetFunction(&fn, mod, "{sym}");
    if (r != CUDA_SUCCESS) return TL_ERR_DRIVER_BASE + (int)r;{optin}
    {n}_fn = fn;
    {n}_ctx = ctx;
    return TL_OK;
}}
"""
    return f"""{image}
static hipFunction_t {n}_fn;
static int {n}_device = -1;
/* Load the embedded code object on the calling thread's current device (once per device). */
static int {n}_load(void) {{
    int dev = -1;
    hipError_t r = hipGetDevice(&dev);
    if (r != hipSuccess) return TL_ERR_DRIVER_BASE + (int)r;
    if (dev < 0) return TL_ERR_NO_CONTEXT;
    if ({n}_fn != NULL && dev == {n}_device) return TL_OK;
    hipModule_t mod;
    hipFunction_t fn;
    r = hipModuleLoadData(&mod, {n}_image);
    if (r != hipSuccess) return TL_ERR_DRIVER_BASE + (int)r;
    r = hipModuleGetFunction(&fn, mod, "{sym}");
    if (r != hipSuccess) return TL_ERR_DRIVER_BASE + (int)r;
    {n}_fn = fn;
    {n}_device = dev;
    return TL_OK;
}}
"""


def launcher(e: Entry) -> str:
    m = e.manifest
    _check_supported(m)
    api = m["launch_api"]
    pre = ""
    if api == "c-call":
        body = c_call_body(e)
        pre = f"extern void {m['binary']['symbol']}(int64_t *args, int64_t program_begin, int64_t program_end);\n"
    elif api in GPU_STREAM:
        pre = gpu_loader(e, api)
        body = gpu_body(e, api)
    else:
        raise BackendError(f"launch API {api!r} is not one of c-call, cuda-driver, hip-runtime")
    lines = [pre, doc_comment(m), prototype(e.c_name, m, static=not e.public) + " {"]
    lines += ["    " + ln for ln in checks(m) + body]
    return "\n".join(lines) + "\n}\n"


# ---- the library: header + source -----------------------------------------------------------------------

def _includes(apis: set[str]) -> str:
    inc = ["#include <stdint.h>"]
    if "cuda-driver" in apis:
        inc.append("#include <cuda.h>")
    if "hip-runtime" in apis:
        inc += ["#if !defined(__HIP_PLATFORM_AMD__) && !defined(__HIP_PLATFORM_NVIDIA__)",
                "#define __HIP_PLATFORM_AMD__", "#endif", "#include <hip/hip_runtime_api.h>"]
    return "\n".join(inc)


def header(lib: str, publics: list[tuple[str, dict]], extra_protos: list[str] = ()) -> str:
    guard = re.sub(r"\W", "_", lib).upper() + "_TILELANG_H"
    apis = {m["launch_api"] for _, m in publics}
    status = "\n".join(f"    {n} = {v},  /* {d} */" for n, v, d in STATUS)
    protos = "\n\n".join([f"{doc_comment(m)}\n{prototype(n, m)};" for n, m in publics] + [f"{p};" for p in extra_protos])
    return f"""/* Generated by tilelang: launchers for {', '.join(n for n, _ in publics)}. Do not edit. */
#ifndef {guard}
#define {guard}

{_includes(apis)}

#ifdef __cplusplus
extern "C" {{
#endif

#ifndef TILELANG_AOT_STATUS
#define TILELANG_AOT_STATUS
/* What every launcher returns. */
enum {{
{status}
}};
#endif

{protos}

#ifdef __cplusplus
}}
#endif
#endif
"""


# The cpu target's grid: in the calling thread, or split into TILELANG_AOT_THREADS contiguous chunks
# run on pthreads when the library is built with -DTILELANG_AOT_THREADS=N (the entry is reentrant:
# the Python runtime calls it from a thread pool the same way).
GRID_RUNNER = """\
typedef void (*tl_entry_fn)(int64_t *args, int64_t program_begin, int64_t program_end);
#if defined(TILELANG_AOT_THREADS) && TILELANG_AOT_THREADS > 1
#include <pthread.h>
typedef struct { tl_entry_fn fn; int64_t *args; int64_t begin, end; } tl_chunk;
static void *tl_run_chunk(void *p) {
    tl_chunk *c = (tl_chunk *)p;
    c->fn(c->args, c->begin, c->end);
    return NULL;
}
static void tl_run_grid(tl_entry_fn fn, int64_t *args, int64_t programs) {
    int n = programs < TILELANG_AOT_THREADS ? (int)programs : TILELANG_AOT_THREADS;
    pthread_t threads[TILELANG_AOT_THREADS];
    tl_chunk chunks[TILELANG_AOT_THREADS];
    int started[TILELANG_AOT_THREADS];
    for (int i = 0; i < n; i++) {
        chunks[i].fn = fn;
        chunks[i].args = args;
        chunks[i].begin = programs * i / n;
        chunks[i].end = programs * (i + 1) / n;
    }
    for (int i = 1; i < n; i++) {
        started[i] = pthread_create(&threads[i], NULL, tl_run_chunk, &chunks[i]) == 0;
        if (!started[i]) tl_run_chunk(&chunks[i]);  /* no thread to be had: run it here */
    }
    tl_run_chunk(&chunks[0]);
    for (int i = 1; i < n; i++)
        if (started[i]) pthread_join(threads[i], NULL);
}
#else
static void tl_run_grid(tl_entry_fn fn, int64_t *args, int64_t programs) { fn(args, 0, programs); }
#endif
"""


def source(lib: str, entries: list[Entry], extra: str = "") -> str:
    body = "\n".join(launcher(e) for e in entries)
    if any(e.manifest["launch_api"] == "c-call" for e in entries):
        body = GRID_RUNNER + "\n" + body
    return f"""/* Generated by tilelang. Do not edit. */
#include <string.h>
#include "{lib}.h"

#if defined(__GNUC__) || defined(__clang__)
#define TL_ALIGNED __attribute__((aligned(16)))
#else
#define TL_ALIGNED
#endif

{HELPERS}
{body}
{extra}"""
