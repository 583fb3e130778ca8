"""Before a Ray comparison starts: every node must see ``project=`` (and ``data=``) as the driver does.

Runs write their folders where they train, straight into ``project/name`` (checkpoints, ``results.csv``,
``run.json``); nothing is shipped back. That needs storage every node shares at the same path, which
this checks with a token file the driver writes and every node must read back and write beside.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any

from ca_yolo.atomic_io import write_text_atomic
from ca_yolo.errors import CaYoloError

PROBE_PREFIX = ".ray-storage-check-"


class StorageError(CaYoloError):
    """A Ray node cannot use the comparison folder or the dataset; the message names the node."""


def check_shared_storage(ray: Any, out_dir: Path, data: Path, timeout: float = 120.0) -> int:
    """Ask every live node of the cluster to read the driver's token under ``out_dir``, write beside it
    and find ``data``; return how many nodes answered.

    Raises:
        StorageError: a node that does not, in one line naming it and what it cannot do.
    """
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    token = secrets.token_hex(8)
    out_dir.mkdir(parents=True, exist_ok=True)
    token_file = write_text_atomic(out_dir / f"{PROBE_PREFIX}{token}", token)
    nodes = [n for n in ray.nodes() if n.get("Alive")]
    probe = ray.remote(probe_storage)
    try:
        refs = [
            probe.options(
                num_cpus=0,  # answers even where every CPU is taken
                max_retries=0,
                scheduling_strategy=NodeAffinitySchedulingStrategy(n["NodeID"], soft=False),
            ).remote(str(token_file), token, str(data))
            for n in nodes
        ]
        answers = ray.get(refs, timeout=timeout)
    finally:
        token_file.unlink(missing_ok=True)
    for node, problem in zip(nodes, answers):
        if problem:
            raise StorageError(
                f"backend=ray: Ray node {node.get('NodeManagerHostname', '?')} ({node['NodeID'][:8]}) {problem}; "
                "every node must see project= and data= at the same path (shared storage, see docs/cluster.md)"
            )
    return len(nodes)


def probe_storage(token_file: str, token: str, data: str) -> str | None:
    """On one node: None when it reads ``token`` from ``token_file``, can write beside it and finds ``data``;
    else what it cannot do (the end of a sentence that starts with the node's name)."""
    path = Path(token_file)
    folder = path.parent
    try:
        seen = path.read_text(encoding="utf-8")
    except OSError:
        return f"does not see {folder} (project=/name=): it has no such folder or another one at that path"
    if seen != token:
        return f"sees another {folder} than the driver (project=/name=)"
    mine = path.with_name(f"{path.name}-{os.getpid()}")
    try:
        mine.write_text(token, encoding="utf-8")
        mine.unlink()
    except OSError as e:
        return f"cannot write to {folder} (project=/name=): {e.strerror or e}"
    if not Path(data).is_file():
        return f"does not see the data YAML {data}"
    return None
