"""`tilelang compile --tuned`: the shape classes and configs the tuning database chose."""

from __future__ import annotations

import json

from tilelang.config import Config
from tilelang.errors import TileLangError


def tuned_classes(db_path, kernel, signature, backend_name: str, target: str) -> list[tuple[dict, Config]]:
    """(shapes, Config) per tuned shape class of `kernel` for `backend_name` (the newest winner of
    each class; empty when the database has none).

    A target that names an architecture (`triton-cuda:sm_90`) reads tunings made on any device of
    that architecture (the compiling machine rarely has the GPU); a bare target (`cpu`) reads this
    machine's. Tunings from other tool versions count too: a config stays valid, only its speed
    may have moved."""
    try:
        from tilelang.autotune import TuningDB, kernel_key
    except ImportError:
        raise TileLangError("--tuned needs the tuning database (tilelang.autotune), which this build lacks") from None
    db = TuningDB(db_path)
    key = kernel_key(kernel, signature)
    arch = target.partition(":")[2]
    if arch:
        devices = sorted({r["device"] for r in db.export()["best"]
                          if r["kernel_key"] == key and r["target"] == backend_name
                          and r["device"].endswith(":" + arch)})
        rows = [row for d in devices for row in db.best_configs(key, backend_name, device=d, any_version=True)]
    else:
        rows = db.best_configs(key, backend_name, any_version=True)
    newest: dict[str, tuple] = {}
    for shapes, config, record in rows:
        cls = json.dumps(record.get("shape_class", shapes), sort_keys=True)
        if cls not in newest or record.get("created", 0) >= newest[cls][2].get("created", 0):
            newest[cls] = (shapes, config, record)
    return [(dict(shapes), config) for _, (shapes, config, _) in sorted(newest.items())]
