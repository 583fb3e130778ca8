"""Multi-GPU workers get the plugin: Ultralytics' generated DDP script builds the CA model."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from conftest import run_python


@pytest.mark.parametrize("with_callback", [True, False], ids=["plugin-callback", "control-without-it"])
def test_ddp_worker_script_builds_ca_model_without_importing_the_plugin(tiny_data, tmp_path, with_callback):
    from ultralytics.models.yolo.detect import DetectionTrainer
    from ultralytics.utils.dist import ddp_cleanup, generate_ddp_file

    import ca_yolo  # noqa: F401
    from ca_yolo.plugin.register import DDP_EVENT, ensure_registered

    trainer = DetectionTrainer(
        overrides={
            "model": "yolov8n-ca.yaml",
            "data": str(tiny_data),
            "imgsz": 64,
            "epochs": 1,
            "device": "cpu",
            "project": str(tmp_path),
            "name": "ddp",
            "workers": 0,
        }
    )
    assert ensure_registered in trainer.callbacks[DDP_EVENT]
    if not with_callback:  # every callback of ours rides on the pickle (attn stats too): drop them all
        for event, fns in trainer.callbacks.items():
            trainer.callbacks[event] = [f for f in fns if not getattr(f, "__module__", "").startswith("ca_yolo")]
    assert trainer.model == "yolov8n-ca.yaml"  # still a YAML name: the worker must build it
    script = generate_ddp_file(trainer)
    try:
        text = Path(script).read_text()
        assert "import ca_yolo" not in text  # nothing of ours in the script: registration rides on the pickle
        # Run the worker script as written, but build the model instead of training.
        body = text.replace(
            "trainer.train()",
            (
                "trainer.setup_model()\n"
                "    import sys\n"
                "    ca = [m for m in trainer.model.modules() if type(m).__name__ == 'CoordAtt']\n"
                "    print('WORKER_CA', len(ca), type(trainer.model).__name__)"
            ),
        )
        body = re.sub(r'if __name__ == "__main__":', "if True:", body)
        p = run_python(body, cwd=tmp_path)
        if with_callback:
            assert p.returncode == 0, p.stderr[-3000:]
            assert "WORKER_CA 6 DetectionModel" in p.stdout
        else:  # the worker cannot find the YAML: proof that the callback is what carries the plugin
            assert p.returncode != 0 and "'yolov8-ca.yaml' does not exist" in p.stderr
    finally:
        ddp_cleanup(trainer, script)
