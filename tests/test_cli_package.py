"""The ca-yolo command line and the installed package (shipped YAMLs found from anywhere)."""

from __future__ import annotations

import subprocess
import sys

import pytest
from conftest import REPO, run_cli, run_python, train_cli

OUR_COMMANDS = ["data", "compare", "eval", "yaml", "attn", "bench", "models"]


def test_help_lists_our_commands_and_ultralytics_modes():
    p = run_cli(["--help"])
    assert p.returncode == 0
    for name in OUR_COMMANDS:
        assert f"ca-yolo {name} " in p.stdout
    assert "ca-yolo train model=yolov8n-ca.yaml" in p.stdout


def test_models_lists_the_shipped_yamls():
    p = run_cli(["models"])
    assert p.returncode == 0
    for family in ("yolov8", "yolo11", "yolo26"):
        for suffix in ("", "-backbone", "-neck"):
            assert f"  {family}-ca{suffix}.yaml\n" in p.stdout


@pytest.mark.slow
def test_train_mode_delegates_to_ultralytics_with_the_plugin(tiny_data, tmp_path):
    p = train_cli("yolov8n-ca.yaml", tiny_data, tmp_path, "cli", cwd=tmp_path)
    assert p.returncode == 0, p.stderr[-3000:]
    assert (tmp_path / "cli" / "weights" / "best.pt").is_file()
    assert "CoordAtt" in p.stdout + p.stderr  # Ultralytics' layer table shows our rows


def test_bad_mode_is_reported_by_ultralytics():
    p = run_cli(["fly", "model=yolov8n-ca.yaml"])
    assert p.returncode == 2
    assert p.stderr.strip().splitlines()[-1].startswith("ca-yolo fly: error: 'fly' is not a valid YOLO argument.")


@pytest.mark.slow
def test_non_editable_install_finds_shipped_yamls_from_any_directory(tmp_path):
    wheel_dir, target = tmp_path / "wheel", tmp_path / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "-q",
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(wheel_dir),
            str(REPO),
        ],
        check=True,
        capture_output=True,
    )
    wheel = next(wheel_dir.glob("ca_yolo-*.whl"))
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(target), str(wheel)],
        check=True,
        capture_output=True,
    )
    code = f"""
import ca_yolo
from ultralytics import YOLO
assert ca_yolo.__file__.startswith({str(target)!r}), ca_yolo.__file__
m = YOLO("yolov8s-ca.yaml")
print("BUILT", m.model.yaml["scale"], sum(type(x).__name__ == "CoordAtt" for x in m.model.modules()))
"""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    # -I-like isolation from the repo: run from another folder with only the installed copy on the path
    p = run_python(code, env={"PYTHONPATH": str(target), "PYTHONNOUSERSITE": "1"}, cwd=elsewhere)
    assert p.returncode == 0, p.stderr[-3000:]
    assert "BUILT s 6" in p.stdout


def test_help_imports_neither_torch_nor_ultralytics():
    """'ca-yolo --help' and 'ca-yolo data --help' (as the console script) answer without the heavy imports."""
    for args in (["--help"], ["data", "--help"], ["compare", "--help"], ["eval", "--help"]):
        code = (
            f"import sys; sys.argv = ['/venv/bin/ca-yolo', *{args!r}]; from ca_yolo.cli import main; "
            "rc = main(sys.argv[1:]); "
            "print(rc, 'torch' in sys.modules, 'ultralytics' in sys.modules)"
        )
        p = run_python(code)
        assert p.returncode == 0, p.stderr[-2000:]
        assert p.stdout.strip().splitlines()[-1] == "0 False False", args
    # any other process imports (and registers) the plugin as usual
    p = run_python(
        "import sys; sys.argv = ['ca-yolo', '--help']; sys.argv[0] = 'python'; import ca_yolo; "
        "print(ca_yolo.is_registered())"
    )
    assert p.stdout.strip() == "True", p.stderr[-2000:]
