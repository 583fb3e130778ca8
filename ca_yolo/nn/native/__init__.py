"""CoordAtt's inference form as one compiled CPU call, built on first use with the system C compiler.

At batch 1 the eager PyTorch inference form of a CoordAtt layer is ten small calls; inside a model each
runs right after a large convolution left the caches cold, and the layer costs two to three times what
it costs alone. ``coord_att_cpu.c`` (next to this file) does the whole layer in one call: one pass over
the map to pool it, the little gate arithmetic, one pass to scale it.

- Built with the C compiler on the PATH (``$CC``, else ``cc``, ``gcc``, ``clang``) the first time a
  layer is fused in a process, for this machine's CPU (``-march=native``), and kept in
  ``$XDG_CACHE_HOME/ca_yolo/native`` (default ``~/.cache``) under a key of the source, compiler, flags and
  CPU: later processes load it in milliseconds. Written to a temporary name and renamed, so processes
  building at once never load a half-written file.
- Verified before every load: a ``<name>.sha256`` file beside it (size and SHA-256, written before
  the library is renamed into place) must match the library's bytes. A file cut short (a full disk,
  a copied cache) would otherwise be mapped by the loader and kill the process with SIGBUS on first
  use; a damaged or unverifiable file is removed and built again, with one log line saying so.
- Threads: where PyTorch runs on GNU OpenMP (Linux wheels) the kernel is built with ``-fopenmp`` and
  links the libgomp PyTorch already loaded, so it shares PyTorch's threads and thread count; elsewhere
  it runs on the calling thread.
- Where it can't be built (no compiler, another OS, a failed build), or with ``CA_YOLO_NATIVE=0`` in
  the environment, :func:`coord_att_kernel` returns None and the layer runs its PyTorch inference form
  (a failed build says so in one log line). Results of the two agree to float rounding (tests).
"""

from __future__ import annotations

import contextlib
import contextvars
import ctypes
import functools
import hashlib
import logging
import os
import platform
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import torch

# Ultralytics' logger by name (the same object as its LOGGER), so nn/ needs only torch.
LOGGER = logging.getLogger("ultralytics")

SOURCE = Path(__file__).with_name("coord_att_cpu.c")
ENV_SWITCH = "CA_YOLO_NATIVE"
_FLAGS = ("-O3", "-fno-math-errno", "-fno-trapping-math", "-shared", "-fPIC")
_OFF = contextvars.ContextVar("ca_yolo_native_off", default=False)

CoordAttKernel = Callable[[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, int], torch.Tensor]


class BuildError(RuntimeError):
    """The kernel could not be built or loaded (the message says why, in one line)."""


@contextlib.contextmanager
def disabled() -> Iterator[None]:
    """While active (in this thread or task), layers run their PyTorch inference form, not the kernel.

    For side-by-side timing and parity checks of the two forms in one process.
    """
    token = _OFF.set(True)
    try:
        yield
    finally:
        _OFF.reset(token)


def compiler() -> str | None:
    """The C compiler to build with: ``$CC`` if set, else the first of cc, gcc, clang on the PATH."""
    if os.environ.get("CC"):
        return os.environ["CC"]
    return next((path for name in ("cc", "gcc", "clang") if (path := shutil.which(name))), None)


