"""The self-contained HTML report: figures embedded as base64 PNGs, numbers in tables, no external resources."""

from __future__ import annotations

import base64
import html
import json
from pathlib import Path

from galaxy_explorer.atomic import atomic_path

STYLE = """
body { font-family: system-ui, sans-serif; max-width: 1180px; margin: 2em auto; padding: 0 1em; color: #222; }
h1 { margin-bottom: 0.2em; } h2 { margin-top: 1.8em; border-bottom: 1px solid #ddd; }
.note { background: #fff4e5; border-left: 4px solid #e66100; padding: 0.6em 1em; }
figure { margin: 1em 0; } figure img { max-width: 100%; } figcaption { color: #555; font-size: 0.9em; }
table { border-collapse: collapse; font-size: 0.85em; margin: 0.5em 0; }
td, th { border: 1px solid #ddd; padding: 3px 8px; text-align: right; } th { background: #f4f4f4; }
td:first-child, th:first-child { text-align: left; }
.pass { color: #1a7f37; font-weight: bold; } .fail { color: #c62828; font-weight: bold; }
"""


class _Markup(str):
    """Text that is already HTML (a verdict's span): tables put it in as it is, unescaped."""


def _fmt(value, digits: int = 4) -> str:
    if isinstance(value, _Markup):
        return value
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.{digits}g}"
    return html.escape(str(value))


