"""The backend registry. The core asks it for targets; it never branches on a target's name."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Callable

from .errors import BackendError
from .ir import nodes as ir

# A compiled kernel: run(args by parameter name, sizes by symbol name, grid size) -> None.
Launcher = Callable[[dict, dict, int], None]


class Backend(ABC):
    name: str = ""
    devices: tuple[str, ...] = ()  # torch device types it runs tensors of, e.g. ("cuda",)
    default_on: tuple[str, ...] | None = None  # devices it may be the default for (None: all of `devices`)
    priority: int = 0  # among the candidates for a device, the highest priority is its default
    pow2_tiles: bool = False
    default_parallel_tile: int = 64
    default_sequential_tile: int = 32

    def available(self) -> tuple[bool, str]:
        """(usable here, reason if not)."""
        return True, ""

    # Ahead-of-time targets this backend accepts from `tilelang compile --target T`: T equals one of
    # these or starts with one followed by ':' (e.g. "triton-cuda" accepts "triton-cuda:sm_90").
    aot_targets: tuple[str, ...] = ()

    @abstractmethod
    def compile(self, kernel: ir.Kernel, key: str) -> Launcher:
        """Build a launcher for a kernel whose passes have run; `key` names it in the compile cache."""

    def compile_with(self, kernel: ir.Kernel, key: str, config) -> Launcher:
        """Like compile(), for backends that also use the Config's launch settings (num_warps, ...)."""
        return self.compile(kernel, key)

    def lower_steps(self, kernel: ir.Kernel, config=None) -> list[tuple[str, str]]:
        """(step name, IR text) of the backend's own levels below the tile IR, for `tilelang ir`
        (e.g. the explicit-memory level); none by default."""
        return []

    def write_aot(self, kernel: ir.Kernel, target: str, out_dir, key: str, config=None) -> dict:
        """Write ahead-of-time artifacts for `target` into `out_dir`; return manifest fields
        (at least {"files": [...]}, names relative to out_dir). `config` carries launch settings."""
        raise BackendError(f"backend {self.name!r} has no ahead-of-time compilation")


_REGISTRY: dict[str, Backend] = {}


def register(backend: Backend) -> Backend:
    _REGISTRY[backend.name] = backend
    return backend


def _load_builtin_backends():
    import tilelang.backends  # noqa: F401  (registers the bundled backends)


def get(name: str) -> Backend:
    _load_builtin_backends()
    if name not in _REGISTRY:
        raise BackendError(f"unknown backend {name!r}; available: {', '.join(sorted(_REGISTRY))}")
    return _REGISTRY[name]


def names() -> list[str]:
    _load_builtin_backends()
    return sorted(_REGISTRY)


def for_aot_target(target: str) -> Backend:
    _load_builtin_backends()
    for b in _REGISTRY.values():
        if any(target == t or target.startswith(t + ":") for t in b.aot_targets):
            return b
    known = sorted(t for b in _REGISTRY.values() for t in b.aot_targets)
    raise BackendError(f"unknown target {target!r}; known targets: {', '.join(known)} "
                       "(e.g. triton-cuda:sm_90, triton-hip:gfx942, cpu)")


def default_for(device: str) -> Backend:
    _load_builtin_backends()
    candidates = [b for b in _REGISTRY.values()
                  if device in (b.devices if b.default_on is None else b.default_on) and b.available()[0]]
    if not candidates:
        raise BackendError(f"no backend can run tensors on device {device!r}")
    return max(candidates, key=lambda b: b.priority)
