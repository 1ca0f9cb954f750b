"""Autotuning: search spaces derived from a kernel, parallel sweeps checked against the first
config, a persistent tuning database, and defaults that fit the hardware.

    from tilelang.autotune import TuningDB, kernel_key, tune
"""

from .db import TuningDB, device_fingerprint, kernel_key, shape_class, versions

__all__ = ["TuningDB", "kernel_key", "shape_class", "device_fingerprint", "versions"]
