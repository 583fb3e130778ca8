"""report.md's analysis sections: TIDE errors, per-class movers, val-set bootstrap, the two figures."""

from __future__ import annotations

from ca_yolo.compare.analysis import TIDE_ERRORS
from ca_yolo.compare.classes import most_moved

FIGURES = {"per_class": "per_class_ap.png", "speed": "speed_accuracy.png"}


def _pm(entry: dict) -> str:
    """``mean ± std`` in AP points (x100), ``–`` when undefined."""
    if entry["mean"] is None:
        return "–"
    return f"{entry['mean'] * 100:.2f}" + ("" if entry["std"] is None else f" ± {entry['std'] * 100:.2f}")


def tide_section(results: dict) -> list[str]:
    """The TIDE table: per model mean ± std of each error's dAP50, then each model's paired difference."""
    tide = results.get("tide")
    if not tide:
        return []
    n = len(results["seeds"])
    lines = ["## Where the errors are (TIDE)", "",
             f"dAP50 in AP points (x100) gained by fixing each error type alone; mean ± std over {n} seed(s). "
             "Main errors: Cls (right box, wrong class), Loc (right class, IoU 0.1-0.5), Both, Dupe (duplicate), "
             "Bkg (background), Missed; special: FalsePos (all false positives removed), FalseNeg (all missed "
             "objects removed). Bolya et al., ECCV 2020, computed on the evaluation pass's detections.", "",
             "| model | " + " | ".join(TIDE_ERRORS) + " |", "|---|" + "---:|" * len(TIDE_ERRORS)]  # fmt: skip
    for m in results["models"]:
        row = tide["models"].get(m["name"], {})
        lines.append(f"| {m['name']} | " + " | ".join(_pm(row[e]) if e in row else "–" for e in TIDE_ERRORS) + " |")
    for m in results["models"]:
        diffs = {d["error"]: d for d in tide["differences"] if d["model"] == m["name"]}
        if diffs:
            cells = " | ".join(f"{diffs[e]['mean'] * 100:+.2f}" if e in diffs else "–" for e in TIDE_ERRORS)
            lines.append(f"| {m['name']} − {results['baseline']} (paired) | {cells} |")
    lines += ["", "A negative paired difference means the model loses less AP to that error than the baseline."]
    return lines


def per_class_section(results: dict) -> list[str]:
    """The per-class figure and, per model, the classes that gained and lost most AP."""
    if not results.get("per_class", {}).get("differences"):
        return []
    lines = ["## Per-class AP", "", f"![per-class AP difference]({FIGURES['per_class']})", ""]
    for m in results["models"]:
        if m["name"] == results["baseline"]:
            continue
        gains, losses = most_moved(results["per_class"], m["name"], "AP")

        def fmt(ds):
            return ", ".join(f"{d['class']} ({d['mean']:+.4f})" for d in ds) or "none"

        lines.append(f"- {m['name']}: largest gains {fmt(gains)}; largest losses {fmt(losses)} (AP, mean paired "
                     "difference over seeds).")  # fmt: skip
    return lines


def bootstrap_section(results: dict) -> list[str]:
    """Whether each headline difference exceeds val-set sampling noise, and which noise dominates."""
    rows = results.get("bootstrap") or []
    if not rows:
        return []
    lines = ["## Seed noise and val-set noise", "",
             "| model | metric | difference | val bootstrap 95% interval | exceeds val noise | seed s.e. | "
             "val s.e. | dominant noise |", "|---|---|---:|---|---|---:|---:|---|"]  # fmt: skip
    for b in rows:
        seed_se = "–" if b["seed_se"] is None else f"{b['seed_se']:.4f}"
        interval = f"[{b['ci_low']:+.4f}, {b['ci_high']:+.4f}]"
        exceeds = "yes" if b["exceeds"] else "no"
        lines.append(f"| {b['model']} | {b['metric']} | {b['mean']:+.4f} | {interval} | {exceeds} | {seed_se} "
                     f"| {b['se']:.4f} | {b['dominant']} |")  # fmt: skip
    lines += ["", f"Paired bootstrap over val images ({rows[0]['n_boot']} resamples, seed {rows[0]['seed']}): each "
              "resample draws the val images with replacement and scores both models' fixed detections on it, so "
              "its spread is the val set's sampling noise alone. Seed s.e. = std of the per-seed differences / "
              "sqrt(seeds): the training noise. The larger of the two limits what this comparison can "
              "resolve."]  # fmt: skip
    return lines


def speed_section() -> list[str]:
    """The speed-accuracy figure."""
    return ["## Speed and accuracy", "", f"![speed against accuracy]({FIGURES['speed']})", ""]


def analysis_markdown(results: dict) -> list[str]:
    """Every analysis section, in report order (empty for results without analysis)."""
    if "tide" not in results:
        return []
    out = []
    for part in (tide_section(results), bootstrap_section(results), per_class_section(results), speed_section()):
        out += [*part, ""]
    return out
