"""`tilelang tune FILE.py::KERNEL --shape M=1024 ... --dtype f32 -o DIR`: sweep a kernel's configs
on random inputs of those sizes, print the ranked table, write JSON and a plot, store the winner."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tilelang.errors import TileLangError

EPILOG = """\
examples:
  tilelang tune stdlib/gemm.py::matmul_kernel --shape M=1024 --shape N=1024 --shape K=1024 --dtype f32 -o out/
  tilelang tune stdlib/gemm.py::matmul_kernel --shape M=4096 --shape N=4096 --shape K=4096 --dtype f16 \\
      --backend triton --budget 120 --flops 2*M*N*K -o out/
  tilelang tune my.py::kern --shape N=100000 --dtype f32 --executor ray --workers 8 -o out/
  tilelang tune --export-db tuning.json            # the tuning database as JSON
"""


def add_arguments(p: argparse.ArgumentParser):
    p.add_argument("kernel", nargs="?", help="FILE.py::KERNEL, e.g. stdlib/gemm.py::matmul_kernel")
    p.add_argument("--shape", action="append", metavar="NAME=VALUE",
                   help="the size of every size symbol of the kernel's tensors, e.g. --shape M=1024")
    p.add_argument("--dtype", action="append", metavar="[NAME=]DT",
                   help="dtype of a parameter; without NAME= it applies to every parameter not named otherwise")
    p.add_argument("--rank", action="append", metavar="NAME=R",
                   help="rank of a tensor parameter whose shape the kernel does not unpack (its sizes are "
                        "then NAME_0, NAME_1, ...: give them with --shape)")
    p.add_argument("--scalar", action="append", metavar="NAME=VALUE", help="value of a scalar parameter")
    p.add_argument("--backend", help="backend to tune for (default: the device's default: triton on a CUDA "
                                     "GPU, cpu otherwise)")
    p.add_argument("--config", action="append", metavar="JSON",
                   help='a config to try instead of the default space, e.g. \'{"tiles": {"BLOCK_M": 64}}\' '
                        "(repeat the option for several)")
    p.add_argument("--budget", type=float, metavar="SECONDS", help="stop measuring new configs after this long")
    p.add_argument("--workers", type=int, metavar="N",
                   help="parallel compile processes (local) / nothing (ray: one task per config)")
    p.add_argument("--executor", choices=("local", "ray"), default="local",
                   help="local: this machine; ray: one Ray task per config (pip install -e \".[distributed]\")")
    p.add_argument("--flops", metavar="EXPR", help="FLOPs per call over the size symbols, e.g. 2*M*N*K: the "
                                                   "table and plot then show TFLOP/s")
    p.add_argument("--fresh", action="store_true", help="measure again configs the database already has")
    p.add_argument("--db", metavar="PATH", help="tuning database file (default: $TILELANG_TUNING_DB or the cache)")
    p.add_argument("--export-db", metavar="FILE.json", help="write the whole tuning database as JSON and exit")
    p.add_argument("-o", "--output", help="directory for tune.json and tune.png")


def _pairs(items, what, conv):
    from tilelang.cli import _pairs as pairs

    return pairs(items, what, conv)


def make_inputs(kernel, signature, sizes: dict[str, int], scalars: dict[str, str], device: str):
    """Random tensors of the given sizes (floats: normal; ints: in [0, smallest size) so that
    index tensors stay in range) and the scalar values, in parameter order."""
    import sympy
    import torch

    from tilelang.ir import dtypes

    base = kernel.lower(signature)
    missing = sorted({s.name for p in base.params if p.is_tensor for d in p.type.shape
                      for s in sympy.sympify(d).free_symbols} - set(sizes))
    if missing:
        raise TileLangError(f"give the size of {', '.join(missing)}: --shape {missing[0]}=1024")
    gen = torch.Generator().manual_seed(0)
    subs = {s: sizes[s.name] for p in base.params if p.is_tensor for d in p.type.shape
            for s in sympy.sympify(d).free_symbols}
    out = []
    for p in base.params:
        spec = signature[p.name]
        if not p.is_tensor:
            if p.name not in scalars:
                raise TileLangError(f"give the value of scalar `{p.name}`: --scalar {p.name}=VALUE")
            v = scalars[p.name]
            out.append(float(v) if dtypes.is_float(spec.dtype) else int(v))
            continue
        shape = [int(sympy.sympify(d).subs(subs)) for d in p.type.shape]
        tdt = dtypes.to_torch(spec.dtype)
        if dtypes.is_float(spec.dtype):
            t = torch.randn(shape, generator=gen, dtype=torch.float32).to(tdt)
        else:
            t = torch.randint(0, max(1, min(sizes.values())), shape, generator=gen).to(tdt)
        out.append(t.to(device))
    return out


def run(args) -> int:
    import json

    import sympy
    import torch

    from tilelang import backend as backends
    from tilelang.api import kernel_signature_from_options
    from tilelang.cli import _dtypes, _load_kernel, _positive_int
    from tilelang.config import Config

    from . import report
    from .db import TuningDB
    from .sweep import tune

    db = TuningDB(args.db) if args.db else TuningDB()
    if args.export_db:
        db.export_json(args.export_db)
        print(f"wrote the tuning database ({db.path}) to {args.export_db}")
        return 0
    if not args.kernel:
        raise TileLangError("give the kernel as FILE.py::KERNEL")
    if not args.output:
        raise TileLangError("give an output directory: -o DIR")
    kernel = _load_kernel(args.kernel)
    sig = kernel_signature_from_options(kernel, _dtypes(args.dtype), _pairs(args.rank, "rank", _positive_int))
    sizes = _pairs(args.shape, "shape", _positive_int)
    scalars = _pairs(args.scalar, "scalar", str)
    if args.backend:
        be = backends.get(args.backend)
        device = "cuda" if "cuda" in be.devices and torch.cuda.is_available() else "cpu"
    else:
        device = "cuda" if torch.cuda.is_available() else "cpu"
        be = backends.default_for(device)
    if device not in be.devices:
        raise TileLangError(f"backend {be.name!r} cannot run tensors on {device}")
    configs = None
    if args.config:
        try:
            configs = [Config.from_dict(json.loads(c)) for c in args.config]
        except (ValueError, TypeError, AttributeError) as e:
            raise TileLangError(f"--config takes a Config as JSON, e.g. '{{\"tiles\": {{\"BLOCK_M\": 64}}}}': {e}") from None
    flops = None
    if args.flops:
        try:
            names = {k: sympy.Symbol(k) for k in sizes}
            flops = float(sympy.sympify(args.flops, locals=names).subs({names[k]: v for k, v in sizes.items()}))
        except (sympy.SympifyError, TypeError) as e:
            raise TileLangError(f"--flops {args.flops!r} is not a number over the sizes ({e})") from None
    inputs = make_inputs(kernel, sig, sizes, scalars, device)
    result = tune(kernel, *inputs, configs=configs, backend=be.name, budget=args.budget, workers=args.workers,
                  executor=args.executor, db=db, progress=True, resume=not args.fresh, flops=flops)
    print(result.table())
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    written = [report.write_json(result, out / "tune.json")]
    png = report.plot(result, out / "tune.png")
    if png is not None:
        written.append(png)
    print(f"wrote {', '.join(str(p) for p in written)}; winner stored in {db.path}", file=sys.stderr)
    return 0 if result.best is not None else 1
