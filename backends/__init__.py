"""Bundled backends; importing this package registers them with tilelang.backend."""

from . import reference  # noqa: F401
from . import triton  # noqa: F401
from . import cpu  # noqa: F401
from . import cuda  # noqa: F401
from . import hip  # noqa: F401
from . import ascend  # noqa: F401
