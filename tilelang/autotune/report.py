"""A sweep's results for people: the ranked table, JSON, and a plot (PNG) with the winner marked."""

from __future__ import annotations

import json
import os
from pathlib import Path


def _fmt_config(c) -> str:
    parts = [f"{k}={v}" for k, v in c.tiles]
    d = c.to_dict()
    parts += [f"{k}={d[k]}" for k in ("num_warps", "num_stages") if d[k] != {"num_warps": 4, "num_stages": 2}[k]]
    parts += [f"{k}={d[k]}" for k in ("group_m", "microkernel", "num_threads") if k in d]
    return " ".join(parts) or "(defaults)"


def ranked(result) -> list:
    order = {"ok": 0, "wrong": 1, "error": 2, "pruned": 3, "skipped": 4}
    return sorted(result.trials, key=lambda t: (order.get(t.status, 9), t.time_s or 0.0))


def format_table(result) -> str:
    rows = ranked(result)
    lines = [f"kernel {result.kernel} on {result.target} ({result.device}), sizes "
             + " ".join(f"{k}={v}" for k, v in sorted(result.sizes.items()))]
    head = f"{'rank':>4}  {'time (ms)':>10}  {'TFLOP/s':>8}  {'status':<7}  config"
    lines += [head, "-" * len(head)]
    for i, t in enumerate(rows, 1):
        ms = f"{t.time_s * 1e3:10.4f}" if t.time_s is not None else f"{'-':>10}"
        tf = f"{result.flops / t.time_s / 1e12:8.3f}" if (result.flops and t.time_s) else f"{'-':>8}"
        note = f"  ({t.detail})" if t.detail and t.status != "ok" else ""
        note += "  [from an earlier sweep]" if t.resumed else ""
        mark = " *" if i == 1 and t.status == "ok" else ""
        lines.append(f"{i:>4}  {ms}  {tf}  {t.status:<7}  {_fmt_config(t.config)}{mark}{note}")
    wrong = result.dropped
    if wrong:
        lines.append(f"{len(wrong)} config(s) gave a different answer from the first config's and were dropped")
    lines.append(f"winner: {result.best}" if result.best is not None else "no config ran correctly")
    return "\n".join(lines)


def result_json(result) -> dict:
    return {
        "kernel": result.kernel, "kernel_key": result.key, "target": result.target, "device": result.device,
        "sizes": result.sizes, "flops": result.flops, "elapsed_s": result.elapsed_s,
        "best": result.best.to_dict() if result.best is not None else None, "best_time_s": result.best_time,
        "trials": [{"rank": i, "config": t.config.to_dict(), "status": t.status, "time_s": t.time_s,
                    "detail": t.detail, "resumed": t.resumed} for i, t in enumerate(ranked(result), 1)],
    }


def write_json(result, path) -> Path:
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    tmp.write_text(json.dumps(result_json(result), indent=1))
    os.replace(tmp, path)
    return path


def plot(result, path) -> Path | None:
    """A bar per measured config (time in ms, or TFLOP/s when the FLOP count is known), fastest
    first, the winner in another colour. Returns None (and says why) without matplotlib."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        import sys
        print("tilelang tune: no plot written: matplotlib is not installed (pip install matplotlib)",
              file=sys.stderr)
        return None
    ok = [t for t in ranked(result) if t.status == "ok"]
    labels = [_fmt_config(t.config) for t in ok]
    if result.flops:
        values, ylabel = [result.flops / t.time_s / 1e12 for t in ok], "TFLOP/s"
    else:
        values, ylabel = [t.time_s * 1e3 for t in ok], "time per call (ms)"
    fig, ax = plt.subplots(figsize=(max(6.0, 0.35 * len(ok) + 2), 4.5))
    colors = ["tab:red" if i == 0 else "tab:blue" for i in range(len(ok))]
    ax.bar(range(len(ok)), values, color=colors)
    ax.set_xticks(range(len(ok)))
    ax.set_xticklabels(labels, rotation=75, ha="right", fontsize=6)
    ax.set_ylabel(ylabel)
    sizes = " ".join(f"{k}={v}" for k, v in sorted(result.sizes.items()))
    ax.set_title(f"{result.kernel} on {result.target} ({sizes}); winner in red", fontsize=9)
    if ok:
        ax.annotate("winner", (0, values[0]), ha="center", va="bottom", fontsize=8)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
