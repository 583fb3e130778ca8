"""How ca-yolo opens a checkpoint: one safe-loading rule for every reader, and the kinds it refuses.

``best.pt`` pickles the whole model, so loading it imports our classes by module path (which in
turn runs ``import ca_yolo`` and registers the plugin). Restricted loading
(``ULTRALYTICS_SAFE_LOAD=1``, i.e. ``torch.load(weights_only=True)``) refuses every class that is not
on an allow-list; torch's public ``add_safe_globals`` puts ours on it.

Every place in ca-yolo that opens a ``.pt`` file goes through :func:`read_checkpoint`, which loads
through Ultralytics' own ``torch_safe_load`` (same allow-list, same flag), so a user who turns safe
loading on is never exposed to a pickle payload by one of our pre-checks, hooks or resume logic.
Before anything is unpickled the archive is checked whole (:mod:`.checkpoint_file`) and the
pickle's top-level object is read with :mod:`pickletools`, which only parses opcodes: a file whose
top level is not a dict (``torch.save(model)``, or a bare ``__reduce__`` payload) is refused by name
without running any of it, whatever the flag says.
"""

from __future__ import annotations

import io
import pickletools
import re
import zipfile
from pathlib import Path

import torch

from ca_yolo.errors import CheckpointError
from ca_yolo.nn.registry import registered_classes
from ca_yolo.plugin.checkpoint_file import require_checkpoint

SAFE_LOAD_ENV = "ULTRALYTICS_SAFE_LOAD"


class UnsafeCheckpointError(CheckpointError):
    """Safe loading refused a checkpoint: it references code outside the allow-list (it was not loaded)."""


def allow_in_safe_load() -> None:
    """Add every registered layer class to torch's weights-only allow-list (idempotent)."""
    torch.serialization.add_safe_globals(registered_classes())


def safe_load_enabled() -> bool:
    """Whether restricted loading is on: Ultralytics' flag as it read it at import, or the variable now.

    Ultralytics reads ``ULTRALYTICS_SAFE_LOAD`` once, when it is imported; reading it again here
    means a flag set later in the process (a notebook, a test) still protects ca-yolo's own reads.
    """
    from ultralytics.utils import SAFE_LOAD, env_bool

    return bool(SAFE_LOAD) or env_bool(SAFE_LOAD_ENV)


def pickled_top_level(path: str | Path) -> str:
    """What the checkpoint's pickle holds at its top level, read from its opcodes without unpickling.

    Returns ``"dict"`` for a checkpoint dict, ``"module.Name"`` for an object built by a global (a
    pickled model or any ``__reduce__`` payload), else the first opcode's name (``"EMPTY_LIST"``...).

    Raises:
        CheckpointError: the archive holds no ``data.pkl`` (a zip that ``torch.save`` did not write).
    """
    with zipfile.ZipFile(path) as z:
        names = [n for n in z.namelist() if n == "data.pkl" or n.endswith("/data.pkl")]
        if not names:
            raise CheckpointError(f"checkpoint '{path}' is not a PyTorch checkpoint (its archive has no data.pkl)")
        data = z.read(names[0])
    strings: list[str] = []  # protocol 4+ pushes a global's module and name as strings before STACK_GLOBAL
    try:
        for op, arg, _ in pickletools.genops(io.BytesIO(data)):
            if op.name in ("PROTO", "FRAME", "MEMOIZE", "BINPUT", "LONG_BINPUT", "PUT"):
                continue
            if op.name in ("SHORT_BINUNICODE", "BINUNICODE", "UNICODE", "BINUNICODE8"):
                strings.append(str(arg))
                continue
            if op.name == "STACK_GLOBAL" and len(strings) >= 2:
                return f"{strings[-2]}.{strings[-1]}"
            if op.name in ("GLOBAL", "INST"):
                return str(arg).replace(" ", ".")
            return "dict" if op.name in ("EMPTY_DICT", "DICT") else op.name
    except ValueError:
        pass  # not a pickle at all: the load below reports it
    return "unknown"


def read_checkpoint(path: str | Path, what: str = "checkpoint", *, model: bool = True) -> dict:
    """Load the checkpoint dict at ``path`` under ca-yolo's one safe-loading rule.

    The rule: the archive must be whole and its top level a dict (checked without unpickling), then
    it is loaded by Ultralytics' ``torch_safe_load`` with weights-only loading exactly when
    :func:`safe_load_enabled`. With ``model`` (the default) it must also hold a model under
    ``ema``/``model``; a plain ``state_dict`` or a dict without a model is named as such.

    Args:
        path: the ``.pt`` file.
        what: how messages name it (``"checkpoint"``, ``"pretrained checkpoint"``).
        model: require a model in it (resume logic reads only ``epoch``/``optimizer``).

    Raises:
        UnsafeCheckpointError: the pickle's top level calls a function, or safe loading is on and the
            file references a global outside the allow-list (nothing of it ran either way).
        CheckpointError: missing, cut short, not a checkpoint, or the wrong kind; one line naming it.
    """
    require_checkpoint(path, what)
    top = pickled_top_level(path)
    if "." in top and not top.rpartition(".")[2][:1].isupper():  # a function call, never a checkpoint
        raise UnsafeCheckpointError(f"{what} '{path}' is {_kind_of_top(top)}")
    if top not in _DICTS:
        raise CheckpointError(f"{what} '{path}' is {_kind_of_top(top)}; an Ultralytics checkpoint is {_HOW_TO_SAVE}")
    ckpt = _load(path, what)
    if not isinstance(ckpt, dict):  # defensive: the top-level check above already refused non-dicts
        raise CheckpointError(f"{what} '{path}' holds a {type(ckpt).__name__}, not an Ultralytics checkpoint")
    if model:
        checkpoint_model(ckpt, path, what)
    return ckpt