def _compiler_version(cc: str) -> str:
    try:
        run = subprocess.run([cc, "--version"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError) as e:
        raise BuildError(f"C compiler {cc!r} does not run: {e}") from None
    if run.returncode != 0:
        raise BuildError(f"C compiler {cc!r} does not run: '{cc} --version' exited with {run.returncode}")
    return run.stdout


def _libgomp_files() -> set[str]:
    """The libgomp files mapped into this process (Linux; elsewhere none)."""
    try:
        maps = Path("/proc/self/maps").read_text().splitlines()
    except OSError:
        return set()
    return {line.split()[-1] for line in maps if "libgomp" in line.rsplit("/", 1)[-1]}


def _gnu_openmp_loaded() -> bool:
    """Whether PyTorch runs on GNU OpenMP in this process (then the kernel can share its libgomp)."""
    if sys.platform != "linux" or "parallel backend: OpenMP" not in torch.__config__.parallel_info():
        return False
    return bool(_libgomp_files())


def _cpu_id() -> str:
    """What ``-march=native`` depends on: the CPU's model and feature flags."""
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
        return "\n".join(sorted({ln for ln in lines if ln.startswith(("model name", "flags", "Features"))}))
    except OSError:
        return f"{platform.machine()} {platform.processor()}"


def build_flags(cc_version: str) -> tuple[str, ...]:
    """Compiler flags for this machine: -march=native, and -fopenmp where PyTorch's libgomp can be shared."""
    gcc = "clang" not in cc_version.lower() and ("gcc" in cc_version.lower() or "free software" in cc_version.lower())
    return (*_FLAGS, "-march=native", *(("-fopenmp",) if gcc and _gnu_openmp_loaded() else ()))


def cache_dir() -> Path:
    """Where built kernels are kept: ``$XDG_CACHE_HOME/ca_yolo/native`` (default ``~/.cache/ca_yolo/native``)."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "ca_yolo" / "native"


def checksum_path(path: Path) -> Path:
    """The file beside a cached library that records its size and SHA-256 (``<name>.sha256``)."""
    return path.with_name(path.name + ".sha256")


def _stamp(data: bytes) -> str:
    """What :func:`checksum_path` holds for a library of bytes ``data``: ``<size> <sha256>``."""
    return f"{len(data)} {hashlib.sha256(data).hexdigest()}\n"


def cache_problem(path: Path) -> str | None:
    """Why the cached library at ``path`` must not be loaded (in words), or None when it matches its checksum."""
    try:
        recorded = checksum_path(path).read_text(encoding="ascii").split()
    except FileNotFoundError:
        return "it has no checksum file"
    except (OSError, UnicodeDecodeError) as e:
        return f"its checksum file is unreadable: {getattr(e, 'strerror', None) or e}"
    try:
        data = path.read_bytes()
    except OSError as e:
        return f"unreadable: {e.strerror or e}"
    if len(recorded) != 2 or not recorded[0].isdigit():
        return "its checksum file is damaged"
    if len(data) != int(recorded[0]):
        return f"{len(data)} bytes where {recorded[0]} were written"
    if hashlib.sha256(data).hexdigest() != recorded[1]:
        return "its bytes differ from their checksum"
    return None


def _discard_damaged(path: Path, problem: str) -> None:
    """Remove a cached library that failed verification (and its checksum file), saying so in one log line."""
    LOGGER.warning(f"ca-yolo: the cached CoordAtt kernel {path} is damaged ({problem}); building it again")
    for p in (path, checksum_path(path)):
        with contextlib.suppress(FileNotFoundError, PermissionError):
            p.unlink()  # a read-only cache is reported by the build, which cannot write there either


def _write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file in its folder and a rename."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="ascii") as f:
            f.write(text)
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


def build(cc: str | None = None) -> Path:
    """The kernel's shared library for this machine: from the cache (verified), or compiled into it now.

    A cached library that does not match its checksum file is removed and compiled again.

    Raises:
        BuildError: no compiler, the compiler failed, or the cache folder is not writable.
    """
    cc = cc or compiler()
    if cc is None:
        raise BuildError("no C compiler found (set CC, or install gcc or clang)")
    version = _compiler_version(cc)
    flags = build_flags(version)
    source = SOURCE.read_bytes()
    key = hashlib.sha256(b"\0".join([source, version.encode(), " ".join(flags).encode(), _cpu_id().encode()]))
    suffix = ".dylib" if sys.platform == "darwin" else ".so"
    path = cache_dir() / f"coord_att_cpu-{key.hexdigest()[:16]}{suffix}"
    if path.exists():
        problem = cache_problem(path)
        if problem is None:
            return path
        _discard_damaged(path, problem)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=suffix, dir=path.parent)
        os.close(fd)
    except OSError as e:
        raise BuildError(f"cannot write to the kernel cache {path.parent}: {e.strerror or e}") from None
    try:
        # -march=native first; a compiler that doesn't know it for this CPU (some clang targets) gets a plain build.
        for attempt in (flags, tuple(f for f in flags if f != "-march=native")):
            run = subprocess.run([cc, *attempt, "-o", tmp, str(SOURCE)], capture_output=True, text=True, timeout=300)
            if run.returncode == 0:
                break
        else:
            first = next((ln for ln in run.stderr.splitlines() if ln.strip()), f"exit status {run.returncode}")
            raise BuildError(f"{cc} failed on {SOURCE.name}: {first}")
        # The checksum goes in first: a library in place is always verifiable (a process that sees
        # the library before its checksum would take it for damaged and build it again).
        _write_atomic(checksum_path(path), _stamp(Path(tmp).read_bytes()))
        os.replace(tmp, path)
    except (OSError, subprocess.SubprocessError) as e:
        raise BuildError(f"{cc} could not build {SOURCE.name}: {e}") from None
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
    return path


def load(path: Path) -> CoordAttKernel:
    """The kernel in the shared library at ``path`` as a function of tensors (see :func:`coord_att_kernel`)."""
    before = _libgomp_files()
    try:
        fn = ctypes.CDLL(str(path)).ca_coord_att_forward
    except (OSError, AttributeError) as e:
        raise BuildError(f"cannot load {path}: {e}") from None
    if before and _libgomp_files() != before:  # a second OpenMP runtime would fight PyTorch's for the cores
        raise BuildError(f"{path.name} loaded another libgomp than PyTorch's ({', '.join(_libgomp_files() - before)})")
    fn.restype = ctypes.c_int
    fn.argtypes = [ctypes.c_void_p] * 2 + [ctypes.c_int64] * 5 + [ctypes.c_void_p] * 4

    def coord_att(
        x: torch.Tensor, w1: torch.Tensor, b1: torch.Tensor, wgt: torch.Tensor, bg: torch.Tensor, mip: int
    ) -> torch.Tensor:
        out = torch.empty_like(x)
        b, c, h, w = x.shape
        constants = w1.data_ptr(), b1.data_ptr(), wgt.data_ptr(), bg.data_ptr()
        if fn(x.data_ptr(), out.data_ptr(), b, c, h, w, mip, *constants):
            raise MemoryError(f"CoordAtt kernel: no memory for the work buffers of a {tuple(x.shape)} input")
        return out

    return coord_att


@functools.lru_cache(maxsize=1)
def _kernel_once() -> tuple[CoordAttKernel | None, str, Path | None]:
    """(the kernel or None, what runs in words, the kernel's file or None): built once per process, the log
    line once too."""
    if os.environ.get(ENV_SWITCH, "1").strip().lower() in ("0", "false", "off", "no"):
        return None, f"PyTorch inference form ({ENV_SWITCH}={os.environ[ENV_SWITCH]})", None
    try:
        path = build()
        return load(path), "compiled kernel", path
    except BuildError as e:
        LOGGER.warning(
            f"ca-yolo: CoordAtt kernel not built ({e}); the PyTorch inference form runs instead "
            f"({ENV_SWITCH}=0 silences this)"
        )
        return None, f"PyTorch inference form (kernel not built: {e})", None


def coord_att_kernel() -> CoordAttKernel | None:
    """The compiled CoordAtt inference form, or None where it is off or can't be built (then use PyTorch's).

    Built (or loaded from the cache) on the first call in a process. The returned function takes
    ``(x, w1, b1, wgt, bg, mip)``: x (B, C, H, W) float32, contiguous, on the CPU; w1 (mip, C) and b1
    (mip, 1) conv1 with BatchNorm folded in; wgt (mip, 2C) conv_h's and conv_w's weights stacked and
    transposed; bg (2C, 1) their biases, all float32 and contiguous. It returns a new (B, C, H, W) tensor.
    """
    return None if _OFF.get() else _kernel_once()[0]


def kernel_status(with_file: bool = True) -> str:
    """What fused float32 CoordAtt layers run on the CPU here, in one line: the compiled kernel (with its file
    unless ``with_file`` is False), or the PyTorch inference form and why."""
    if _OFF.get():
        return "PyTorch inference form (ca_yolo.nn.native.disabled())"
    _, status, path = _kernel_once()
    return f"{status} ({path})" if with_file and path else status
