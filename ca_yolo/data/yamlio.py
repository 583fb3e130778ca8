"""Data YAMLs: write them for Ultralytics, and read any of them with paths resolved as Ultralytics does.

Keys ca-yolo adds beside Ultralytics' ``path/train/val/test/names``:

* ``coco_gt``: COCO-format ground-truth JSON of the ``val`` split, for pycocotools. A relative
  path is resolved by :func:`resolve_coco_gt` (against ``path``, like ``train``/``val``, then the
  YAML's folder); evaluation uses the same rule.
* ``coco_gt_cat_ids``: category id of each class index in that JSON (absent: ``1..nc``).
"""

from __future__ import annotations

import codecs
from pathlib import Path

import yaml

from ca_yolo.atomic_io import write_text_atomic
from ca_yolo.errors import yaml_problem

from .layout import find_images
from .problems import DataError

SPLIT_KEYS = ("train", "val", "test")


def dump_data_yaml(data: dict, header: str = "") -> str:
    """YAML text of a data dictionary; ``names`` written as an indexed mapping, ``header`` as comments."""
    data = dict(data)
    if isinstance(data.get("names"), (list, tuple)):
        data["names"] = dict(enumerate(data["names"]))
    comments = "".join(f"# {line}\n".replace("# \n", "#\n") for line in header.splitlines())
    return comments + yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=1000)


def write_data_yaml(path: str | Path, data: dict, header: str = "") -> Path:
    """Write a data YAML (atomically) and return its path."""
    return write_text_atomic(path, dump_data_yaml(data, header))