def _table(header: list[str], rows: list[list]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{_fmt(v)}</td>" for v in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _figure(figure_id: str, caption: str, png: bytes) -> str:
    data = base64.b64encode(png).decode("ascii")
    return (f'<figure id="{figure_id}"><img alt="{html.escape(caption)}" src="data:image/png;base64,{data}">'
            f"<figcaption>{html.escape(caption)}</figcaption></figure>")


def _verdict(passes) -> str:
    if passes is None:
        return "–"
    return _Markup('<span class="pass">pass</span>' if passes else '<span class="fail">fail</span>')


CHECK_LABELS = {
    "binned_means": "per-bin means (ellipticity, semi-major axis, isophotal area, half-light radius): share of "
                    "(metric, Δz = 0.2 bin) cells with the mean inside the two-sample interval",
    "redshift_cnn": "redshift CNN on generated galaxies: worst of |bias| / limit, σ_NMAD ratio / limit, "
                    "outlier excess / limit",
    "sizes": "median size per bin against the survey's: worst |deviation| / tolerance",
    "colours": "median aperture colours g−r, r−i, i−z, z−y per bin: worst |deviation| / tolerance",
    "grain": "grain (rms of pixel − 3×3 median, detection band) at 5–20 and 20–100 sky σ per bin, generated over "
             "survey: worst |ln ratio| / tolerance",
    "range_ends": "ends of the redshift range (z < 0.1, 2.5 < z < 3.5; every survey galaxy there): median size and "
                  "central concentration, worst |deviation| / tolerance",
}


def _quality_section(quality: dict, guidance: dict | None) -> str:
    """The checks, each with its real-vs-real value and pass rate (how often a perfect model passes)."""
    rows = []
    for name, check in quality["checks"].items():
        required = f"≥ {check['threshold']}" if name == "binned_means" else "≤ 1"
        rows.append([CHECK_LABELS.get(name, name), _fmt(check["value_generated"]), _fmt(check["value_real_vs_real"]),
                     f"{check['real_vs_real_pass_rate']:.0%}", required, _verdict(check["passes"])])
    calibration = quality["calibration"]
    parts = ["<h2>Quality checks (z < 2, and the ends of the redshift range)</h2>",
             "<p>" + html.escape(
                 f"Generated galaxies are compared with {calibration['reference_n']} survey galaxies; the same "
                 f"comparison of a second, disjoint set of {calibration['other_real_n']} survey galaxies with them "
                 "('real vs real') is what a perfect model would score. Pass rate: the share of "
                 f"{calibration['resplits']} fresh random real-vs-real splits that pass. "
                 + calibration["description"]) + "</p>",
             _table(["check", "generated", "real vs real", "real-vs-real pass rate", "required", ""], rows)]
    cnn = quality["checks"]["redshift_cnn"]
    parts.append(_table(["redshift CNN, z < 2", "|bias|", "σ_NMAD ratio", "outlier fraction", "limits"],
                        [[label, cnn[key]["abs_bias"], cnn[key]["sigma_nmad_ratio"], cnn[key]["outlier_fraction"],
                          ", ".join(f"{k} ≤ {_fmt(v)}" for k, v in cnn["limits"].items()) if key == "generated"
                          else ""] for label, key in (("generated", "generated"), ("real vs real", "real_vs_real"))]))
    for name, table in [("sizes (relative)", quality["checks"]["sizes"])] + [
            (f"colour {colour} (mag)", t) for colour, t in quality["checks"]["colours"]["per_colour"].items()]:
        parts.append(f"<details><summary>{html.escape(name)} per bin</summary>" + _table(
            ["z bin", "n", "generated", "real vs real", "tolerance", "judged"],
            [[f"{b['z_low']:.1f}–{b['z_high']:.1f}", b["n"], b["generated"], b["real_vs_real"], b["tolerance"],
              "yes" if b["counted"] else "no (< 30)"] for b in table["bins"]]) + "</details>")
    if "grain" in quality["checks"]:
        parts.append(_grain_section(quality["checks"]["grain"]))
    if "range_ends" in quality["checks"]:
        parts.append(_range_ends_section(quality["checks"]["range_ends"]))
    for name, reason in quality.get("skipped", {}).items():
        parts.append("<p>" + html.escape(f"Not run: {name} ({reason}).") + "</p>")
    if guidance and len(guidance.get("sweep", [])) > 1:
        parts.append("<h3>Guidance sweep</h3>" + _table(
            ["guidance scale", "failed checks", "total badness"] + list(CHECK_LABELS),
            [[entry["guidance_scale"], entry["failed_checks"], entry["score"]]
             + [_fmt(entry["checks"][name]["value_generated"]) if name in entry["checks"] else "–"
                for name in CHECK_LABELS] for entry in guidance["sweep"]])
            + "<p>" + html.escape(f"Chosen: {guidance['chosen_scale']} ({guidance['rule']}).") + "</p>")
    return "\n".join(parts)


def _grain_section(grain: dict) -> str:
    """The grain check per brightness level and redshift bin, with the overall ratios."""
    overall = "; ".join(f"{level['low']:g}–{level['high']:g} sky σ: {_fmt(level['ratio'], 3)} (real vs real "
                        f"{_fmt(level['real_vs_real'], 3)})" for level in grain.get("overall", []))
    rows = [[f"{level['low']:g}–{level['high']:g}", f"{b['z_low']:.1f}–{b['z_high']:.1f}", b["n"], b["generated"],
             b["real_vs_real"], b["tolerance"], "yes" if b["counted"] else "no"]
            for level in grain["levels"] for b in level["bins"]]
    return ("<details><summary>" + html.escape(f"grain per bin (generated / survey; all galaxies at z < 2: "
                                                  f"{overall})") + "</summary>"
            + _table(["sky σ", "z bin", "n", "generated / survey", "real vs real", "tolerated ratio", "judged"],
                     rows) + "</details>")


def _range_ends_section(ends: dict) -> str:
    """Medians at the ends of the range, their deviations and tolerances, and what the check can detect."""
    rows = []
    for k, b in enumerate(ends["bins"]):
        size, concentration = b["size"], b["concentration"]
        power_size, power_c = ends["power"]["size"], ends["power"]["concentration"]
        rows.append([f"{b['z_low']:g}–{b['z_high']:g}", b["n_survey"], b["n_generated"],
                     f"{_fmt(size['survey_median'], 3)} / {_fmt(size['generated_median'], 3)}",
                     size["generated"], size["real_vs_real"], size["tolerance"],
                     f"≤ {_fmt(power_size['ratio_below'][k], 3)} or ≥ {_fmt(power_size['ratio_above'][k], 3)}",
                     f"{_fmt(concentration['survey_median'], 3)} / {_fmt(concentration['generated_median'], 3)}",
                     concentration["generated"], concentration["real_vs_real"], concentration["tolerance"],
                     f"± {_fmt(power_c['difference'][k], 3)}"])
    return ("<h3>Ends of the redshift range</h3><p>" + html.escape(
        "Every survey galaxy of the data file in each end bin, and generated galaxies at their redshifts. Size: "
        "the evaluation's size estimate (arcsec), deviation = median ratio − 1; concentration: detection-band flux "
        "within 3 px over within 10 px, deviation = difference of medians. Detected at 80%: the size ratio or "
        "concentration difference the check fails with 80% probability at these counts (its power).") + "</p>"
        + _table(["z", "n survey", "n generated", "size median (″) survey / generated", "size deviation",
                  "real vs real", "tolerance", "size ratio detected at 80%", "concentration survey / generated",
                  "difference", "real vs real", "tolerance", "detected at 80%"], rows))


def _diagnostics_section(diagnostics: dict) -> str:
    """Grain and colour spread against the survey: what explains a failing check (not checks themselves)."""
    noise = diagnostics["pixel_noise"]  # (JSON-safe: the open top level's bound is null)
    levels = [[f"≥ {level['low']:g}" if level["high"] is None else
               "sky (−1 to 1)" if level["low"] < 0 else f"{level['low']:g}–{level['high']:g}",
               level["real"], level["generated"], level["ratio"], level["real_vs_real"]] for level in noise["levels"]]
    colours = diagnostics["colour_scatter"]
    bin_labels = sorted({(b["z_low"], b["z_high"]) for bins in colours["bins"].values() for b in bins})
    spread_rows = []
    for name, bins in colours["bins"].items():
        by_bin = {(b["z_low"], b["z_high"]): b for b in bins}
        median = colours["median_ratio"][name]
        spread_rows.append([name] + [f"{_fmt(by_bin[k]['ratio'], 3)} ({_fmt(by_bin[k]['real_vs_real'], 3)})"
                                     if k in by_bin else "–" for k in bin_labels]
                           + [f"{_fmt(median['ratio'], 3)} ({_fmt(median['real_vs_real'], 3)})"])
    return "\n".join([
        "<h2>Diagnostics (not checks)</h2>",
        "<p>" + html.escape(
            f"Grain: the rms of (pixel − median of its 3×3 neighbourhood) in the {noise['band']} band, in sky sigmas "
            f"({_fmt(noise['sky_sigma'])}), at each brightness of the 3×3 median (in sky sigmas). The survey's grain "
            "is its sky and photon noise (and the profile's curvature in the brightest cores); a ratio above 1 "
            "inside the galaxies is grain the model adds (a speckled look). The redshift CNN barely reacts to it.")
        + "</p>",
        _table(["brightness (sky σ)", "survey", "generated", "generated / survey", "real vs real"], levels),
        "<p>" + html.escape(
            "Colour spread at fixed redshift: σ_NMAD of each aperture colour per Δz = 0.2 bin (≥ 30 galaxies in "
            "each set), generated over survey, real vs real in brackets. Colours carry most of a galaxy's "
            "redshift: a ratio well above 1 is a blurred colour–redshift relation, which widens the redshift "
            "CNN's scatter on the generated galaxies. The real-vs-real values show how far one bin strays by "
            "chance; the median over bins strays less.") + "</p>",
        _table(["colour"] + [f"{low:.1f}–{high:.1f}" for low, high in bin_labels] + ["median over bins"],
               spread_rows),
    ])


def _label_section(labels: dict) -> str:
    """Do the morphology labels act on the images (issue 13)? Each check with its real-vs-real calibration."""
    rows = []
    for name, check in labels["checks"].items():
        required = f"≥ {_fmt(check['threshold'])}" if check["kind"] == "ratio" else f"≤ {_fmt(check['threshold'])}"
        rows.append([check["description"], _fmt(check["statistic_survey"]), _fmt(check["statistic_generated"]),
                     _fmt(check["value_generated"]), _fmt(check["value_real_vs_real"]),
                     f"{check['real_vs_real_pass_rate']:.0%}", required, _verdict(check["passes"])])
    calibration = labels["calibration"]
    parts = [f"<h2>Morphology labels (z < {labels['z_max']:g})</h2>",
             "<p>" + html.escape(calibration["description"]) + "</p>",
             _table(["check", "survey", "generated", "generated vs survey", "real vs real",
                     "real-vs-real pass rate", "required", ""], rows)]
    for name, check in labels["checks"].items():
        if "binned_medians" in check:
            parts.append(f"<details><summary>{html.escape(name)}: medians per bulge-fraction bin</summary>" + _table(
                ["bulge fraction", "survey", "generated", "real vs real", "n survey", "n generated"],
                [[f"{b['bulge_low']:.1f}–{b['bulge_high']:.1f}", b["survey"], b["generated"], b["real_vs_real"],
                  b["n_survey"], b["n_generated"]] for b in check["binned_medians"]]) + "</details>")
    if labels.get("skipped"):
        parts.append("<p>Not run: " + html.escape("; ".join(f"{k} ({v})" for k, v in labels["skipped"].items()))
                     + ".</p>")
    return "\n".join(parts)


def render_html(metrics: dict, figures: dict[str, tuple[str, bytes]]) -> str:
    parts = [_header(metrics), _quality_section(metrics["quality_checks"], metrics.get("guidance"))]
    if metrics.get("diagnostics"):
        parts.append(_diagnostics_section(metrics["diagnostics"]))
    if metrics.get("label_checks"):
        parts.append(_label_section(metrics["label_checks"]))
    parts += _redshift_section(metrics["redshift_prediction"], figures)
    parts += _morphology_section(metrics, figures)
    parts.append("<h2>Galaxies at matched redshift</h2>")
    parts.append(_figure("fig-image-grid", *figures["fig-image-grid"]))
    if metrics.get("size_redshift"):
        parts += _size_section(metrics["size_redshift"], figures)
    if metrics.get("real_galaxies"):
        from galaxy_explorer.evaluation.real_galaxies import real_galaxies_section_html

        parts.append(real_galaxies_section_html(metrics["real_galaxies"], figures))
    parts.append("<h2>Run</h2><pre>" + html.escape(json.dumps(
        {k: v for k, v in metrics["config"].items() if k != "rows"}, indent=1)) + "\n" + html.escape(
        json.dumps(metrics.get("timings", {}), indent=1)) + "</pre>")
    parts.append("<p>Every number above is in metrics.json beside this file.</p></body></html>")
    return "\n".join(parts)


def _header(metrics: dict) -> str:
    config = metrics["config"]
    return "\n".join([
        f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>Galaxy Explorer evaluation"
        f"</title><style>{STYLE}</style></head><body>",
        "<h1>Galaxy Explorer: evaluation report</h1>",
        f"<p class='note'>{html.escape(metrics['note'])}</p>",
        "<p>" + html.escape(f"{metrics['n']} galaxies from {config['data']}; generated with "
                            f"{config['checkpoint']} ({config['sampler']}, {config['steps']} steps, "
                            f"{config['generation_seeds']}); morphology mode {metrics['mode']}, detection "
                            f"band {config['detection_band']}; redshift CNN {config['redshift_checkpoint']}.")
        + "</p>"])


def _redshift_section(prediction: dict, figures: dict) -> list[str]:
    parts = ["<h2>Redshift prediction</h2>"]
    keys = ("n", "bias", "sigma_nmad", "outlier_fraction", "mean_loss")
    parts.append(_table(["sample"] + list(keys), [[key] + [prediction[key]["overall"][k] for k in keys]
                                                 for key in ("real", "generated")]))
    for figure_id in ("fig-redshift-scatter", "fig-loss-vs-redshift"):
        parts.append(_figure(figure_id, *figures[figure_id]))
    bin_rows = []
    for real_bin, generated_bin in zip(prediction["real"]["bins"], prediction["generated"]["bins"]):
        bin_rows.append([f"{real_bin['z_low']:.1f}–{real_bin['z_high']:.1f}", real_bin["n"], real_bin["bias"],
                         generated_bin["bias"], real_bin["sigma_nmad"], generated_bin["sigma_nmad"],
                         real_bin["outlier_fraction"], generated_bin["outlier_fraction"], real_bin["mean_loss"],
                         generated_bin["mean_loss"]])
    parts.append(_table(["z bin", "n", "bias real", "bias gen.", "σ_NMAD real", "σ_NMAD gen.", "outliers real",
                         "outliers gen.", "loss real", "loss gen."], bin_rows))
    return parts


def _morphology_section(metrics: dict, figures: dict) -> list[str]:
    parts = ["<h2>Morphology</h2>"]
    detections = metrics["detections"]
    parts.append("<p>" + html.escape(
        f"No central detection: real {detections['real']['no_detection_fraction']:.1%}, generated "
        f"{detections['generated']['no_detection_fraction']:.1%} (left out of every statistic below).") + "</p>")
    morphology_rows = []
    for name, values in metrics["morphology"].items():
        morphology_rows.append([name, values["units"], values["real"]["n_valid"], values["real"]["mean"],
                                values["generated"]["n_valid"], values["generated"]["mean"],
                                values["overall"]["ks_statistic"], values["overall"]["ks_pvalue"],
                                values["overall"]["wasserstein"]])
    parts.append(_table(["metric", "units", "n real", "mean real", "n gen.", "mean gen.", "KS", "KS p-value",
                         "Wasserstein"], morphology_rows))
    for figure_id in ("fig-histograms", "fig-binned-means", "fig-distances"):
        parts.append(_figure(figure_id, *figures[figure_id]))
    parts.append("<details><summary>KS statistic and Wasserstein distance per redshift bin</summary>")
    for name, values in metrics["morphology"].items():
        parts.append(f"<h3>{html.escape(name)}</h3>" + _table(
            ["z bin", "n real", "n gen.", "KS", "Wasserstein", "mean real", "95% interval real", "mean gen."],
            [[f"{b['z_low']:.1f}–{b['z_high']:.1f}", b["n_real"], b["n_generated"], b["ks_statistic"],
              b["wasserstein"], r["mean"], f"{_fmt(r['ci_low'])} – {_fmt(r['ci_high'])}", g["mean"]]
             for b, r, g in zip(values["bins"], values["binned_means"]["real"],
                                values["binned_means"]["generated"])]))
    parts.append("</details>")
    return parts


def _size_section(relation: dict, figures: dict) -> list[str]:
    return [
        "<h2>Size–redshift relation</h2><p>" + html.escape(
            f"Size estimate: {relation['size_estimate']}. Truth: the synthetic survey's median semi-major r_e.")
        + "</p>",
        _figure("fig-size-redshift", *figures["fig-size-redshift"]),
        _table(["z bin", "true median (″)", "n real", "real median", "real dev.", "n gen.",
                "generated median", "generated dev."],
               [[f"{r['z_low']:.1f}–{r['z_high']:.1f}", r["true_median"], r["n"], r["median"],
                 r["relative_deviation"], g["n"], g["median"], g["relative_deviation"]]
                for r, g in zip(relation["real"], relation["generated"])]),
        "<p>" + html.escape(
            f"Bins with fewer than {relation['min_galaxies_per_bin']} measured galaxies are shown but not judged "
            "(their medians are too noisy).") + "</p>"]


def write_report(path: str | Path, metrics: dict, figures: dict[str, tuple[str, bytes]]) -> Path:
    """Write the report atomically; ``metrics`` must already be JSON-safe (``json_output.json_safe``)."""
    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.write_text(render_html(metrics, figures), encoding="utf-8")
    return path
