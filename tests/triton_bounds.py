"""Memory bounds for kernels in Triton's interpreter: every element a kernel loads or stores where its mask is set
must lie inside one of the tensors it was given.

The interpreter reads and writes raw addresses without checking them, so a load past a tensor's end whose value
a kernel then discards (or a store into a neighbour's memory) passes every numeric test on the CPU and may fault
or corrupt memory on a GPU. Within :func:`bounds_checked` such an access fails the kernel call instead.
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


@contextlib.contextmanager
def bounds_checked() -> Iterator[list[str]]:
    """While active, an interpreted kernel's out-of-bounds load or store raises (the interpreter reports it as
    an ``InterpreterError`` naming the kernel); yields the names of the kernels checked, in call order."""
    checked: list[str] = []
    extents: list[tuple[int, int]] = []
    init_args = interpreter.GridExecutor._init_args_hst
    masked_load = interpreter.InterpreterBuilder.create_masked_load
    masked_store = interpreter.InterpreterBuilder.create_masked_store

    def init_args_checked(self, args_dev, kwargs):
        args_hst, kwargs_hst = init_args(self, args_dev, kwargs)
        tensors = [a for a in (*args_hst, *kwargs_hst.values()) if isinstance(a, torch.Tensor) and a.numel()]
        extents[:] = [tensor_extent(t) for t in tensors]
        checked.append(self.fn.__name__)
        return args_hst, kwargs_hst

    def check(ptrs, mask, what: str) -> None:
        addresses = np.asarray(ptrs.data).astype(np.uint64)
        if mask is not None:
            addresses = addresses[np.broadcast_to(np.asarray(mask.data, dtype=bool), addresses.shape)]
        size = ptrs.get_element_ty().primitive_bitwidth // 8
        inside = np.zeros(addresses.shape, dtype=bool)
        for lo, hi in extents:
            inside |= (addresses >= lo) & (addresses + size <= hi)
        if not inside.all():
            outside = addresses[~inside]
            raise AssertionError(
                f"{checked[-1]}: {what} of {outside.size} element(s) outside the kernel's tensors, "
                f"first at {int(outside[0]):#x}; tensors at {[(hex(lo), hi - lo) for lo, hi in extents]}"
            )

    def load_checked(self, ptrs, mask, other, *args):
        check(ptrs, mask, "a load")
        return masked_load(self, ptrs, mask, other, *args)

    def store_checked(self, ptrs, value, mask, *args):
        check(ptrs, mask, "a store")
        return masked_store(self, ptrs, value, mask, *args)

    interpreter.GridExecutor._init_args_hst = init_args_checked
    interpreter.InterpreterBuilder.create_masked_load = load_checked
    interpreter.InterpreterBuilder.create_masked_store = store_checked
    try:
        yield checked
    finally:
        interpreter.GridExecutor._init_args_hst = init_args
        interpreter.InterpreterBuilder.create_masked_load = masked_load
        interpreter.InterpreterBuilder.create_masked_store = masked_store
