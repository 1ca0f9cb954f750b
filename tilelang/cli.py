"""The `tilelang` command: compile kernels ahead of time, print their IR and compile report, tune
them, search Winograd points."""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from .errors import TileLangError

EPILOG_COMPILE = """\
examples:
  tilelang compile stdlib/gemm.py::matmul_kernel --target triton-cuda:sm_90 --dtype f16 -o out/
  tilelang compile stdlib/gemm.py::matmul_kernel --target triton-hip:gfx942 --dtype f16 \\
      --shape M=4096 --shape N=4096 --shape K=4096 --config BLOCK_M=128 -o out/
  tilelang compile stdlib/gemm.py::matmul_kernel --target cpu --dtype f32 -o out/
  tilelang compile kernels.py --target cpu --dtype f32 --name mylib -o out/   # every kernel, one library
"""

EPILOG_IR = """\
examples:
  tilelang ir stdlib/gemm.py::matmul_kernel --dtype f16
  tilelang ir stdlib/gemm.py::matmul_kernel --dtype f32 --shape K=512 --after masking
  tilelang ir --parse kernel.tir          # check a textual IR file: parse and verify it
"""

EPILOG_REPORT = """\
examples:
  tilelang report stdlib/gemm.py::matmul_kernel --dtype f16 --shape K=4096
  tilelang report tests/kernels.py::attention_kernel --dtype f16 --dtype scale=f32 --shape D=128
exit status: 0 when the kernel is accepted, 1 when a check fails (the report is printed either way)
"""


def _pairs(items: list[str], what: str, conv=str) -> dict:
    out = {}
    for item in items or []:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise TileLangError(f"--{what} takes NAME=VALUE, got {item!r}")
        try:
            out[name] = conv(value)
        except ValueError:
            raise TileLangError(f"--{what} {item!r}: {value!r} is not a valid value") from None
    return out


def _dtypes(items: list[str]) -> dict:
    out = {}
    for item in items or []:
        if "=" in item:
            out.update(_pairs([item], "dtype"))
        else:
            out["*"] = item
    return out


def _positive_int(v: str) -> int:
    n = int(v)
    if n <= 0:
        raise ValueError(v)
    return n


def _load_kernel(spec: str):
    from tilelang.api import TileKernel
    from tilelang.frontend.source import parse_file_function

    path, sep, name = spec.partition("::")
    if not sep or not name:
        raise TileLangError(f"name the kernel as FILE.py::KERNEL, got {spec!r}")
    obj = parse_file_function(path, name)
    if not isinstance(obj, TileKernel):
        raise TileLangError(f"{path}::{name} is not a @tl.tile kernel")
    return obj


def _common(p: argparse.ArgumentParser):
    p.add_argument("kernel", nargs="?", help="FILE.py::KERNEL, e.g. stdlib/gemm.py::matmul_kernel (compile: "
                                             "FILE.py alone compiles every kernel in the file)")
    p.add_argument("--dtype", action="append", metavar="[NAME=]DT",
                   help="dtype of a parameter (f16, bf16, f32, f64, i32, ...); without NAME= it applies to every "
                        "parameter not named otherwise. Example: --dtype f16 --dtype scale=f32")
    p.add_argument("--shape", action="append", metavar="NAME=VALUE",
                   help="specialize a size symbol to a constant, e.g. --shape K=4096 (masks it makes "
                        "unnecessary disappear)")
    p.add_argument("--divisible", action="append", metavar="NAME=D",
                   help="promise that a size is a multiple of D, e.g. --divisible K=16")
    p.add_argument("--rank", action="append", metavar="NAME=R",
                   help="rank of a tensor parameter whose shape the kernel does not unpack")
    p.add_argument("--config", action="append", metavar="NAME=VALUE",
                   help="a tile size or launch setting, e.g. --config BLOCK_M=128 --config num_warps=8")


def _prepare(args, backend):
    """(kernel, signature, Config, fixed sizes) from the options `compile` and `ir` share."""
    from tilelang.api import kernel_signature_from_options
    from tilelang.config import Config

    if not args.kernel:
        raise TileLangError("give the kernel as FILE.py::KERNEL")
    kernel = _load_kernel(args.kernel)
    sig = kernel_signature_from_options(kernel, _dtypes(args.dtype), _pairs(args.rank, "rank", _positive_int))
    cfg = _pairs(args.config, "config", _positive_int)
    settings = {k: cfg.pop(k) for k in ("num_warps", "num_stages") if k in cfg}
    config = Config(cfg, **settings)
    fixed = _pairs(args.shape, "shape", _positive_int)
    divisible = _pairs(args.divisible, "divisible", _positive_int)
    if divisible:
        kernel.divisible_by = {**kernel.divisible_by, **divisible}
    return kernel, sig, config, fixed


def _output_dir(name: str) -> Path:
    """The -o directory, created if missing; a file or an unwritable place is the user's error."""
    out = Path(name)
    if out.exists() and not out.is_dir():
        raise TileLangError(f"-o {name}: that is a file; -o names an output directory")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise TileLangError(f"-o {name}: cannot create the output directory ({e.strerror})") from None
    if not os.access(out, os.W_OK):
        raise TileLangError(f"-o {name}: the output directory is not writable")
    return out


