"""ca_yolo.atomic_io: whole files or nothing, with a normal file mode."""

from __future__ import annotations

import json
import os

import pytest

from ca_yolo.atomic_io import (
    new_file_mode,
    save_figure_atomic,
    write_bytes_atomic,
    write_json_atomic,
    write_text_atomic,
)


def test_writes_content_creates_parents_and_uses_the_umask_mode(tmp_path):
    old = os.umask(0o027)
    try:
        assert new_file_mode() == 0o640
        p = write_json_atomic(tmp_path / "a" / "b.json", {"x": [1, 2]}, indent=1)
    finally:
        os.umask(old)
    assert p == tmp_path / "a" / "b.json"
    assert p.read_text() == '{\n "x": [\n  1,\n  2\n ]\n}'
    assert p.stat().st_mode & 0o777 == 0o640  # not mkstemp's private 0o600
    assert write_text_atomic(tmp_path / "t.txt", "a\r\nb\n").read_bytes() == b"a\r\nb\n"  # newlines untouched
    assert write_text_atomic(tmp_path / "u.txt", "µ").read_bytes() == "µ".encode()
    assert write_bytes_atomic(tmp_path / "t.txt", b"\x00").read_bytes() == b"\x00"  # replaces
    assert sorted(q.name for q in tmp_path.iterdir()) == ["a", "t.txt", "u.txt"]  # no temp files left


def test_failed_write_keeps_the_old_file_and_leaves_no_temp(tmp_path):
    p = write_text_atomic(tmp_path / "keep.json", "old")
    with pytest.raises(TypeError, match="not JSON serializable"):
        write_json_atomic(p, {"x": object()})

    class Broken:
        def savefig(self, f, **kwargs):
            f.write(b"half a PNG")
            raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        save_figure_atomic(Broken(), p)
    assert p.read_text() == "old"
    assert [q.name for q in tmp_path.iterdir()] == ["keep.json"]


def test_figure_is_a_png_with_savefig_options(tmp_path):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(2, 1))
    FigureCanvasAgg(fig)
    fig.add_subplot().plot([0, 1])
    p = save_figure_atomic(fig, tmp_path / "f.png", dpi=50)
    data = p.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert int.from_bytes(data[16:20], "big") == 100 and int.from_bytes(data[20:24], "big") == 50  # 2x1 in at 50 dpi
    assert json.loads(write_json_atomic(tmp_path / "n.json", None).read_text()) is None