# UTF-32 before UTF-16: the UTF-32-LE mark begins with the UTF-16-LE one.
_BOMS = (
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


def read_yaml_text(file: str | Path) -> str:
    """The text of a YAML file in UTF-8 or, by its byte-order mark, UTF-16/32.

    Windows PowerShell's ``>`` and ``Out-File`` write UTF-16 with a mark; Ultralytics reads such a
    file anyway (it drops the bytes UTF-8 cannot decode, and the NULs), so ``train``/``eval`` accept
    it and every ca-yolo reader must too. A UTF-16 file without a mark is recognised by its NUL bytes.

    Raises:
        OSError: the file cannot be read.
        DataError: the bytes are no such text (naming the file and the first bad byte's offset).
    """
    raw = Path(file).read_bytes()
    encoding = next((enc for bom, enc in _BOMS if raw.startswith(bom)), None)
    if encoding is None and len(raw) >= 2 and b"\x00" in raw[:64]:
        encoding = "utf-16-le" if raw[1:64:2].count(0) > raw[0:64:2].count(0) else "utf-16-be"
    try:
        return raw.decode(encoding or "utf-8")
    except UnicodeDecodeError as e:
        raise DataError(
            f"{file}: not UTF-8 or UTF-16 text (byte {raw[e.start]:#04x} at offset {e.start}); save it as UTF-8"
        ) from None


def _datasets_dir() -> Path | None:
    """Ultralytics' DATASETS_DIR setting, where it looks up a relative ``path`` it cannot find."""
    try:
        from ultralytics.utils import DATASETS_DIR
    except Exception:  # pragma: no cover - Ultralytics is a dependency, but stay usable without it
        return None
    return Path(DATASETS_DIR)


def load_data_yaml(file: str | Path) -> dict:
    """Read a data YAML and resolve its paths the way Ultralytics' ``check_det_dataset`` does.

    Returns the YAML's dictionary with: ``yaml_file`` (absolute), ``path`` (absolute Path: the
    ``path`` key, relative ones against the working folder or else Ultralytics' datasets folder;
    without the key, the YAML's folder), ``train``/``val``/``test`` as lists of absolute Paths
    (``[]`` when absent), ``names`` as a list, ``nc``, and ``coco_gt`` as an absolute Path or None.
    Raises DataError naming the file for unreadable YAML or missing keys. Runs no download script.
    """
    file = Path(file).resolve()
    try:
        data = yaml.safe_load(read_yaml_text(file))
    except OSError as e:
        raise DataError(f"{file}: cannot read data YAML ({e.strerror or e})") from None
    except yaml.YAMLError as e:
        raise DataError(f"{file}: malformed YAML{yaml_problem(e)}") from None
    if not isinstance(data, dict):
        raise DataError(f"{file}: a data YAML must be a mapping with train/val/names keys")
    for k in ("train", "val"):
        if not data.get(k):
            raise DataError(f"{file}: '{k}' key missing (train and val are required)")
    names = data.get("names")
    if names is None:
        if not isinstance(data.get("nc"), int):
            raise DataError(f"{file}: 'names' key missing")
        names = [f"class_{i}" for i in range(data["nc"])]
    elif isinstance(names, dict):
        if sorted(names) != list(range(len(names))):
            raise DataError(f"{file}: 'names' keys must be 0..{len(names) - 1}, got {sorted(names)}")
        names = [str(names[i]) for i in range(len(names))]
    elif isinstance(names, list):
        names = [str(n) for n in names]
    else:
        raise DataError(f"{file}: 'names' must be a list or a mapping, not {type(names).__name__}")
    if data.get("nc") is not None and data["nc"] != len(names):
        raise DataError(f"{file}: 'nc: {data['nc']}' does not match the {len(names)} names")

    root = Path(data["path"]) if data.get("path") else file.parent
    if not root.is_absolute():
        if not root.exists() and (ds := _datasets_dir()) is not None:
            root = ds / root
        root = root.resolve()

    def resolve(x: str) -> Path:
        p = (root / x).resolve()
        if not p.exists() and str(x).startswith("../"):  # Ultralytics' fallback for "../" entries
            p = (root / x[3:]).resolve()
        return p

    out = dict(data, yaml_file=file, path=root, names=names, nc=len(names))
    for k in SPLIT_KEYS:
        v = data.get(k)
        out[k] = [] if not v else [resolve(x) for x in (v if isinstance(v, list) else [v])]
    out["coco_gt"] = resolve_coco_gt(data["coco_gt"], root, file.parent) if data.get("coco_gt") else None
    return out


def load_checked(file: str | Path, split: str = "val") -> dict:
    """Read a data YAML with Ultralytics' own ``check_det_dataset`` (no download): the dataset as
    Ultralytics trains and validates on it. Used by everything that uses a dataset (``data gt``,
    evaluation, ``compare``); :func:`load_data_yaml` is the checker's tolerant reader, which must
    keep going where this one stops in order to list every problem.

    Returns:
        Ultralytics' data dict (``path``, ``train``/``val``/``test`` as absolute strings or lists,
        ``names`` as a dict, ``nc``, and the YAML's own extra keys such as ``coco_gt``).

    Raises:
        DataError: the YAML is missing or malformed, or the split's images are not on disk.
    """
    path = Path(file)
    if path.is_dir():
        inside = sorted(path.glob("*.yaml")) + sorted(path.glob("*.yml"))
        hint = f": give the data YAML in it, e.g. {inside[0]}" if inside else " with no data YAML in it"
        raise DataError(f"dataset YAML '{file}' is a folder{hint}")
    if not path.is_file():
        raise DataError(f"dataset YAML '{file}' not found")
    from ultralytics.data.utils import check_det_dataset

    try:
        return check_det_dataset(str(path), autodownload=False, split=split)
    except (FileNotFoundError, SyntaxError, TypeError, KeyError, ValueError) as e:
        raise DataError(f"dataset '{file}': {_ultralytics_message(e)}{_relative_path_hint(path)}") from None


def _relative_path_hint(file: Path) -> str:
    """Why a YAML's relative ``path:`` may point elsewhere than meant (empty when it is absolute or absent).

    Ultralytics resolves a relative ``path:`` against the working folder (then its datasets folder),
    never against the YAML's own folder, so a YAML that works from one folder fails from another.
    """
    try:
        value = (yaml.safe_load(read_yaml_text(file)) or {}).get("path")
    except Exception:  # noqa: BLE001  (an unreadable YAML has its own message already)
        return ""
    if not value or Path(str(value)).is_absolute():
        return ""
    beside = (file.resolve().parent / str(value)).resolve()
    fix = f"; from the YAML's folder it would be {beside}" if beside.is_dir() else ""
    return (
        f" (its 'path: {value}' is relative, so it is read from the working folder {Path.cwd()}, "
        f"not from the YAML's folder{fix}: run from the folder it was written for, or make path: absolute)"
    )


def _ultralytics_message(e: Exception) -> str:
    """Ultralytics' dataset error as one line: its lines joined, without the download-folder and
    YAML-formatter notes, the ❌ marks and PyYAML's position pointer."""
    lines = []
    for line in str(e).splitlines():
        line = line.replace("❌", "").strip()
        if not line or line.startswith(("Note dataset download directory", "Verify YAML with", "^")):
            continue
        if line.startswith('in "<unicode string>", line'):
            line = "(" + line.split(", ", 1)[1] + ")"
        lines.append(line)
    return " ".join(lines).replace(" .", ".") or type(e).__name__


def resolve_coco_gt(value: str | Path, root: Path, yaml_dir: Path) -> Path:
    """The one rule for a ``coco_gt:`` path: absolute as given; a relative one against the dataset root,
    then the YAML's folder, then the working folder (the first that exists; else the root's)."""
    p = Path(value)
    if p.is_absolute():
        return p
    return next((c for c in (root / p, yaml_dir / p, p) if c.is_file()), root / p).resolve()


def list_split_images(data: dict, split: str) -> list[Path]:
    """Image files of one split of a loaded data YAML (see :func:`ca_yolo.data.layout.find_images`).

    ``data`` is :func:`load_data_yaml`'s dict (splits as lists) or :func:`load_checked`'s (Ultralytics
    gives a one-folder split as a string). Raises DataError when a listed folder or list file does not exist.
    """
    spec = data[split]
    try:
        return find_images(spec if isinstance(spec, (list, tuple)) else [spec])
    except DataError as e:
        raise DataError(f"{data['yaml_file']}: {split} {e}") from None