def _read_text_file(name: str) -> str:
    path = Path(name)
    if not path.exists():
        raise TileLangError(f"no such file: {name}")
    if path.is_dir():
        raise TileLangError(f"{name} is a directory; give a .tir file")
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise TileLangError(f"{name} is not a text file (not UTF-8); give a .tir file") from None
    except OSError as e:
        raise TileLangError(f"cannot read {name}: {e.strerror}") from None


def _file_kernels(path: str) -> list:
    from tilelang.frontend.source import file_kernels

    kernels = file_kernels(path)
    if not kernels:
        raise TileLangError(f"{path} defines no @tl.tile kernel")
    return kernels


def cmd_compile(args) -> int:
    from tilelang import backend as backends
    from tilelang.aot.build import KernelJob, build_library, restrict_to_kernel
    from tilelang.api import kernel_signature_from_options
    from tilelang.config import Config

    be = backends.for_aot_target(args.target)
    if not args.kernel:
        raise TileLangError("give the kernel as FILE.py::KERNEL, or FILE.py for every kernel in the file")
    whole_file = "::" not in args.kernel
    kernels = _file_kernels(args.kernel) if whole_file else [_load_kernel(args.kernel)]
    cfg = _pairs(args.config, "config", _positive_int)
    settings = {k: cfg.pop(k) for k in ("num_warps", "num_stages") if k in cfg}
    config = Config(cfg, **settings)
    fixed = _pairs(args.shape, "shape", _positive_int)
    divisible = _pairs(args.divisible, "divisible", _positive_int)
    dtypes_opt, ranks = _dtypes(args.dtype), _pairs(args.rank, "rank", _positive_int)
    jobs = []
    for k in kernels:
        sig = kernel_signature_from_options(k, dtypes_opt, ranks)
        kf, kd, kc = restrict_to_kernel(k, sig, fixed, divisible, config, strict=not whole_file)
        tuned = _tuned_classes(args, k, sig) if args.tuned else []
        jobs.append(KernelJob(k, sig, kc, kf, kd, tuned))
    if args.tuned and not any(j.tuned for j in jobs):
        arch = args.target.partition(":")[2]
        where = f"devices of architecture {arch}" if arch else "this machine"
        raise TileLangError(f"the tuning database has no tuned configs for {', '.join(k.name for k in kernels)} on "
                            f"{be.name} ({where}); tune first, or compile without --tuned")
    if whole_file:
        unused = [n for n in [*fixed, *divisible] if not any(n in j.fixed or n in j.divisible for j in jobs)]
        if unused:
            raise TileLangError(f"no kernel in {args.kernel} has a size named {', '.join(unused)}")
    lib = args.name or (Path(args.kernel).stem if whole_file else kernels[0].name)
    t0 = time.perf_counter()
    _output_dir(args.output)  # a file or an unwritable place: one message, before any work is written
    summary = build_library(jobs, be, args.target, args.output, lib)
    print(f"wrote {', '.join(summary['files'])} to {args.output} ({summary['binaries']} binaries, "
          f"{time.perf_counter() - t0:.2f}s)")
    return 0


def _tuned_classes(args, kernel, signature) -> list:
    """(shapes, Config) per shape class the tuning database chose for this kernel and target (a kernel
    of a whole file without tunings gets a plain launcher)."""
    from tilelang import backend as backends
    from tilelang.aot.tuned import tuned_classes

    return tuned_classes(args.db, kernel, signature, backends.for_aot_target(args.target).name, args.target)


def cmd_ir(args) -> int:
    from tilelang import backend as backends
    from tilelang.ir.printer import print_kernel

    if args.parse:
        from tilelang.ir.parser import parse
        from tilelang.ir.verifier import verify

        text = _read_text_file(args.parse)
        if text.lstrip().startswith("memkernel"):  # the explicit-memory level (tilelang/memir)
            from tilelang.memir.parser import parse_memkernel
            from tilelang.memir.printer import print_memkernel
            from tilelang.memir.verifier import verify_memkernel

            mk = parse_memkernel(text)
            verify_memkernel(mk)
            print(print_memkernel(mk), end="")
        else:
            print(print_kernel(verify(parse(text))), end="")
        print(f"# {args.parse}: parses and verifies", file=sys.stderr)
        return 0
    be = backends.get(args.backend)
    kernel, sig, config, fixed = _prepare(args, be)
    steps = []
    kernel.final_ir(sig, config, be, fixed, observe=lambda name, k: steps.append((name, k)))
    texts = [(name, print_kernel(k)) for name, k in steps] + be.lower_steps(steps[-1][1], config)
    names = [n for n, _ in texts]
    if args.after and args.after not in names:
        raise TileLangError(f"--after {args.after!r}: the steps are {', '.join(names)}")
    for name, text in texts:
        if args.after and name != args.after:
            continue
        print(f"// ---- after {name} ----")
        print(text)
    if args.source:
        from tilelang.backends import triton as triton_backend

        print("# ---- Triton source ----")
        print(triton_backend.render_source(steps[-1][1]))
    return 0


