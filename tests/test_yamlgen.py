"""ca-yolo yaml: inserting attention rows into model YAMLs, default places, shipped YAMLs, CLI."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml
from stock_yamls import STOCK_DETECT  # the YAMLs the property test runs for real

import ca_yolo  # noqa: F401  (registers the plugin)
from ca_yolo.cfg import MODELS_DIR
from ca_yolo.plugin.parser import probe_shapes
from ca_yolo.yamlgen.cli import main
from ca_yolo.yamlgen.derive import derive, resolve_base
from ca_yolo.yamlgen.insert import insert_after, new_index_map
from ca_yolo.yamlgen.places import default_places
from ca_yolo.yamlgen.shipped import SHIPPED, render_shipped


def _stock(name: str) -> dict:
    return yaml.safe_load(resolve_base(name)[0].read_text())


def _rows(d: dict) -> list:
    return d["backbone"] + d["head"]


# --- inserting and rewriting 'from' ------------------------------------------------------------

TOY = {
    "nc": 2,
    "backbone": [
        [-1, 1, "Conv", [16, 3, 2]],  # 0
        [-1, 1, "Conv", [32, 3, 2]],  # 1
        [-1, 1, "Conv", [64, 3, 2]],  # 2
    ],
    "head": [
        [-2, 1, "Conv", [64, 1, 1]],  # 3: reads 1 by a negative offset
        [[-1, 2], 1, "Concat", [1]],  # 4: relative and absolute
        [1, 1, "Conv", [32, 1, 1]],  # 5: absolute
        [[5, 4, -4], 1, "Detect", ["nc"]],  # 6: the head's input list, with a negative entry (= 2)
    ],
}


def test_insert_rewrites_every_kind_of_from():
    variant, records = insert_after(TOY, [1, 4], module="SE", args=[4], reasons={1: "why"})
    assert _rows(variant) == [
        [-1, 1, "Conv", [16, 3, 2]],  # 0
        [-1, 1, "Conv", [32, 3, 2]],  # 1
        [-1, 1, "SE", [4]],  # 2 <- after base 1
        [-1, 1, "Conv", [64, 3, 2]],  # 3 (base 2): -1 now reads the attention
        [-2, 1, "Conv", [64, 1, 1]],  # 4 (base 3): base 1 -> the attention output, row 2
        [[-1, 3], 1, "Concat", [1]],  # 5 (base 4): absolute 2 -> 3
        [-1, 1, "SE", [4]],  # 6 <- after base 4
        [2, 1, "Conv", [32, 1, 1]],  # 7 (base 5): absolute 1 -> attention at 2
        [[7, 6, -5], 1, "Detect", ["nc"]],  # 8 (base 6): 5 -> 7, 4 -> its attention 6, -4 (=2) -> 3 = 8-5
    ]
    assert len(variant["backbone"]) == 4 and variant["nc"] == 2
    assert [(r.after, r.index, r.module, r.args, r.reason) for r in records] == [
        (1, 2, "SE", [4], "why"),
        (4, 6, "SE", [4], ""),
    ]
    assert TOY["head"][0][0] == -2  # the input dict is not modified
    assert new_index_map(7, [1, 4]) == [0, 1, 3, 4, 5, 7, 8]


def test_insert_after_last_backbone_row_stays_in_backbone():
    variant, _ = insert_after(TOY, [2])
    assert [r[2] for r in variant["backbone"]] == ["Conv", "Conv", "Conv", "CoordAtt"]
    assert variant["head"][0] == [-3, 1, "Conv", [64, 1, 1]]


@pytest.mark.parametrize("after", [[6], [7], [-1]])
def test_insert_refuses_the_head_and_out_of_range(after):
    with pytest.raises(ValueError, match=r"cannot insert after row \d+: valid rows are 0..5 \(row 6 is the head\)"):
        insert_after(TOY, after)


# --- default places -----------------------------------------------------------------------------

PLACES = {
    "yolov3-tiny.yaml": [8, 10, 15, 19],  # stage convs, not the max-pools that follow them
    "yolov5.yaml": [4, 6, 8, 17, 20, 23],
    "yolov5-p6.yaml": [4, 6, 8, 10, 23, 26, 29, 32],
    "yolov8.yaml": [4, 6, 8, 15, 18, 21],
    "yolov8-p2.yaml": [2, 4, 6, 8, 18, 21, 24, 27],
    "yolov8-p6.yaml": [4, 6, 8, 10, 20, 23, 26, 29],
    "yolov8-seg.yaml": [4, 6, 8, 15, 18, 21],
    "yolov8-pose-p6.yaml": [4, 6, 8, 10, 20, 23, 26, 29],
    "yolov9t.yaml": [4, 6, 8, 15, 18, 21],
    "yolov9e.yaml": [22, 25, 28, 35, 38, 41],  # the main (second) branch of the dual backbone
    "yolov10n.yaml": [4, 6, 8, 16, 19, 22],
    "yolo11.yaml": [4, 6, 8, 16, 19, 22],
    "yolo11-obb.yaml": [4, 6, 8, 16, 19, 22],
    "yolo12.yaml": [4, 6, 8, 14, 17, 20],
    "yolo26.yaml": [4, 6, 8, 16, 19, 22],
    "yolo26-p2.yaml": [2, 4, 6, 8, 19, 22, 25, 28],
    "yolo26-p6.yaml": [4, 6, 8, 10, 21, 24, 27, 30],
}


@pytest.mark.parametrize("name", sorted(PLACES))
def test_default_places(name):
    d = _stock(name)
    both = default_places(d, "backbone,neck")
    assert list(both) == PLACES[name]
    backbone, neck = default_places(d, "backbone"), default_places(d, ["neck"])
    assert sorted({**backbone, **neck}) == PLACES[name]
    assert all(r.startswith("backbone: ends the P") for r in backbone.values())
    assert all(r.startswith("neck: feeds the head (input ") for r in neck.values())
    n_backbone = len(d["backbone"])
    assert all(i < n_backbone for i in backbone) and all(i >= n_backbone for i in neck)


def test_default_places_reasons_and_errors():
    assert default_places(_stock("yolov8.yaml")) == {
        4: "backbone: ends the P3/8 stage",
        6: "backbone: ends the P4/16 stage",
        8: "backbone: ends the P5/32 stage",
        15: "neck: feeds the head (input 1 of 3)",
        18: "neck: feeds the head (input 2 of 3)",
        21: "neck: feeds the head (input 3 of 3)",
    }
    with pytest.raises(ValueError, match=r"--at takes backbone, neck or backbone,neck; got 'body'"):
        default_places(_stock("yolov8.yaml"), "body")


# Every stock detection / seg / pose / obb YAML that tests/test_yamlgen_property.py does not already
# run for real (full-size-only models and the -seg/-pose/-obb heads), checked on the meta device.
_STOCK_DIR = Path(resolve_base("yolov8.yaml")[0]).parents[1]
ALL_STOCK = sorted(
    p.name
    for p in _STOCK_DIR.rglob("*.yaml")
    if not any(k in p.name for k in ("cls", "world", "yoloe", "rtdetr", "depth", "sem")) and p.name not in STOCK_DETECT
)


def test_every_stock_yaml_is_covered():
    assert len(ALL_STOCK) + len(STOCK_DETECT) == 44  # all of 8.4.190's detect/seg/pose/obb YAMLs
    assert {"yolov3.yaml", "yolov9e.yaml", "yolov10x.yaml", "yolo26-seg.yaml", "yolov8-pose-p6.yaml"} <= set(ALL_STOCK)


@pytest.mark.parametrize("name", ALL_STOCK)
def test_every_stock_yaml_variant_keeps_the_graph_on_meta(name):
    """Each base layer's output shape reappears at its new index; attention keeps its input's shape."""
    d = _stock(name)
    v = derive(name, "CoordAtt", check=False)  # the probes below build it (attention as identity)
    base_shapes, var_shapes = probe_shapes(d), probe_shapes(v.model)
    n = len(_rows(d))
    new = new_index_map(n, [r.after for r in v.insertions])
    assert [var_shapes[new[i]] for i in range(n - 1)] == base_shapes
    assert all(var_shapes[r.index] == base_shapes[r.after] for r in v.insertions)
    assert len(v.insertions) >= 4


# --- derive, render, shipped files --------------------------------------------------------------


def test_variant_text_round_trips_and_says_what_was_inserted(tmp_path):
    v = derive("yolo11n.yaml", "ECA", at="neck")  # a scale letter in the name finds yolo11.yaml
    assert v.base_name == "yolo11.yaml"
    assert yaml.safe_load(v.text) == v.model
    text = v.text
    assert text.startswith("# yolo11.yaml with ECA layers (--at neck). Generated by 'ca-yolo yaml'")
    assert "#   after 16 -> 17: neck: feeds the head (input 1 of 3)" in text
    assert "  - [-1, 1, ECA, []] # 17 <- inserted after base row 16: neck: feeds the head (input 1 of 3)" in text
    assert "  - [[17, 21, 25], 1, Detect, [nc]] # 26 (base 23) Detect(P3, P4, P5)" in text


def test_derive_from_a_user_file_and_explicit_rows(tmp_path):
    mine = copy.deepcopy(_stock("yolov8.yaml"))
    mine["nc"] = 3
    path = tmp_path / "my_model.yaml"
    path.write_text(yaml.safe_dump(mine))
    v = derive(path, "CBAM", after=[4, 6, 8, 15])
    assert v.base_name == "my_model.yaml" and v.model["nc"] == 3
    assert [(r.after, r.index) for r in v.insertions] == [(4, 5), (6, 8), (8, 11), (15, 19)]
    assert "explicit rows 4,6,8,15" in v.text.splitlines()[0]
    assert derive(path, "CBAM", after=[-8]).insertions[0].after == 15  # negative: from the end


def test_derive_errors():
    with pytest.raises(FileNotFoundError, match="model YAML 'nope.yaml' is neither a file nor a stock Ultralytics"):
        derive("nope.yaml")
    with pytest.raises(ValueError, match="unknown attention 'Foo'; registered: CoordAtt, SE, CBAM, ECA, CoordAttH"):
        derive("yolov8.yaml", "Foo")
    with pytest.raises(
        ValueError,
        match=r"yolov8.yaml \+ CoordAtt does not build: ModelYamlError: model YAML row 5 "
        r"\(CoordAtt\): args \[1, 2, 3\] fit none of the forms",
    ):
        derive("yolov8.yaml", "CoordAtt", after=[4], args=[1, 2, 3])


@pytest.mark.parametrize("name", sorted(SHIPPED))
def test_shipped_yamls_are_what_the_generator_makes(name):
    assert (MODELS_DIR / name).read_text(encoding="utf-8") == render_shipped(name), (
        f"{name} is stale: run 'python -m ca_yolo.yamlgen.shipped'"
    )


def test_sibling_yamls_differ_from_yolov8_ca_only_in_the_layer():
    ca = _rows(yaml.safe_load((MODELS_DIR / "yolov8-ca.yaml").read_text()))
    for suffix, layer in (("se", "SE"), ("cbam", "CBAM"), ("eca", "ECA"), ("ca-h", "CoordAttH"), ("ca-w", "CoordAttW")):
        rows = _rows(yaml.safe_load((MODELS_DIR / f"yolov8-{suffix}.yaml").read_text()))
        assert [r if r[2] != layer else [*r[:2], "CoordAtt", r[3]] for r in rows] == ca


def test_shipped_names_resolve_with_a_scale_letter():
    from ultralytics.nn.tasks import yaml_model_load

    for name in ("yolov8n-ca-h.yaml", "yolov8s-ca-w.yaml", "yolov8m-se.yaml", "yolov8n-cbam.yaml", "yolov8x-eca.yaml"):
        d = yaml_model_load(name)
        assert d["scale"] == name[6] and d["yaml_file"] == name
        assert sum(r[2] in {"SE", "CBAM", "ECA", "CoordAttH", "CoordAttW"} for r in _rows(d)) == 6


# --- CLI ----------------------------------------------------------------------------------------


def test_cli_writes_refuses_to_overwrite_and_forces(tmp_path, capsys):
    out = tmp_path / "yolo11-ca.yaml"
    assert main(["yolo11.yaml", "--attn", "CoordAtt", "--at", "backbone,neck", "-o", str(out)]) == 0
    printed = capsys.readouterr().out.splitlines()
    assert printed[0] == f"yolo11.yaml + 6 x CoordAtt -> {out}"
    assert printed[1] == "  after base row 4 -> new row 5  (backbone: ends the P3/8 stage)"
    assert printed[6] == "  after base row 22 -> new row 28  (neck: feeds the head (input 3 of 3))"
    assert printed[7] == "note: pick a scale by name: model=yolo11x-ca.yaml loads yolo11-ca.yaml at scale 'x'"
    assert out.read_text() == render_shipped("yolo11-ca.yaml")  # same file as the one shipped

    out.write_text("mine\n")
    assert main(["yolo11.yaml", "-o", str(out)]) == 1
    assert capsys.readouterr().err == f"ca-yolo yaml: error: {out} exists; pass --force to overwrite it\n"
    assert out.read_text() == "mine\n"
    assert main(["yolo11.yaml", "-o", str(out), "--force"]) == 0
    assert out.read_text() == render_shipped("yolo11-ca.yaml")
    assert [p.name for p in tmp_path.iterdir()] == ["yolo11-ca.yaml"]  # no temp file left behind


def test_cli_explicit_rows_args_and_stdout(capsys):
    assert main(["yolov8.yaml", "--attn", "SE", "--after", "4,6,8,15", "--args", "8"]) == 0
    captured = capsys.readouterr()
    d = yaml.safe_load(captured.out)  # the YAML itself goes to stdout
    assert [(i, r[2], r[3]) for i, r in enumerate(_rows(d)) if r[2] == "SE"] == [
        (5, "SE", [8]),
        (8, "SE", [8]),
        (11, "SE", [8]),
        (19, "SE", [8]),
    ]
    assert captured.err.splitlines()[0] == "yolov8.yaml + 4 x SE"


@pytest.mark.parametrize(
    ("argv", "code", "message"),
    [
        (
            ["nope.yaml"],
            1,  # a file named on the command line is missing: a data problem, not a usage one
            "ca-yolo yaml: error: model YAML 'nope.yaml' is neither a file nor a stock Ultralytics model name",
        ),
        (
            ["yolov8.yaml", "--after", "22"],
            2,
            "ca-yolo yaml: error: --after 22 is out of range: yolov8.yaml has rows "
            "0..22 (row 22 is the head), so layers go after rows 0..21",
        ),
        (
            ["yolov8.yaml", "--at", "body"],
            2,
            "ca-yolo yaml: error: --at takes backbone, neck or backbone,neck; got 'body'",
        ),
    ],
)
def test_cli_bad_input(argv, code, message, capsys):
    assert main(argv) == code
    assert capsys.readouterr().err.startswith(message)


def test_cli_rejects_unknown_attention_and_both_place_options(capsys):
    with pytest.raises(SystemExit) as e:
        main(["yolov8.yaml", "--attn", "Foo"])
    assert e.value.code == 2 and "invalid choice: 'Foo'" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["yolov8.yaml", "--at", "neck", "--after", "4"])
    assert "not allowed with argument" in capsys.readouterr().err


def test_cli_is_reachable_through_ca_yolo(tmp_path, capsys):
    from ca_yolo.cli import main as ca_yolo_main

    out = tmp_path / "yolov8-cbam.yaml"
    assert ca_yolo_main(["yaml", "yolov8.yaml", "--attn", "CBAM", "-o", str(out)]) == 0
    assert out.read_text() == render_shipped("yolov8-cbam.yaml")