_DICTS = {"dict", "collections.OrderedDict"}  # a state_dict is an OrderedDict; its kind is named after loading
_HOW_TO_SAVE = "a dict holding 'model' (a run's weights/best.pt, or YOLO(...).save('x.pt'))"


def _kind_of_top(top: str) -> str:
    """A user's words for a pickle whose top level is ``top`` (see :func:`pickled_top_level`)."""
    if "." not in top:
        return f"a pickled {top.lower().replace('empty_', '')}, not a checkpoint dict"
    if top.rpartition(".")[2][:1].isupper():
        return f"a whole pickled {top} object (torch.save(model) rather than a checkpoint dict)"
    return f"a pickle that calls {top} when loaded, not a checkpoint dict (nothing of it was run)"


def _load(path: str | Path, what: str) -> object:
    """``torch_safe_load`` of ``path`` with its failures as one-line :class:`CheckpointError` s."""
    import pickle

    from ultralytics.nn.tasks import torch_safe_load

    safe = safe_load_enabled()
    try:
        return torch_safe_load(str(path), safe_only=safe)[0]
    except (TypeError, pickle.UnpicklingError, RuntimeError, EOFError, ModuleNotFoundError, AttributeError) as e:
        chain = f"{e} {e.__cause__ or ''}"
        refused = re.search(r"GLOBAL ([\w.]+)", chain)
        if safe and refused:
            raise UnsafeCheckpointError(
                f"{what} '{path}' refers to {_full_global_name(path, refused.group(1))}, which safe loading "
                f"({SAFE_LOAD_ENV}=1) does not allow; nothing of it was run"
            ) from None
        first = next((s.strip() for s in str(e).splitlines() if s.strip()), type(e).__name__)
        first = first.replace("ERROR ❌️", "").strip()
        raise CheckpointError(f"{what} '{path}' cannot be loaded: {type(e).__name__}: {first}") from None


def _full_global_name(path: str | Path, short: str) -> str:
    """``module.name`` of the global torch's refusal calls ``short`` (it drops ``builtins.``), from the archive's
    own list of globals (read without unpickling)."""
    try:
        names = torch.serialization.get_unsafe_globals_in_checkpoint(str(path))
    except Exception:  # noqa: BLE001  (the short name is still right)
        return short
    return next((n for n in names if n == short or n.endswith(f".{short}")), short)


def checkpoint_model(ckpt: dict, path: str | Path, what: str = "checkpoint") -> torch.nn.Module:
    """The model of a loaded checkpoint (``ema``, else ``model``), or a :class:`CheckpointError` naming its kind."""
    found = ckpt.get("ema") or ckpt.get("model")
    if isinstance(found, torch.nn.Module):
        return found
    if ckpt and all(isinstance(v, torch.Tensor) for v in ckpt.values()):
        raise CheckpointError(
            f"{what} '{path}' is a plain state_dict ({len(ckpt)} tensors, no model), not an Ultralytics "
            "checkpoint: load it with model.load_state_dict() into a model built from its YAML, or give a run's "
            "weights/best.pt"
        )
    keys = ", ".join(sorted(map(str, ckpt))[:6]) + (", ..." if len(ckpt) > 6 else "")
    if "model" in ckpt:
        return _no_model(what, path, f"its 'model' is a {type(ckpt['model']).__name__}")
    return _no_model(what, path, f"it holds no model (keys: {keys or 'none'})")


def _no_model(what: str, path: str | Path, why: str) -> torch.nn.Module:
    raise CheckpointError(f"{what} '{path}' is not an Ultralytics checkpoint: {why}")


def checkpoint_task(ckpt: dict) -> str:
    """The task of a loaded checkpoint's model (``detect``, ``segment``, ``classify``, ``pose``, ``obb``)."""
    from ultralytics.nn.tasks import guess_model_task

    found = checkpoint_model(ckpt, "?")
    return str(getattr(found, "task", None) or guess_model_task(found))


def require_task(ckpt: dict, path: str | Path, task: str, command: str) -> None:
    """Refuse a checkpoint whose model is for another task than ``task`` (``command`` names who needs it)."""
    found = checkpoint_task(ckpt)
    if found != task:
        raise CheckpointError(f"checkpoint '{path}' is a {found} model; {command} needs a {task} model")