def cmd_report(args) -> int:
    from tilelang import backend as backends
    from tilelang.report import build_report

    be = backends.get(args.backend)
    kernel, sig, config, fixed = _prepare(args, be)
    text, accepted = build_report(kernel, sig, config, be, fixed)
    print(text, end="")
    return 0 if accepted else 1


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="tilelang", description="tilelang: a tile DSL compiler for Python.")
    p.add_argument("--version", action="store_true", help="print the version and exit")
    sub = p.add_subparsers(dest="command")

    c = sub.add_parser("compile", help="compile a kernel ahead of time (no GPU needed)",
                       description="Compile FILE.py::KERNEL (or every kernel of FILE.py) for a target and write "
                                   "the generated source, the binary, the final IR (.tir), a complete JSON manifest "
                                   "per binary (every parameter in order, grid, block, shared memory, "
                                   "specialization, toolchain) and a C library: LIB.h and LIB.c with one launcher "
                                   "function per kernel (see docs/deployment.md).",
                       epilog=EPILOG_COMPILE, formatter_class=argparse.RawDescriptionHelpFormatter)
    _common(c)
    c.add_argument("--target", required=True,
                   help="triton-cuda:sm_XX (cubin), triton-hip:gfxXXX (hsaco) or cpu (LLVM IR + object file)")
    c.add_argument("-o", "--output", required=True, help="output directory (created if missing)")
    c.add_argument("--name", help="name of the C library (LIB.h / LIB.c); default: the kernel's name, or the file's "
                                  "name when compiling every kernel of a file")
    c.add_argument("--tuned", action="store_true",
                   help="compile every config the tuning database chose for this kernel and target, plus a "
                        "dispatcher that picks one by the call's shapes")
    c.add_argument("--db", metavar="PATH", help="tuning database to read with --tuned (default: the standard one)")
    c.set_defaults(func=cmd_compile)

    i = sub.add_parser("ir", help="print a kernel's IR after every pass",
                       description="Print the tile IR of FILE.py::KERNEL after the frontend and after each pass "
                                   "of the pipeline, in the text form `tilelang ir --parse` reads back.",
                       epilog=EPILOG_IR, formatter_class=argparse.RawDescriptionHelpFormatter)
    _common(i)
    i.add_argument("--backend", default="triton", help="backend whose defaults (tile sizes) apply (default: triton)")
    i.add_argument("--after", help="print only the IR after this step (frontend, tiling, masking, "
                                   "program_order, soundness; lower_memory, pipeline, swizzle with --backend cuda)")
    i.add_argument("--source", action="store_true", help="also print the generated Triton source")
    i.add_argument("--parse", metavar="FILE.tir", help="parse and verify a textual IR file instead")
    i.set_defaults(func=cmd_ir)

    from tilelang.autotune import cli as tcli

    t = sub.add_parser("tune", help="autotune a kernel: sweep configs, store the winner",
                       description="Sweep the configs of FILE.py::KERNEL (the space derived from the kernel, or "
                                   "--config ones) on random inputs of the given sizes; every config's output is "
                                   "checked against the first config's. Prints the ranked table, writes tune.json "
                                   "and tune.png to -o DIR and stores each result and the winner in the tuning "
                                   "database.", epilog=tcli.EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    tcli.add_arguments(t)
    t.set_defaults(func=tcli.run)

    r = sub.add_parser("report", help="explain a kernel: tile sizes, every mask, every soundness check",
                       description="For FILE.py::KERNEL, print the final tile sizes and where each came from, "
                                   "every bounds mask and whether it was proven away (from which assumptions), "
                                   "and every soundness check with its outcome.",
                       epilog=EPILOG_REPORT, formatter_class=argparse.RawDescriptionHelpFormatter)
    _common(r)
    r.add_argument("--backend", default="triton", help="backend whose defaults (tile sizes) apply (default: triton)")
    r.set_defaults(func=cmd_report)

    try:
        from tilelang.passes.winograd import cli as wcli
    except ImportError:
        wcli = None
    if wcli is not None and hasattr(wcli, "add_arguments"):
        w = sub.add_parser("winograd", help="search Winograd F(m, r) points and verify the transform",
                           description="Search interpolation points for Winograd F(m, r), verify the transform "
                                       "exactly, and report conditioning and f16 error.")
        wcli.add_arguments(w)
        w.set_defaults(func=wcli.run)
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.version:
        from tilelang.version import __version__

        print(f"tilelang {__version__}")
        return 0
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return args.func(args) or 0
    except TileLangError as e:
        print(str(e), file=sys.stderr)
        return 1
    except OSError as e:  # the file system refused (disk full, permissions): not a compiler bug
        print(f"error: {e.strerror or e}: {e.filename or ''}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as e:  # a bug in tilelang, reported as such
        import traceback

        if os.environ.get("TILELANG_DEBUG"):
            traceback.print_exc()
        print(f"internal compiler error: {type(e).__name__}: {e}\n(this is a tilelang bug; rerun with "
              "TILELANG_DEBUG=1 for the traceback and please report it)", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
