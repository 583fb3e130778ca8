"""Launching Triton kernels with little host work, and recording launches instead of running them.

At batch 1 on a GPU a CoordAtt layer costs what its launches cost on the host, so the kernel modules
(:mod:`ca_yolo.nn.triton_coord_att`, :mod:`ca_yolo.nn.triton_gate_net`) launch through a
:class:`KernelLauncher`: Triton's own launch path for the first call of an argument key (it compiles),
the compiled kernel directly after that (:func:`launch_direct`). :func:`recorded_launches` lists what
would be launched without a device, which is how every kernel is compiled ahead of time in CI.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterator, Sequence
from typing import NamedTuple

import torch
import triton
from triton.runtime import driver

try:
    from triton import knobs as _knobs
except ImportError:  # Triton before 3.4: no direct launches (see _direct_launch_supported)
    _knobs = None

#: Launch compiled kernels directly after their first call (:class:`KernelLauncher`); False: Triton's own path.
DIRECT_LAUNCH = True


@functools.cache
def _direct_launch_supported() -> bool:
    """Whether this Triton's compiled-kernel launcher takes the calling convention :class:`KernelLauncher` uses.

    Read in Triton 3.6 and 3.8 (``JITFunction.run``): ``kernel.run(grid x, y, z, stream, function,
    packed_metadata, launch_metadata, enter_hook, exit_hook, *all bound arguments)``.
    """
    try:
        major, minor = (int(p) for p in triton.__version__.split(".")[:2])
    except ValueError:
        return False
    return _knobs is not None and (3, 6) <= (major, minor) <= (3, 8)


def _no_hooks(hook) -> bool:
    """Whether a launch hook of Triton's is unset: None, or (Triton 3.6+) a hook chain with no calls in it."""
    return hook is None or getattr(hook, "calls", None) == []


class KernelCall(NamedTuple):
    """One kernel launch as :func:`recorded_launches` keeps it: everything Triton needs to compile it."""

    kernel: triton.runtime.JITFunction
    grid: tuple[int, int, int]
    args: tuple  # every kernel parameter, constexprs included
    num_warps: int | None  # None: Triton's default


_recording: list[KernelCall] | None = None


@contextlib.contextmanager
def recorded_launches() -> Iterator[list[KernelCall]]:
    """While active, kernel launches are recorded in the yielded list instead of run.

    With meta tensors (``device="meta"``) this lists what a layer would launch for an input, with no
    device at all, e.g. to compile every kernel ahead of time for a GPU architecture
    (``triton.compile`` with a ``GPUTarget``) and read its register use.
    """
    global _recording
    previous, _recording = _recording, []
    try:
        yield _recording
    finally:
        _recording = previous


class KernelLauncher:
    """Launches one ``@triton.jit`` kernel; after the first call for an argument key, without Triton's per-call work.

    Triton's ``kernel[grid](*args)`` binds the arguments, derives their specialisation and a cache key,
    checks the kernel's globals and builds launch metadata on every call; launching directly saved
    25-35 us per fused layer call (three launches) on the H200 host we measured (86-123 against
    109-155 us; a tiny PyTorch op: 12-18 us), host time an eager batch-1 forward waits for. The
    key here is the arguments themselves, with each tensor replaced by its dtype and 16-byte alignment:
    everything Triton specialises on (dtypes, pointer alignment, integer values) is in it, so the
    binary found for a key is the one Triton would pick. Triton's own path is used for the first call
    of a key (it compiles), under Triton's interpreter, with launch hooks set (profilers), with
    :data:`DIRECT_LAUNCH` off, and on Triton versions whose launcher was not read.
    """

    def __init__(self, kernel, warps: Callable[[], int] | None = None):
        """``warps`` returns this kernel's warp count when it launches (a kernel module's setting, which a
        probe may change between calls); None: Triton's default."""
        self.kernel, self.warps, self.binaries = kernel, warps, {}

    def __call__(self, grid: tuple[int, int, int], *args):
        """Launch on ``grid`` with every kernel parameter given positionally, constexprs included.

        Returns the compiled kernel when it can be launched directly (:func:`launch_direct`), else None.
        """
        warps = None if self.warps is None else self.warps()
        if _recording is not None:
            _recording.append(KernelCall(self.kernel, grid, args, warps))
            return None
        device = direct_device(args[0])
        if device is not None:
            # one pass: each tensor's key part (dtype, 16-byte alignment) and its address for a direct launch
            key, direct_args = [device, warps], []
            for a in args:
                if isinstance(a, torch.Tensor):
                    address = a.data_ptr()
                    key.append((a.dtype, address % 16 == 0))
                    direct_args.append(address)
                else:
                    key.append(a)
                    direct_args.append(a)
            key = tuple(key)
            binary = self.binaries.get(key)
            if binary is not None:
                launch_direct(binary, grid, current_stream(device), direct_args)
                return binary
        options = {} if warps is None else {"num_warps": warps}
        with _on_device_of(args[0]):
            binary = self.kernel[grid](*args, **options)
        if device is None or getattr(binary, "function", None) is None:
            return None
        self.binaries[key] = binary
        return binary


def direct_device(x: torch.Tensor) -> int | None:
    """x's CUDA device if kernels for ``x`` may be launched directly now (:class:`KernelLauncher`), else None.

    Only while x's device is the current one: Triton launches on the current device, and so do direct launches.
    """
    if not (DIRECT_LAUNCH and x.is_cuda and _direct_launch_supported()):
        return None
    hooks = _knobs.runtime
    if not (_no_hooks(hooks.launch_enter_hook) and _no_hooks(hooks.launch_exit_hook)):
        return None
    device = driver.active.get_current_device()
    return device if x.get_device() == device else None


def current_stream(device: int) -> int:
    """The current CUDA stream of ``device`` as Triton's launcher takes it (a raw handle)."""
    return driver.active.get_current_stream(device)


def _on_device_of(x: torch.Tensor) -> contextlib.AbstractContextManager:
    """Make x's CUDA device the current one while Triton launches (it launches on the current device, not x's)."""
    return torch.cuda.device(x.device) if x.is_cuda else contextlib.nullcontext()


def launch_direct(binary, grid: tuple[int, int, int], stream: int, args: Sequence) -> None:
    """Launch a compiled kernel with Triton's launcher but none of ``JITFunction.run``'s per-call work.

    ``args``: every kernel parameter, constexprs included, in Triton's order; tensors as their device
    addresses (``data_ptr()``): the launcher takes an int as the pointer itself, where for a tensor it
    calls ``data_ptr()`` and asks the driver whether the address is device memory (``cuPointerGetAttribute``,
    Triton 3.6 and 3.8), once per pointer and launch, a check every CUDA tensor passes.
    """
    binary.run(*grid, stream, binary.function, binary.packed_metadata, None, None, None, *args)
