"""Importing generated Triton source, in the right Triton mode.

Triton decides at import time whether `@triton.jit` compiles for a GPU or runs on the CPU
through its interpreter (TRITON_INTERPRET=1), and its own library (tl.sum, ...) is bound to that
choice. So tilelang imports triton once, in interpreter mode when no CUDA device exists, and
ahead-of-time compilation always runs in a separate process (aot.py).
"""

from __future__ import annotations

import importlib.util
import os
import sys
import threading

from tilelang.errors import BackendError
from tilelang.runtime import cache

_lock = threading.RLock()
_triton = None  # the triton module, set only once its import has finished
# Triton's interpreter swaps triton.language's functions for interpreter versions for the length of a
# launch, process-wide, so two interpreted launches at once break each other: they take turns.
interpreter_lock = threading.Lock()


def cuda_available() -> bool:
    try:
        import torch

        return torch.cuda.is_available()
    except Exception:
        return False


def import_triton():
    """Import triton, in interpreter mode where there is no GPU (unless already imported).

    Thread-safe: `"triton" in sys.modules` turns true as soon as another thread *starts* importing it,
    so only the flag set after the import finished tells that triton is ready."""
    global _triton
    if _triton is not None:
        return _triton
    with _lock:
        if _triton is not None:
            return _triton
        if "triton" not in sys.modules and not cuda_available() and "TRITON_INTERPRET" not in os.environ:
            # Stays set for the life of this GPU-less process: triton reads it again lazily while
            # launching, and a mode switch half-way breaks it.
            os.environ["TRITON_INTERPRET"] = "1"
        import triton  # noqa: F401
        import triton.language  # noqa: F401
        from triton.runtime.interpreter import InterpretedFunction  # noqa: F401  (used by interpreter_mode)

        _triton = sys.modules["triton"]
        return _triton


def interpreter_mode() -> bool:
    """Whether the imported triton runs kernels through its interpreter."""
    import_triton()
    from triton.runtime.interpreter import InterpretedFunction
    import triton.language as tl

    return isinstance(tl.sum, InterpretedFunction)


def load_kernel(source: str, fn_name: str, key: str):
    """The kernel function from generated source, stored in the compile cache (needed: triton reads
    a jit function's source from its file)."""
    entry = cache.lookup("triton", key, ("kernel.py",))
    if entry is None or (entry / "kernel.py").read_text() != source:
        cache.discard("triton", key)
        entry = cache.store("triton", key, {"kernel.py": source})
    path = entry / "kernel.py"
    import_triton()
    mode = "1" if interpreter_mode() else "0"
    mod_name = f"tilelang_triton_{key}"
    with _lock:
        module = sys.modules.get(mod_name)
        if module is None:
            old = os.environ.get("TRITON_INTERPRET")
            os.environ["TRITON_INTERPRET"] = mode
            try:
                spec = importlib.util.spec_from_file_location(mod_name, path)
                module = importlib.util.module_from_spec(spec)
                spec.loader.exec_module(module)
            except SyntaxError as e:
                raise BackendError(f"generated Triton source does not parse ({e}); this is a tilelang bug") from None
            finally:
                if old is None:
                    os.environ.pop("TRITON_INTERPRET", None)
                else:
                    os.environ["TRITON_INTERPRET"] = old
            sys.modules[mod_name] = module
    return getattr(module, fn_name), path
