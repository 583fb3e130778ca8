"""Model YAMLs written the way published CA/SE/CBAM/ECA YAMLs are.

The YAMLs (``model_yamls.py``) are our own, one per form seen in public repositories: other layer names (CA,
CoordAttention, SEAttention, ...), the paper's (inp, oup[, r]) args, nominal or real channel counts,
a count that does not match a Concat, settings only. Each builds at real scales; the rule in
``ca_yolo.plugin.yaml_rows`` decides every number, a channel mismatch warns once per row, and errors
that are the YAML's own are one line naming the row.
"""

from __future__ import annotations

import pytest
import torch
import yaml
from conftest import train_cli, ultralytics_log
from model_yamls import (
    CLS_ECA,
    CONCAT_NOMINAL,
    CONCAT_REAL_S,
    SCALES,
    SEG_SE,
    TEMPLATE,
    V5_MULTIPLES,
    YOLO11_P5_AND_NECK,
    YOLO12_P2,
)
from ultralytics.nn.tasks import ClassificationModel, DetectionModel, SegmentationModel

import ca_yolo  # noqa: F401  (registers the plugin)
from ca_yolo.nn.registry import get_layer, layer_aliases
from ca_yolo.plugin.yaml_rows import ModelYamlError, split_args

# TEMPLATE's attention rows and their real input channels per scale (max_channels 512 caps P5 at l).
ROWS = (10, 23, 24, 25, 26)
REAL_N = {10: 256, 23: 192, 24: 64, 25: 128, 26: 256}  # real input channels at scale n
REAL_S = {i: 2 * c for i, c in REAL_N.items()}
REAL_L = {10: 512, 23: 768, 24: 256, 25: 512, 26: 512}  # max_channels 512 caps P5
REAL = {"n": REAL_N, "s": REAL_S, "l": REAL_L}

# name -> the five attention rows (module, args) in ROWS order, as published YAMLs write them.
FORMS = {
    # The paper's CoordAtt(inp, oup): read as two channel counts, never (channels, reduction 256).
    "paper-inp-oup": [
        "CoordAttention, [1024, 1024]",
        "CA, [768, 768]",
        "CA, [256, 256]",
        "CA, [512, 512]",
        "CoordAtt, [1024, 1024]",
    ],
    # YOLO-fork style: nominal channels before width scaling; 256 on the Concat is the classic slip.
    "nominal-fork": ["CA, [1024]", "CA, [256]", "CA, [256]", "CA, [512]", "CA, [1024]"],
    # Real channel counts of scale n, as files made for one scale write them.
    "real-channels-n": [
        "CoordinateAttention, [256]",
        "CoordinateAttention, [192, 192]",
        "CoordinateAttention, [64]",
        "CoordinateAttention, [128]",
        "CoordinateAttention, [256]",
    ],
    # Siblings under their published names, with their settings.
    "siblings": [
        "SEAttention, [1024, 16]",
        "SELayer, [768, 4]",
        "CBAMBlock, [256]",
        "CBAM, [512, 7]",
        "ECAAttention, [1024]",
    ],
    # Settings only, no channel counts.
    "settings-only": ["CA, []", "SEAttention, [16]", "ECAAttention, [3]", "CBAM, [8, 3]", "CA, [16]"],
    # Every layer under a published name, one count ignoring the Concat before it (row 23): one warning.
    "mixed-one-mismatch": [
        "CA, [1024]",
        "CA, [256]",
        "SEAttention, [256, 16]",
        "CBAMBlock, [512]",
        "ECAAttention, [1024]",
    ],
    # A reduction above 32 only when spelled out as the third number.
    "explicit-reduction": ["CA, [1024, 1024, 64]", "CA, []", "CA, [256, 256, 16]", "CA, []", "CA, []"],
}


def write(tmp_path, form: str, name: str | None = None):
    rows = dict(zip(("r10", "r23", "r24", "r25", "r26"), FORMS[form]))
    path = tmp_path / (name or f"{form}.yaml")
    path.write_text(TEMPLATE.format(**rows))
    return path


