"""A dispatcher: one C entry point over several compiled configs of one kernel.

Each tuned shape class (the sizes a config was tuned at, e.g. M=N=K=4096) has its own binary. The
class's binary is also specialized for what its tuned sizes are divisible by (see
`class_divisibility`), so its boundary masks can go; a call is eligible for a class only when its
sizes keep those promises. Among eligible classes the dispatcher picks the nearest: the smallest
product over the class's sizes of max(x, t) / min(x, t) (the same order as the sum of
|log2(x / t)|, with no libm). A call no class accepts runs the default binary, compiled with no
promises and the default config.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from tilelang.config import Config
from tilelang.errors import TileLangError

from . import clib

# Largest divisibility promised for a tuned size: enough to drop the masks of tiles up to this size.
MAX_PROMISE = 256


@dataclass(frozen=True)
class ShapeClass:
    c_name: str  # the static launcher of this class's binary
    shapes: dict  # size symbol -> tuned value
    manifest: dict


def class_divisibility(shapes: dict, config: Config, sizes: list[str]) -> dict[str, int]:
    """What each tuned size promises: the largest power of two dividing it, capped at the config's
    largest tile (no mask can use more) and at MAX_PROMISE."""
    unknown = [s for s in shapes if s not in sizes]
    if unknown:
        raise TileLangError(f"tuned shapes name {', '.join(unknown)}, which the kernel does not have (its sizes: "
                            f"{', '.join(sizes)})")
    largest_tile = max([v for _, v in config.tiles] or [16])
    cap = min(MAX_PROMISE, 1 << int(math.log2(largest_tile)))
    out = {}
    for name, value in shapes.items():
        if type(value) is not int or value <= 0:
            raise TileLangError(f"tuned size {name}={value!r} is not a positive int")
        d = math.gcd(value, cap)
        if d > 1:
            out[name] = d
    return out


def _accepts(m: dict) -> str:
    spec = m["specialization"]
    conds = [f"{k} == {v}" for k, v in spec["fixed"].items()]
    conds += [f"{k} % {v} == 0" for k, v in spec["divisible_by"].items()]
    return " && ".join(conds) or "1"


def dispatcher(name: str, m_default: dict, classes: list[ShapeClass], default_c_name: str) -> str:
    """C source of the public `name(...)` that calls the nearest eligible class's launcher."""
    args = ", ".join(clib.c_call_args(m_default))
    sizes = m_default["sizes"]
    lines = [f"/* {name}: dispatches over {len(classes)} tuned shape classes; {default_c_name} otherwise. */",
             f"static int {name}__pick({', '.join(f'int64_t {s}' for s in sizes) or 'void'}) {{",
             "    double tl_best = 0.0;",
             "    int tl_pick = -1;"]
    for i, c in enumerate(classes):
        ratio = " * ".join(f"tl_ratio({s}, {v})" for s, v in c.shapes.items()) or "1.0"
        desc = ", ".join(f"{s}={v}" for s, v in c.shapes.items())
        lines += [f"    /* class {i}: {desc}; config {c.manifest['config']} */",
                  f"    if ({_accepts(c.manifest)}) {{",
                  f"        double tl_d = {ratio};",
                  f"        if (tl_pick < 0 || tl_d < tl_best) {{ tl_best = tl_d; tl_pick = {i}; }}",
                  "    }"]
    lines += ["    return tl_pick;", "}", "",
              choice_prototype(name, sizes) + " {",
              f"    switch ({name}__pick({', '.join(sizes)})) {{"]
    lines += [f"    case {i}: return \"{c.c_name}\";" for i, c in enumerate(classes)]
    lines += [f"    default: return \"{default_c_name}\";", "    }", "}", "",
              clib.prototype(name, m_default) + " {",
              f"    switch ({name}__pick({', '.join(sizes)})) {{"]
    lines += [f"    case {i}: return {c.c_name}({args});" for i, c in enumerate(classes)]
    lines += [f"    default: return {default_c_name}({args});", "    }", "}"]
    helper = ("static inline double tl_ratio(int64_t x, int64_t t) {  /* max/min, sizes below 1 count as 1 */\n"
              "    double a = x < 1 ? 1.0 : (double)x, b = (double)t;\n"
              "    return a > b ? a / b : b / a;\n}\n")
    return "#ifndef TL_RATIO_DEFINED\n#define TL_RATIO_DEFINED\n" + helper + "#endif\n" + "\n".join(lines) + "\n"


def choice_prototype(name: str, sizes: list[str]) -> str:
    """`NAME_choice(sizes)`: the name of the binary NAME(...) runs for these sizes (for logs and tests)."""
    return f"const char *{name}_choice({', '.join(f'int64_t {s}' for s in sizes) or 'void'})"
