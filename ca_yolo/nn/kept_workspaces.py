"""Scratch tensors a GPU inference form keeps between calls instead of allocating them on every call.

At batch 1 on a GPU a CoordAtt layer costs what its host side costs, and an allocation is a good
part of that. A workspace that lives only within one call (pooled vectors, gates) can be kept and
reused by the next call, as long as no two calls that may run at the same time share it:

- kernels on one CUDA stream run in the order they were issued, so a call's writes cannot overtake
  the previous call's reads on that stream; another stream gets a workspace of its own;
- another thread gets its own (the GIL is released inside ops, so two threads' calls interleave);
- a CUDA graph being captured gets a fresh one that is not kept: the graph holds it (in its private
  memory pool) and may be replayed on any stream, which a kept one would race with;
- tensors made in inference mode can't be written outside it, so the mode is part of the key too.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

import torch

#: Workspaces one :class:`KeptWorkspaces` keeps before it drops the oldest.
MAX_WORKSPACES = 8

T = TypeVar("T")


class KeptWorkspaces(Generic[T]):
    """Workspaces kept per signature, device, CUDA stream, thread and inference mode; at most :data:`MAX_WORKSPACES`.

    A workspace holds about as many elements as a layer's pooled vectors (B x C x (H + W) each), a
    fraction of the layer's map for all but tiny maps, so the cap bounds what a layer holds.
    """

    def __init__(self):
        self.kept: dict[tuple, T] = {}

    def __len__(self) -> int:
        return len(self.kept)

    def get(self, signature: Hashable, x: torch.Tensor, make: Callable[[], T], stream: int | None = None) -> T:
        """The workspace for a call on ``x`` whose workspace is described by ``signature``; ``make()`` builds one.

        ``stream``: the raw handle of x's device's current CUDA stream where the caller has it already
        (looked up here otherwise); ignored for tensors not on a CUDA device.
        """
        if x.is_cuda:
            if torch.cuda.is_current_stream_capturing():
                return make()
            if stream is None:
                stream = torch.cuda.current_stream(x.device).cuda_stream
        else:
            stream = None
        key = (signature, x.device, stream, threading.get_ident(), torch.is_inference_mode_enabled())
        ws = self.kept.get(key)
        if ws is None:
            if len(self.kept) >= MAX_WORKSPACES:
                del self.kept[next(iter(self.kept))]
            ws = self.kept[key] = make()
        return ws
