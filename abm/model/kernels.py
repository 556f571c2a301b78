"""The month kernels of the vectorised engine, behind one registry.

Two kernels with one signature (:func:`abm.model.numpy_engine.kernel`'s):

* ``"compiled"`` (the default): :func:`abm.model.compiled.kernel_compiled`, the month fused
  into one loop over trials and states and compiled with numba; it releases the GIL, so
  chunks run on threads of one process;
* ``"numpy"``: :func:`abm.model.numpy_engine.kernel`, the reference implementation, which
  calls :func:`abm.model.step.month_step` on whole arrays.

They give the same results bit for bit (``tests/test_compiled.py``); the kernel and its
version are recorded in every manifest. Nothing here reads the environment: the kernel is
chosen by an argument (``--kernel``), so a run's inputs are all on record.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ..errors import ConfigError

__all__ = ["KERNELS", "DEFAULT_KERNEL", "kernel_names", "resolve_kernel", "get_kernel",
           "kernel_version", "releases_gil"]

KernelFn = Callable[..., dict[str, np.ndarray]]

#: name -> (module, function, version). The version changes whenever the kernel's code
#: changes in a way that could change a result.
KERNELS: dict[str, tuple[str, str]] = {
    "compiled": ("abm.model.compiled", "kernel_compiled"),
    "numpy": ("abm.model.numpy_engine", "kernel"),
}
DEFAULT_KERNEL = "compiled"
_NUMPY_VERSION = "numpy-1"


def kernel_names() -> tuple[str, ...]:
    return tuple(KERNELS)


def resolve_kernel(name: str | None = None) -> str:
    """``name``, or :data:`DEFAULT_KERNEL` for ``None``; an unknown name is a
    :class:`~abm.errors.ConfigError` (a ``ValueError``) naming ``--kernel``."""
    name = DEFAULT_KERNEL if name is None else name
    if name not in KERNELS:
        raise ConfigError("--kernel", "kernel", name, f"must be one of {', '.join(KERNELS)}")
    return name


def get_kernel(name: str | None = None) -> KernelFn:
    """The kernel function of ``name`` (``None``: :data:`DEFAULT_KERNEL`)."""
    from importlib import import_module

    module, fn = KERNELS[resolve_kernel(name)]
    return getattr(import_module(module), fn)


def kernel_version(name: str | None = None) -> str:
    """The version string recorded in manifests, e.g. ``numba-1`` or ``numpy-1``."""
    if resolve_kernel(name) == "compiled":
        from .compiled import KERNEL_VERSION

        return KERNEL_VERSION
    return _NUMPY_VERSION


def releases_gil(engine: str, kernel: str | None) -> bool:
    """Whether chunks of this engine and kernel run in parallel on threads."""
    return engine == "numpy" and resolve_kernel(kernel) == "compiled"
