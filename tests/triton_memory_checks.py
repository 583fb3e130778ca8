"""Memory checks for kernels in Triton's interpreter: bounds, and accesses that race between programs.

The interpreter runs a launch's programs one after another and reads and writes raw addresses unchecked, so two
kinds of kernel bugs pass every numeric test on the CPU and show only on a GPU:

- an access past the kernel's tensors (a load whose value is then discarded, a store into a neighbour's memory),
  which may fault or corrupt memory there;
- an element that one program of a launch writes and another reads or writes, whose outcome on a GPU depends on
  the order in which programs run.

Within :func:`memory_checked` the first fails the kernel call and the second fails at the end of the launch.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import numpy as np
import torch
from triton.runtime import interpreter


def tensor_extent(t: torch.Tensor) -> tuple[int, int]:
    """[first byte, one past the last byte) of the elements of ``t`` (non-negative strides)."""
    span = sum((size - 1) * stride for size, stride in zip(t.shape, t.stride())) + 1
    return t.data_ptr(), t.data_ptr() + span * t.element_size()


class _Launch:
    """One launch's tensors, and every element its programs accessed: (address, program, written)."""

    def __init__(self, name: str, tensors: list[torch.Tensor]):
        self.name, self.extents = name, [tensor_extent(t) for t in tensors]
        self.addresses: list[np.ndarray] = []
        self.programs: list[int] = []
        self.writes: list[bool] = []

    def access(self, ptrs, mask, program: int, write: bool) -> None:
        """Check one load or store against the tensors' bounds and keep it for :meth:`check_races`."""
        addresses = np.asarray(ptrs.data).astype(np.uint64)
        if mask is not None:
            addresses = addresses[np.broadcast_to(np.asarray(mask.data, dtype=bool), addresses.shape)]
        size = ptrs.get_element_ty().primitive_bitwidth // 8
        inside = np.zeros(addresses.shape, dtype=bool)
        for lo, hi in self.extents:
            inside |= (addresses >= lo) & (addresses + size <= hi)
        if not inside.all():
            outside = addresses[~inside]
            raise AssertionError(
                f"{self.name}: a {'store' if write else 'load'} of {outside.size} element(s) outside the kernel's "
                f"tensors, first at {int(outside[0]):#x}; tensors at {[(hex(lo), hi - lo) for lo, hi in self.extents]}"
            )
        self.addresses.append(addresses.ravel())
        self.programs.append(program)
        self.writes.append(write)

    def check_races(self) -> None:
        """Fail if an element was written by one program and read or written by another."""
        if not any(self.writes):
            return
        sizes = [a.size for a in self.addresses]
        addresses = np.concatenate(self.addresses)
        programs = np.repeat(np.asarray(self.programs, dtype=np.int64), sizes)
        written = np.unique(np.concatenate([a for a, w in zip(self.addresses, self.writes) if w]))
        pairs = np.unique(np.stack([addresses, programs.astype(np.uint64)]), axis=1)
        shared, count = np.unique(pairs[0], return_counts=True)
        raced = np.intersect1d(shared[count > 1], written)
        if raced.size:
            raise AssertionError(
                f"{self.name}: {raced.size} element(s) written by one program and accessed by another in the same "
                f"launch, first at {int(raced[0]):#x}"
            )


@contextlib.contextmanager
def memory_checked() -> Iterator[list[str]]:
    """While active, interpreted kernels are held to their tensors' bounds and to race-free launches (see the
    module docstring); yields the names of the kernels launched, in order. A bounds failure comes back from the
    launch as Triton's ``InterpreterError`` naming the kernel; a race as an ``AssertionError``."""
    launched: list[str] = []
    current: list[_Launch] = []
    executor, builder = interpreter.GridExecutor, interpreter.InterpreterBuilder
    init_args, restore_args = executor._init_args_hst, executor._restore_args_dev
    masked_load, masked_store = builder.create_masked_load, builder.create_masked_store

    def program_of(b) -> int:
        x, y, z = b.grid_idx
        return x + (y << 21) + (z << 42)

    def init_args_checked(self, args_dev, kwargs):
        args_hst, kwargs_hst = init_args(self, args_dev, kwargs)
        tensors = [a for a in (*args_hst, *kwargs_hst.values()) if isinstance(a, torch.Tensor) and a.numel()]
        current[:] = [_Launch(self.fn.__name__, tensors)]
        launched.append(self.fn.__name__)
        return args_hst, kwargs_hst

    def restore_args_checked(self, *args):
        current.pop().check_races()
        return restore_args(self, *args)

    def load_checked(self, ptrs, mask, other, *args):
        current[-1].access(ptrs, mask, program_of(self), write=False)
        return masked_load(self, ptrs, mask, other, *args)

    def store_checked(self, ptrs, value, mask, *args):
        current[-1].access(ptrs, mask, program_of(self), write=True)
        return masked_store(self, ptrs, value, mask, *args)

    patches = {
        (executor, "_init_args_hst"): init_args_checked,
        (executor, "_restore_args_dev"): restore_args_checked,
        (builder, "create_masked_load"): load_checked,
        (builder, "create_masked_store"): store_checked,
    }
    originals = {key: getattr(*key) for key in patches}
    for (owner, name), patch in patches.items():
        setattr(owner, name, patch)
    try:
        yield launched
    finally:
        for (owner, name), original in originals.items():
            setattr(owner, name, original)