def build(path, scale: str, caplog, verbose: bool = False) -> tuple[DetectionModel, list[str]]:
    """The model at ``scale`` and the log lines its build wrote."""
    d = yaml.safe_load(path.read_text())
    with ultralytics_log(caplog) as lines:
        model = DetectionModel({**d, "scale": scale}, verbose=verbose)
    return model, lines


def attention(model) -> dict[int, tuple]:
    """Row -> (class, c1, reduction, kernel size) of every attention row."""
    out = {}
    for i in ROWS:
        m = model.model[i]
        out[i] = (
            type(m).__name__,
            m.c1,
            getattr(m, "reduction", None),
            getattr(m, "kernel_size", getattr(m, "k_size", None)),
        )
    return out


def warnings_of(lines: list[str]) -> list[str]:
    return [s.removeprefix("WARNING ⚠️ ") for s in lines if "model YAML row" in s]


# --- the rule, number by number -------------------------------------------------------------------


@pytest.mark.parametrize(
    "args, settings, channels, given",
    [
        ([], ("reduction",), [], {}),
        ([16], ("reduction",), [], {"reduction": 16}),
        ([32], ("reduction",), [], {"reduction": 32}),
        ([64], ("reduction",), [64], {}),  # > 32: a channel count, never a reduction
        ([1024, 16], ("reduction",), [1024], {"reduction": 16}),
        ([256, 256], ("reduction",), [256, 256], {}),  # (inp, oup), not reduction 256
        ([512, 64], ("reduction",), [512, 64], {}),  # second > 32: still channels
        ([32, 32], ("reduction",), [32, 32], {}),  # equal pair: (inp, oup) even when small
        ([256, 256, 64], ("reduction",), [256, 256], {"reduction": 64}),  # a third number: the reduction
        ([256, 7], ("reduction", "kernel_size"), [256], {"kernel_size": 7}),  # Ultralytics' CBAM(c1, k)
        ([256, 16], ("reduction", "kernel_size"), [256], {"reduction": 16}),
        ([256, 16, 3], ("reduction", "kernel_size"), [256], {"reduction": 16, "kernel_size": 3}),
        ([16, 49], ("reduction", "kernel_size"), [], {"reduction": 16, "kernel_size": 49}),  # CBAMBlock's defaults
        ([3], ("k_size",), [], {"k_size": 3}),
        ([512], ("k_size",), [512], {}),
    ],
)
def test_row_rule(args, settings, channels, given):
    assert split_args(args, settings) == (channels, given)


# --- published forms build at their scales ---------------------------------------------------------


def all_coordatt(scale: str) -> dict[int, tuple]:
    """:func:`attention` of TEMPLATE at ``scale`` when every row builds as CoordAtt with reduction 32."""
    return {i: ("CoordAtt", REAL[scale][i], 32, None) for i in ROWS}


def test_paper_inp_oup_form_keeps_reduction_32_at_every_scale(tmp_path, caplog):
    path = write(tmp_path, "paper-inp-oup")
    for scale in "nsl":
        model, lines = build(path, scale, caplog)
        assert attention(model) == all_coordatt(scale), scale
        assert all(model.model[i].mip == max(8, REAL[scale][i] // 32) for i in ROWS)
        assert warnings_of(lines) == []


# (form, scale) -> the warnings of its first build: a count that fits the row's input at no scale warns,
# one line per row. In this order: a YAML built again at the same scale does not warn again.
CHANNEL_WARNINGS = {
    # The Concat row's nominal-fork count ignores the Concat: the one line.
    ("nominal-fork", "n"): [
        "model YAML row 23 (CA): written channels 256 (64 at scale 'n'), real input 192 (nominal 768); "
        "built with 192 (an attention layer keeps its input's channels)"
    ],
    # Real channels written for n: silent at n, one line per row at s.
    ("real-channels-n", "n"): [],
    ("real-channels-n", "s"): [
        "model YAML row 10 (CoordinateAttention): written channels 256 (128 at scale 's'), real input 512 "
        "(nominal 1024); built with 512 (an attention layer keeps its input's channels)",
        "model YAML row 23 (CoordinateAttention): written channels 192, 192 (96, 96 at scale 's'), real input 384 "
        "(nominal 768); built with 384 (an attention layer keeps its input's channels)",
        "model YAML row 24 (CoordinateAttention): written channels 64 (32 at scale 's'), real input 128 "
        "(nominal 256); built with 128 (an attention layer keeps its input's channels)",
        "model YAML row 25 (CoordinateAttention): written channels 128 (64 at scale 's'), real input 256 "
        "(nominal 512); built with 256 (an attention layer keeps its input's channels)",
        "model YAML row 26 (CoordinateAttention): written channels 256 (128 at scale 's'), real input 512 "
        "(nominal 1024); built with 512 (an attention layer keeps its input's channels)",
    ],
}


@pytest.mark.parametrize("form, scale", list(CHANNEL_WARNINGS))
def test_written_channel_counts_build_real_channels_and_warn_per_row_that_fits_none(form, scale, tmp_path, caplog):
    model, lines = build(write(tmp_path, form), scale, caplog)
    assert attention(model) == all_coordatt(scale)
    assert warnings_of(lines) == CHANNEL_WARNINGS[form, scale]


def test_nominal_fork_form_warns_once(tmp_path, caplog):
    path = write(tmp_path, "nominal-fork")
    build(path, "n", caplog)
    model, lines = build(path, "n", caplog)  # Ultralytics rebuilds a model several times per run
    assert warnings_of(lines) == []
    model.eval()(torch.zeros(1, 3, 64, 64))


# form -> :func:`attention` of its build at n, where rows give settings (published names or not).
SETTINGS = {
    "siblings": {  # the siblings under their published names
        10: ("SE", 256, 16, None),
        23: ("SE", 192, 4, None),
        24: ("CBAM", 64, 16, 7),
        25: ("CBAM", 128, 16, 7),  # [512, 7]: the kernel size, Ultralytics' CBAM(c1, kernel_size) order
        26: ("ECA", 256, None, 5),  # adaptive kernel psi(256)
    },
    "settings-only": {
        10: ("CoordAtt", 256, 32, None),
        23: ("SE", 192, 16, None),
        24: ("ECA", 64, None, 3),
        25: ("CBAM", 128, 8, 3),
        26: ("CoordAtt", 256, 16, None),
    },
}


@pytest.mark.parametrize("form", list(SETTINGS))
def test_rows_get_their_settings_silently(form, tmp_path, caplog):
    model, lines = build(write(tmp_path, form), "n", caplog)
    assert attention(model) == SETTINGS[form]
    assert warnings_of(lines) == []
    model.eval()(torch.zeros(1, 3, 64, 64))


def test_reduction_above_32_only_from_a_third_number(tmp_path, caplog):
    model, _ = build(write(tmp_path, "explicit-reduction"), "l", caplog)
    assert attention(model)[10] == ("CoordAtt", 512, 64, None)
    assert attention(model)[24] == ("CoordAtt", 256, 16, None)
    for form in FORMS:  # no other form gets one, at any scale
        for scale in "ns":
            if form != "explicit-reduction":
                model, _ = build(write(tmp_path, form), scale, caplog)
                assert all((r or 0) <= 32 for _, _, r, _ in attention(model).values()), (form, scale)


def test_layer_table_shows_the_class_built_for_an_alias(tmp_path, caplog):
    _, lines = build(write(tmp_path, "siblings"), "n", caplog, verbose=True)
    table = {int(s.split()[0]): s for s in lines if s.strip() and s.split()[0].isdigit()}
    assert "ca_yolo.nn.se.SE " in table[10] and table[10].rstrip().endswith("[256, 16]")
    assert "ca_yolo.nn.cbam.CBAM " in table[25] and table[25].rstrip().endswith("[128, 16, 7]")
    assert "ca_yolo.nn.eca.ECA " in table[26] and table[26].rstrip().endswith("[256]")


def test_aliases_resolve_and_shadow_no_ultralytics_name():
    import ultralytics.nn.tasks as tasks

    expected = {
        "CA": "CoordAtt",
        "CoordAttention": "CoordAtt",
        "CoordinateAttention": "CoordAtt",
        "CA_Block": "CoordAtt",
        "SEAttention": "SE",
        "SE_Block": "SE",
        "SEBlock": "SE",
        "se_block": "SE",
        "SELayer": "SE",
        "CBAMBlock": "CBAM",
        "CBAM_Block": "CBAM",
        "cbam_block": "CBAM",
        "ECAAttention": "ECA",
        "eca_layer": "ECA",
        "eca_block": "ECA",
    }
    assert layer_aliases() == expected
    for alias, name in expected.items():
        assert get_layer(alias).cls is get_layer(name).cls
        assert not hasattr(tasks, alias), f"{alias} would shadow an Ultralytics name"


# --- other published layouts: v5-style multiples, YOLO11/12 heads, P2, cls/seg, Concat counts ------

# name -> (model class, YAML text (model_yamls), expected attention rows {scale: {row: (class, c1, r or k)}}).
LAYOUTS = {
    "v5-multiples": (DetectionModel, V5_MULTIPLES, {"": {7: ("SE", 256, 2), 11: ("CBAM", 512, 16)}}),
    "yolo11-p5-and-neck": (
        DetectionModel,
        YOLO11_P5_AND_NECK,
        {
            "n": {9: ("CoordAtt", 256, 32), 24: ("CoordAtt", 256, 32)},
            "x": {9: ("CoordAtt", 768, 32), 24: ("CoordAtt", 768, 32)},
        },
    ),
    "yolo12-p2": (DetectionModel, YOLO12_P2, {"l": {24: ("CoordAtt", 256, 32), 27: ("CoordAtt", 512, 32)}}),
    "cls-eca": (ClassificationModel, CLS_ECA, {"n": {9: ("ECA", 256, 5)}}),
    "seg-se": (SegmentationModel, SEG_SE, {"n": {22: ("SE", 64, 16)}}),
    "concat-real-s": (DetectionModel, CONCAT_REAL_S, {"s": {12: ("ECA", 768, 5), 16: ("ECA", 384, 5)}}),
    "concat-nominal": (DetectionModel, CONCAT_NOMINAL, {"x": {12: ("CoordAtt", 1280, 32), 16: ("SE", 960, 16)}}),
}
# Rows that warn, by layout and scale (every other build is silent).
LAYOUT_WARNINGS = {("concat-real-s", scale): [12, 16] for scale in "nmlx"}


def _layout_scales(text: str) -> list[str]:
    return list(yaml.safe_load(text).get("scales") or [""])


def _attention_rows(model) -> dict[int, tuple]:
    return {
        i: (type(m).__name__, m.c1, getattr(m, "reduction", getattr(m, "k_size", None)))
        for i, m in enumerate(model.model)
        if get_layer(type(m).__name__) is not None
    }


def _input_channels(model, rows) -> dict[int, int]:
    """Channels each attention row really receives in a forward pass (a 64 px image)."""
    seen: dict[int, int] = {}

    def hook(m, x):
        seen[m.i] = x[0].shape[1]

    hooks = [m.register_forward_pre_hook(hook) for i, m in enumerate(model.model) if i in rows]
    try:
        model.eval()(torch.zeros(1, 3, 64, 64))
    finally:
        for h in hooks:
            h.remove()
    return seen


@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_published_layouts_build_and_run_at_every_declared_scale(layout, caplog):
    cls, text, expected = LAYOUTS[layout]
    d = yaml.safe_load(text)
    for scale in _layout_scales(text):
        with ultralytics_log(caplog) as lines:
            model = cls({**d, "scale": scale} if scale else d, verbose=False)
        rows = _attention_rows(model)
        assert rows, layout
        for i, want in expected.get(scale, {}).items():
            assert rows[i] == want, (layout, scale, i)
        for name, _, r in rows.values():  # no reduction above 32: none of these rows spells one out
            assert name == "ECA" or r <= 32, (layout, scale, rows)
        seen = _input_channels(model, rows)
        assert seen == {i: m.c1 for i, m in enumerate(model.model) if i in rows}, (layout, scale)
        warned = sorted(int(w.split()[3]) for w in warnings_of(lines))
        assert warned == LAYOUT_WARNINGS.get((layout, scale), []), (layout, scale)


def test_concat_counts_written_for_another_scale_name_the_nominal_count(caplog):
    d = yaml.safe_load(CONCAT_REAL_S.replace("ECA, [", "eca_layer, ["))  # the ECA authors' class name
    for scale, expected in (("n", 2), ("n", 0), ("s", 0)):  # once per row and model: not on a rebuild
        with ultralytics_log(caplog) as logged:
            DetectionModel({**d, "scale": scale}, verbose=False)
        lines = warnings_of(logged)
        assert len(lines) == expected, (scale, lines)
        if scale == "n" and expected:
            assert lines == [
                "model YAML row 12 (eca_layer): written channels 768 (192 at scale 'n'), real input 384 "
                "(nominal 1536); built with 384 (an attention layer keeps its input's channels)",
                "model YAML row 16 (eca_layer): written channels 384 (96 at scale 'n'), real input 192 "
                "(nominal 768); built with 192 (an attention layer keeps its input's channels)",
            ]


# --- errors that are the YAML's own ----------------------------------------------------------------


def _error(path) -> str:
    with pytest.raises(ModelYamlError) as e:
        DetectionModel(str(path), verbose=False)
    return str(e.value)


def test_unknown_module_is_one_line_with_suggestions(tmp_path):
    path = tmp_path / "ema-n.yaml"
    path.write_text(
        TEMPLATE.format(r10="CA, []", r23="CA, []", r24="CA, []", r25="CA, []", r26="CA, []").replace(
            "SPPF, [1024, 5]", "SPPF_EMA, [1024, 5]"
        )
    )
    assert _error(path) == (
        "model YAML row 9: unknown module 'SPPF_EMA' (not in Ultralytics or ca-yolo; did you mean SPPF?)"
    )
    path.write_text(path.read_text().replace("SPPF_EMA", "SPPF").replace("[-1, 1, CA, []]", "[-1, 1, coordatt, []]"))
    assert _error(path) == (
        "model YAML row 10: unknown module 'coordatt' (not in Ultralytics or ca-yolo; did you mean CoordAtt, "
        "CoordAttW, CoordAttH?)"
    )


def test_yaml_without_attention_gets_the_same_unknown_module_line(tmp_path):
    path = tmp_path / "plain-n.yaml"
    path.write_text(
        TEMPLATE.format(
            r10="Conv, [1024, 1, 1]",
            r23="Conv, [768, 1, 1]",
            r24="Conv, [256, 1, 1]",
            r25="Conv, [512, 1, 1]",
            r26="GAMAttention, [1024]",
        )
    )
    assert _error(path) == (  # suggestions are close names (difflib), not claims of equivalence
        "model YAML row 26: unknown module 'GAMAttention' (not in Ultralytics or ca-yolo; did you mean ECAAttention, "
        "SEAttention?)"
    )
    path.write_text(path.read_text().replace("GAMAttention", "BiFormerBlock"))
    assert _error(path) == "model YAML row 26: unknown module 'BiFormerBlock' (not in Ultralytics or ca-yolo)"


def test_activation_names_of_the_paper_code_point_to_torch(tmp_path):
    path = tmp_path / "hswish-n.yaml"  # the CA paper's code defines h_swish/h_sigmoid; torch.nn has them
    path.write_text(
        TEMPLATE.format(r10="CA, []", r23="CA, []", r24="CA, []", r25="CA, []", r26="CA, []").replace(
            "[-1, 1, CA, []]", "[-1, 1, h_swish, []]", 1
        )
    )
    assert _error(path) == (
        "model YAML row 10: unknown module 'h_swish' (not in Ultralytics or ca-yolo; did you mean nn.Hardswish?)"
    )
    path.write_text(path.read_text().replace("h_swish", "nn.Hardswish"))
    DetectionModel(str(path), verbose=False)


def test_a_scale_the_yaml_does_not_declare_is_one_line(tmp_path, monkeypatch):
    from ultralytics import YOLO

    (tmp_path / "yolov8-mscale.yaml").write_text(CONCAT_NOMINAL.replace(SCALES, "scales:\n  m: [0.67, 0.75, 768]"))
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ModelYamlError) as e:
        YOLO("yolov8n-mscale.yaml")  # the scale letter n, but the file declares only m
    assert str(e.value) == (
        "model YAML yolov8n-mscale.yaml: scale 'n' (the letter in the model name) is not one of its scales (m); "
        "name one of those, e.g. yolov8m-mscale.yaml"
    )
    assert _attention_rows(YOLO("yolov8m-mscale.yaml").model)[12] == ("CoordAtt", 960, 32)


@pytest.mark.parametrize("attention", ["CA, [256, 256]", "Conv, [256, 1, 1]"], ids=["with-ca", "without-ca"])
def test_legacy_yolov5_detect_row_names_row_and_module(tmp_path, attention):
    text = TEMPLATE.format(r10="CA, []", r23="CA, []", r24=attention, r25="CA, []", r26="CA, []")
    text = text.replace("Detect, [nc]", "Detect, [nc, anchors]") + "anchors:\n  - [10,13, 16,30, 33,23]\n"
    path = tmp_path / "v5-n.yaml"
    path.write_text(text)
    assert _error(path) == (
        "model YAML row 27 (Detect): its args [nc, anchors] do not fit Ultralytics' Detect (TypeError: "
        "Detect.__init__() takes from 1 to 5 positional arguments but 6 were given); 'anchors' is a YOLOv5 "
        "anchor-based head, Ultralytics 8+ heads are anchor-free: write [nc]"
    )


@pytest.mark.parametrize(
    "row, message",
    [
        (
            "CA, [1.5]",
            "model YAML row 10 (CA): args [1.5] fit none of the forms [], [r], [C, r], [inp, oup, r] "
            "(trailing numbers optional): only positive integers",
        ),
        (
            "CA, [16, 8]",
            "model YAML row 10 (CA): args [16, 8] fit none of the forms [], [r], [C, r], [inp, oup, r] "
            "(trailing numbers optional): 2 settings after 0 channel counts, at most 1",
        ),
        (
            "CBAMBlock, [256, 16, 7, 1]",
            "model YAML row 10 (CBAMBlock): args [256, 16, 7, 1] fit none of the forms "
            "[], [r, k], [C, r, k], [inp, oup, r, k] (trailing numbers optional): "
            "3 settings after 1 channel counts, at most 2",
        ),
        (
            "ECAAttention, [4]",
            "model YAML row 10 (ECAAttention): its args [4] do not fit ca-yolo's ECA "
            "(ValueError: ECA k_size must be a positive odd number, got 4)",
        ),
    ],
)
def test_bad_attention_args_are_one_line(tmp_path, row, message):
    path = tmp_path / "bad-n.yaml"
    path.write_text(TEMPLATE.format(r10=row, r23="CA, []", r24="CA, []", r25="CA, []", r26="CA, []"))
    assert _error(path) == message


# --- name resolution: the user's file first, then the shipped ones --------------------------------


def _load(name: str, caplog):
    from ultralytics import YOLO

    with ultralytics_log(caplog) as lines:
        model = YOLO(name).model
    return model, [s for s in lines if s.startswith("model YAML ")]


def test_local_yaml_wins_over_the_shipped_one_and_the_file_used_is_logged(tmp_path, monkeypatch, caplog):
    from ca_yolo.cfg import MODELS_DIR

    monkeypatch.chdir(tmp_path)
    model, lines = _load("yolov8n-ca.yaml", caplog)  # no local file: the shipped one (6 CA rows)
    assert sum(type(m).__name__ == "CoordAtt" for m in model.modules()) == 6
    assert lines == [f"model YAML yolov8n-ca.yaml: using {MODELS_DIR / 'yolov8-ca.yaml'} (shipped with ca-yolo)"]

    write(tmp_path, "nominal-fork", name="yolov8-ca.yaml")  # the user's own file of the same name
    model, lines = _load("yolov8n-ca.yaml", caplog)
    assert sum(type(m).__name__ == "CoordAtt" for m in model.modules()) == 5
    assert model.yaml["scale"] == "n"
    assert lines == [f"model YAML yolov8n-ca.yaml: using {tmp_path / 'yolov8-ca.yaml'} (working directory)"]

    model, lines = _load("yolov8-ca.yaml", caplog)  # the exact name, as a file: nothing to say
    assert sum(type(m).__name__ == "CoordAtt" for m in model.modules()) == 5 and lines == []


def test_shipped_yaml_found_when_its_folder_path_has_a_digit_and_a_scale_letter(tmp_path, monkeypatch, caplog):
    """Ultralytics strips the first '<digits><n|s|m|l|x>' of the *whole* path to find a scale-less file, so a
    package installed under e.g. /tmp/tmp.ch7mAiAiqZ (or /opt/env3s) had its shipped YAMLs looked up in a folder
    that does not exist. The shipped file is loaded by its own path and the scale read from the given name."""
    from ca_yolo.plugin import cfg_models

    models_dir = tmp_path / "tmp.ch7mAiAiqZ" / "models"
    models_dir.mkdir(parents=True)
    (models_dir / "yolov8-ca.yaml").write_text((cfg_models.MODELS_DIR / "yolov8-ca.yaml").read_text())
    monkeypatch.setattr(cfg_models, "MODELS_DIR", models_dir)
    monkeypatch.chdir(tmp_path)
    model, lines = _load("yolov8s-ca.yaml", caplog)
    assert model.yaml["scale"] == "s" and model.yaml["yaml_file"] == "yolov8s-ca.yaml"
    assert sum(type(m).__name__ == "CoordAtt" for m in model.modules()) == 6
    assert model.model[0].conv.out_channels == 32  # scale s: 64 x 0.5
    assert lines == [f"model YAML yolov8s-ca.yaml: using {models_dir / 'yolov8-ca.yaml'} (shipped with ca-yolo)"]


# --- one epoch from the command line ---------------------------------------------------------------


@pytest.mark.slow
def test_ca_yolo_train_one_epoch_warns_once(tmp_path, tiny_data):
    # Every layer under a published name; row 23's count ignores its Concat. Ultralytics builds the model
    # several times in a run (model, trainer, EMA, validator): the warning is one line all the same.
    path = write(tmp_path, "mixed-one-mismatch", name="yolov8n-mixed.yaml")
    r = train_cli(path, tiny_data, tmp_path / "runs", "t")
    assert r.returncode == 0, r.stderr[-2000:]
    assert (tmp_path / "runs" / "t" / "weights" / "last.pt").is_file()
    out = r.stdout + r.stderr
    assert out.count("model YAML row") == 1, out[-3000:]
    assert "model YAML row 23 (CA): written channels 256 (64 at scale 'n'), real input 192 (nominal 768)" in out
