"""``bench report``: every figure and table file exists and holds the right series, with values checked against
the synthetic run's known inputs, the published JSON files and closed-form BD-rates."""

import json
import re
import shutil
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from bench.cli import main
from bench.metrics.forms import ImageSet
from bench.report import ReportOptions, build_report
from bench.complexity.schema import SCHEMA as COMPLEXITY_SCHEMA
from bench.report.series import Series, file_slug
from tests.report_helpers import ALPHAS, QUALITIES, mpa_psnr, shared_run, task_top1, vtm_kodak

EXPECTED_FIGURES = {
    "rate-distortion_folder", "rate-distortion_kodak", "rate-perception_kodak", "rate-task_imagenet",
    "rate-task_ade20k", "alpha_kodak_mpa_mse", "alpha_imagenet_mpa-cls_cls", "alpha_ade20k_mpa-seg_seg",
    "visual_folder_img0",
}


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory, kodak_image):
    return shared_run(tmp_path_factory, kodak_image)


@pytest.fixture(scope="module")
def report(run_dir, tmp_path_factory):
    # PNG and SVG only, to keep the test fast; PDF output is tested on its own.
    return build_report(run_dir, tmp_path_factory.mktemp("report") / "out", ReportOptions(formats=("png", "svg")))


def figure(report, stem):
    found = [f for f in report.figures if f.files["csv"].stem == stem]
    assert found, f"no figure {stem}; have {[f.files['csv'].stem for f in report.figures]}"
    return found[0]


def test_every_expected_figure_is_written_in_every_format(report):
    stems = {f.files["csv"].stem for f in report.figures}
    assert stems == EXPECTED_FIGURES
    for entry in report.figures:
        expected = {"png", "csv"} | ({"svg"} if entry.section != "visual" else set())
        assert set(entry.files) == expected, entry.title
        with Image.open(entry.files["png"]) as image:
            assert image.size[0] > 300 and image.size[1] > 100


def test_pdf_figures_embed_their_text_as_truetype(tmp_path):
    from bench.report.plots import rate_quality_figure, save_figure
    from bench.report.series import Series

    points = pd.DataFrame({"bpp": [0.1, 0.2, 0.4], "psnr-rgb": [28.0, 30.0, 32.0]})
    figure, _, _ = rate_quality_figure([Series("codec-a", "kodak", points, key="a/default", codec="a")], [],
                                       ["psnr-rgb"], "t")
    files = save_figure(figure, tmp_path / "f", ("pdf", "svg", "png"))
    data = files["pdf"].read_bytes()
    assert data.startswith(b"%PDF") and b"/FontFile2" in data and b"/Type3" not in data


def test_svg_figures_name_each_series_in_legend_and_group_id(report):
    for entry in report.figures:
        if "svg" not in entry.files:
            continue
        text = entry.files["svg"].read_text()
        root = ElementTree.fromstring(text)  # well-formed XML
        ids = {element.get("id") for element in root.iter() if element.get("id")}
        for name in entry.series:
            assert f"series:{file_slug(name)}" in ids, (entry.title, name)
            assert name.replace("&", "&amp;") in text, (entry.title, name)  # legend text stays text


def test_rate_distortion_holds_run_and_published_series_with_their_values(report):
    entry = figure(report, "rate-distortion_kodak")
    data = pd.read_csv(entry.files["csv"])
    vtm = vtm_kodak()
    published = data[(data["series"] == "VTM (compressai, published)") & (data["panel"] == "psnr-rgb")]
    np.testing.assert_allclose(published["bpp"], sorted(vtm["bpp"]), rtol=1e-12)
    np.testing.assert_allclose(published["value"], [p for _, p in sorted(zip(vtm["bpp"], vtm["psnr-rgb"]))],
                               rtol=1e-12)
    tinylic = data[(data["series"] == "tinylic") & (data["panel"] == "psnr-rgb")]
    np.testing.assert_allclose(tinylic["bpp"], 0.9 * np.array(vtm["bpp"]), rtol=1e-6)
    np.testing.assert_allclose(tinylic["value"], vtm["psnr-rgb"], rtol=1e-12)
    msssim_db = data[(data["series"] == "tinylic") & (data["panel"] == "ms-ssim-db-rgb")]
    np.testing.assert_allclose(msssim_db["value"], -10 * np.log10(1 - np.array(vtm["ms-ssim-rgb"])), rtol=1e-12)
    for alpha in ALPHAS:
        name = f"mpa (alpha={alpha!r},task=mse)"
        rows = data[(data["series"] == name) & (data["panel"] == "psnr-rgb")]
        np.testing.assert_allclose(rows["value"], [mpa_psnr(q, alpha) for q in QUALITIES], rtol=1e-12)
    assert {"BPG 8b 444 x265 ycbcr (compressai, published)", "TinyLIC [tinylic-mse] (tinylic, published)",
            "TinyLIC [tinylic-ms-ssim] (tinylic, published)"} <= set(data["series"])
    # Published curves only where they have the metric: none has LPIPS.
    perception = pd.read_csv(figure(report, "rate-perception_kodak").files["csv"])
    assert not any(perception["source"] != "run")
    assert set(perception["panel"]) == {"lpips-alex", "fid-256"}


def test_published_curves_are_dashed_and_run_curves_solid(report):
    text = figure(report, "rate-distortion_kodak").files["svg"].read_text()
    groups = dict(re.findall(r'<g id="series:([^"]+)">\s*<path d="[^"]*"[^>]*style="([^"]*)"', text))
    assert "stroke-dasharray" in groups[file_slug("VTM (compressai, published)")]
    assert "stroke-dasharray" not in groups[file_slug("tinylic")]


def test_alpha_transition_has_one_line_per_quality_over_every_alpha(report):
    data = pd.read_csv(figure(report, "alpha_kodak_mpa_mse").files["csv"])
    psnr = data[data["panel"] == "psnr-rgb"]
    assert psnr["point"].nunique() == len(QUALITIES)
    for quality in QUALITIES:
        rows = psnr[psnr["point"] == quality].sort_values("alpha")
        np.testing.assert_allclose(rows["alpha"], ALPHAS)
        np.testing.assert_allclose(rows["value"], [mpa_psnr(quality, a) for a in ALPHAS], rtol=1e-12)
        assert rows["series"].iloc[0].startswith(f"q = {quality:g} (")
    task = pd.read_csv(figure(report, "alpha_imagenet_mpa-cls_cls").files["csv"])
    np.testing.assert_allclose(task[task["point"] == 2.0].sort_values("alpha")["value"],
                               [task_top1(2.0, 0.0), task_top1(2.0, 1.0)])


def test_bd_rate_table_against_published_vtm_matches_the_closed_form(report):
    table = next(t for t in report.tables if t.title == "BD-rate (%) on kodak")
    frame = pd.read_csv(table.files["csv"])
    tinylic = frame[(frame["series"] == "tinylic") & (frame["metric"] == "psnr-rgb")].iloc[0]
    assert tinylic["anchor"] == "compressai/kodak/vtm"
    assert tinylic["bd_rate_percent"] == pytest.approx(-10.0, abs=1e-4)  # 0.9 x the anchor's rate, same PSNR
    msssim = frame[(frame["series"] == "tinylic") & (frame["metric"] == "ms-ssim-db-rgb")].iloc[0]
    assert msssim["bd_rate_percent"] == pytest.approx(-10.0, abs=1e-4)
    # VTM has no LPIPS: that column falls back to a run curve (no jpeg on kodak: the first one, by name).
    assert set(frame[frame["metric"] == "lpips-alex"]["anchor"]) == {"mpa/alpha=0.0,task=mse"}
    broken = frame[(frame["series"] == "broken") & (frame["metric"] == "psnr-rgb")].iloc[0]
    assert np.isnan(broken["bd_rate_percent"]) and "not monotonic" in broken["note"]
    markdown = table.files["md"].read_text()
    assert "| broken | n/a (non-monotonic) |" in markdown
    assert re.search(r"\| tinylic \| -10\.00 \| -10\.00 \| [+-]\d+\.\d\d \| – \|", markdown), markdown
    assert "VTM (compressai, published) for psnr-rgb, ms-ssim-db-rgb" in markdown
    latex = table.files["tex"].read_text()
    for rule in ("\\toprule", "\\midrule", "\\bottomrule", "\\begin{tabular}{lrrrr}"):
        assert rule in latex
    assert "tinylic & $-10.00$ & $-10.00$ & $" in latex


def test_task_bd_rate_uses_the_run_jpeg_fallback_or_first_curve(report):
    table = next(t for t in report.tables if t.title == "BD-rate (%) on imagenet")
    frame = pd.read_csv(table.files["csv"])
    assert set(frame["metric"]) == {"top1"}
    assert set(frame["anchor"]) == {"mpa-cls/alpha=0.0,task=cls"}
    other = frame[frame["series"] == "mpa-cls (alpha=1.0,task=cls)"].iloc[0]
    assert np.isfinite(other["bd_rate_percent"]) and other["bd_rate_percent"] < 0  # higher top-1 at the same rate


def test_run_jpeg_is_the_anchor_without_published_curves(report):
    table = next(t for t in report.tables if t.title == "BD-rate (%) on folder")
    frame = pd.read_csv(table.files["csv"])
    assert set(frame["anchor"]) == {"jpeg/default"}
    assert "| jpeg | anchor | anchor |" in table.files["md"].read_text()


def test_visual_strip_decodes_stored_bitstreams_to_the_stored_psnr(report, run_dir):
    entry = figure(report, "visual_folder_img0")
    panels = pd.read_csv(entry.files["csv"])
    assert list(panels["panel"]) == ["Original", "jpeg", "webp"]
    rows = pd.read_csv(run_dir / "results.csv")
    for panel in panels.iloc[1:].itertuples():
        stored = rows[(rows["codec"] == panel.codec) & (rows["image_id"] == "img0") & (rows["point"] == panel.point)]
        assert panel.psnr == pytest.approx(float(stored["psnr-rgb"].iloc[0]), abs=1e-9)
        assert panel.bpp == pytest.approx(float(stored["bpp"].iloc[0]), rel=1e-12)
    # One target rate for every codec, stated in the title: by default the rate in the lower half of the codecs'
    # rates at which their closest points spread least (brute force over the candidates here).
    mine = rows[(rows["image_id"] == "img0") & rows["codec"].isin(["jpeg", "webp"])]
    rates = sorted(set(mine["bpp"]))

    def closest(codec, target):
        own = mine[mine["codec"] == codec]
        return own.iloc[int(np.argmin(np.abs(np.log(own["bpp"]) - np.log(target))))]

    def spread(target):  # ties (equal to 1e-9) go to the lowest rate
        return round(max(abs(np.log(closest(codec, target)["bpp"] / target)) for codec in ("jpeg", "webp")), 9)

    target = min(rates[: (len(rates) + 1) // 2], key=spread)
    assert list(panels["point"].iloc[1:]) == [closest("jpeg", target)["point"], closest("webp", target)["point"]]
    assert f"closest to {target:.4f} bpp" in entry.caption


def test_visual_strip_without_the_original_images_says_why(run_dir, tmp_path):
    from bench.rundata import load_run
    from bench.report.visual import StripUnavailable, visual_strip

    moved = tmp_path / run_dir.name
    shutil.copytree(run_dir, moved)
    suite = (moved / "suite.toml").read_text()
    (moved / "suite.toml").write_text(re.sub(r'"root" = "[^"]*"', f'"root" = "{tmp_path / "gone"}"', suite))
    with pytest.raises(StripUnavailable, match="cannot load the original image"):
        visual_strip(load_run(moved))


def test_index_page_is_self_contained_and_lists_everything(report):
    page = report.index.read_text()
    assert page.count("data:image/png;base64,") == len(report.figures)
    assert "<script" not in page and not re.search(r'src="(?!data:)', page)
    for entry in report.tables:
        assert entry.title in page
    assert re.findall(r"<title>(.*?)</title>", page) == ["mpa-bench report: tiny-folder"]
    assert "Resolved suite and environment" in page and "Skipped" not in page
    manifest = json.loads((report.out_dir / "report.json").read_text())
    assert {Path(f["files"]["csv"]).stem for f in manifest["figures"]} == EXPECTED_FIGURES


def test_without_complexity_json_the_report_says_what_produces_it(report):
    assert any("python -m bench profile" in note for note in report.notes)
    assert "python -m bench profile" in report.index.read_text()


def test_complexity_json_gives_table_4_beside_the_poster_numbers(run_dir, tmp_path):
    complexity = tmp_path / "complexity.json"
    complexity.write_text(json.dumps({"schema": COMPLEXITY_SCHEMA, "models": [
        {"name": "TinyLIC", "params": 28_460_000, "kmacs_per_pixel": 439.0, "latency_ms": 12.5},
        {"name": "MPA", "params": 29_500_000, "kmacs_per_pixel": 400.0, "latency_ms": {"encode": 6.0, "decode": 7.0}},
    ]}))
    options = ReportOptions(complexity=(complexity,), visual=False, formats=("png",), published=())
    report = build_report(run_dir, tmp_path / "out", options)
    table = next(t for t in report.tables if t.section == "complexity")
    markdown = table.files["md"].read_text()
    # 28.46M vs 28.46M; 439.00 vs 439.29 is (439.00 - 439.29) / 439.29 = -0.066 %; MPA single values against
    # the poster's ranges: (29.50 - 29.00) / 29.00 = +1.72 %, (29.50 - 30.53) / 30.53 = -3.37 % ...
    assert "| TinyLIC | 28.46 | 28.46M | +0.00% | 439.00 | 439.29 | \u22120.07% | 12.50 | – | 12.68 |" in markdown
    assert ("| MPA | 29.50 | 29.00M~30.53M | +1.72%~\u22123.37% | 400.00 | 384.84~441.52 | +3.94%~\u22129.40% | "
            "13.00 | 6.00 / 7.00 | 12.72~13.05 |") in markdown
    data = pd.read_csv(figure(report, "complexity").files["csv"])
    paper = data[(data["series"] == "paper") & (data["panel"] == "params_m")].set_index("model")["value"]
    assert paper["TinyLIC"] == pytest.approx(28.46) and paper["MPA"] == pytest.approx((29.00 + 30.53) / 2)
    assert not any("bench profile" in note for note in report.notes)


def test_malformed_complexity_json_is_one_line_naming_the_file(run_dir, tmp_path, capsys):
    bad = tmp_path / "complexity.json"
    bad.write_text(json.dumps({"schema": COMPLEXITY_SCHEMA, "models": [{"name": "MPA", "params": 1}]}))
    status = main(["report", str(run_dir), "-o", str(tmp_path / "out"), "--complexity", str(bad), "--no-visual",
                   "--formats", "png"])
    error = capsys.readouterr().err.strip()
    assert status == 2 and error.count("\n") == 0
    assert str(bad) in error and "kmacs_per_pixel" in error and "latency_ms" in error


def test_cli_report_with_an_explicit_anchor_and_no_published_overlay(run_dir, tmp_path, capsys):
    status = main(["report", str(run_dir), "-o", str(tmp_path / "out"), "--anchor", "tinylic", "--no-published",
                   "--no-visual", "--formats", "png"])
    assert status == 0
    frame = pd.read_csv(tmp_path / "out" / "tables" / "bd-rate_kodak.csv")
    assert set(frame[frame["metric"] == "psnr-rgb"]["anchor"]) == {"tinylic/default"}
    data = pd.read_csv(tmp_path / "out" / "figures" / "rate-distortion_kodak.csv")
    assert set(data["source"]) == {"run"}
    assert main(["report", str(run_dir), "-o", str(tmp_path / "x"), "--anchor", "nope", "--no-visual"]) == 2
    assert "--anchor 'nope'" in capsys.readouterr().err


def test_report_of_a_directory_without_a_store_is_a_one_line_error(tmp_path, capsys):
    assert main(["report", str(tmp_path)]) == 2
    assert "no results.sqlite" in capsys.readouterr().err


def _figure_csv(report, stem):
    return pd.read_csv(figure(report, stem).files["csv"])


def test_default_published_curves_are_curated_and_on_the_panel_they_were_trained_for(report):
    data = _figure_csv(report, "rate-distortion_kodak")
    published = data[data["source"] != "run"]
    by_panel = {panel: set(group["series"]) for panel, group in published.groupby("panel")}
    # VTM, BPG and TinyLIC always; CompressAI's JPEG and WebP for the run's jpeg and webp; nothing else by default.
    assert by_panel["psnr-rgb"] == {"VTM (compressai, published)", "BPG 8b 444 x265 ycbcr (compressai, published)",
                                    "JPEG (compressai, published)", "WebP (compressai, published)",
                                    "TinyLIC [tinylic-mse] (tinylic, published)"}
    # The MS-SSIM-trained TinyLIC only on the MS-SSIM panel, the MSE-trained one only on the PSNR panel.
    assert by_panel["ms-ssim-db-rgb"] == (by_panel["psnr-rgb"] - {"TinyLIC [tinylic-mse] (tinylic, published)"}
                                          | {"TinyLIC [tinylic-ms-ssim] (tinylic, published)"})


def test_published_all_and_names_select_curves(run_dir, tmp_path):
    every = build_report(run_dir, tmp_path / "all", ReportOptions(published=("all",), visual=False,
                                                                 formats=("png",)))
    series = set(_figure_csv(every, "rate-distortion_kodak")["series"])
    assert {"HM (compressai, published)", "AV1 (compressai, published)",
            "bmshj2018-hyperprior (compressai, published)"} <= series
    chosen = build_report(run_dir, tmp_path / "some", ReportOptions(published=("hm", "VTM"), visual=False,
                                                                    formats=("png",)))
    data = _figure_csv(chosen, "rate-distortion_kodak")
    assert set(data[data["source"] != "run"]["series"]) == {"HM (compressai, published)", "VTM (compressai, published)"}


def test_x_range_follows_the_run_and_the_legend_fits_in_the_figure(tmp_path):
    from bench.report.plots import figure_with_style, rate_quality_figure, save_figure
    from bench.report.series import published_series

    run = [Series("only-codec", "kodak", pd.DataFrame({"bpp": [0.1, 0.3, 0.6], "payload-bpp": [0.1, 0.3, 0.6],
                                                      "psnr-rgb": [28.0, 31.0, 34.0]}), key="a/default", codec="a")]
    published = published_series("kodak", ["all"])
    built, _, _ = figure_with_style(rate_quality_figure, run, published, ["psnr-rgb"], "t")
    (axis,) = [a for a in built.axes if a.get_visible()]
    assert axis.get_xlim() == pytest.approx((0.0, 0.6 * 1.06))  # not BPG's 4.7 bpp
    low, high = axis.get_ylim()
    assert low < 28.0 and high < 46.0  # the y range of what is visible up to 0.64 bpp, not VTM's 47 dB
    files = save_figure(built, tmp_path / "f", ("png",))
    (legend,) = built.legends
    box, frame = legend.get_window_extent(), built.bbox
    assert frame.x0 <= box.x0 and box.x1 <= frame.x1 and frame.y0 <= box.y0 and box.y1 <= frame.y1
    with Image.open(files["png"]) as image:
        assert image.size[0] == pytest.approx(built.get_size_inches()[0] * 200, abs=2)
    forced, _, _ = figure_with_style(rate_quality_figure, run, [], ["psnr-rgb"], "t", xlim=(0.0, 2.0))
    assert forced.axes[0].get_xlim() == (0.0, 2.0)


def test_a_limited_run_says_so_in_the_figure_and_the_bd_table():
    from bench.report.bdtable import bd_table, bd_to_table
    from bench.report.compare import images_subtitle
    from bench.report.series import published_series

    vtm = vtm_kodak()
    points = pd.DataFrame({"bpp": np.array(vtm["bpp"]) * 0.9, "payload-bpp": np.array(vtm["bpp"]) * 0.9,
                           "psnr-rgb": vtm["psnr-rgb"]})
    run = [Series("mine", "kodak", points, key="mine/default", codec="mine", images=ImageSet("kodak", 3, limit=3))]
    published = published_series("kodak", ["vtm"])
    assert images_subtitle(run, published) == "run: 3 images (--limit 3); published: 24 images"
    notes = bd_to_table(bd_table(run, published, ["psnr-rgb"])).notes
    assert "Images: run curves kodak, 3 images (--limit 3); VTM kodak, 24 images: not the same image set." in notes


def test_zero_or_negative_crop_is_one_line(run_dir, tmp_path, capsys):
    for crop in ("0", "-5"):
        assert main(["report", str(run_dir), "-o", str(tmp_path / "out"), "--crop", crop]) == 2
        error = capsys.readouterr().err.strip()
        assert error.count("\n") == 0 and "--crop must be a positive number of pixels" in error


def test_report_output_counts_are_plural_only_when_needed(run_dir, tmp_path, capsys):
    assert main(["report", str(run_dir), "-o", str(tmp_path / "out"), "--no-visual", "--formats", "png",
                 "--published", "none"]) == 0
    assert re.search(r"^\d+ figures and \d+ tables? in ", capsys.readouterr().out, re.MULTILINE)


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {path.relative_to(folder).as_posix(): path.read_bytes() for path in sorted(folder.rglob("*"))
            if path.is_file()}


def test_report_and_check_of_a_read_only_run_write_nothing_into_it(run_dir, tmp_path):
    """A read-only run directory: report (to --out elsewhere) and check read it and write nothing into it (as root,
    permissions do not stop writes, so the test compares every file before and after)."""
    import os
    import stat

    copy = tmp_path / "ro" / run_dir.name
    shutil.copytree(run_dir, copy)
    baseline = tmp_path / "baseline.json"
    assert main(["check", str(copy), "--update", "--baseline", str(baseline)]) == 0
    before = _snapshot(copy)
    for path in [copy, *copy.rglob("*")]:
        os.chmod(path, stat.S_IREAD | stat.S_IEXEC if path.is_dir() else stat.S_IREAD)
    try:
        assert main(["report", str(copy), "-o", str(tmp_path / "out"), "--formats", "png"]) == 0
        assert main(["check", str(copy), "--baseline", str(baseline)]) == 0
    finally:
        for path in [copy, *copy.rglob("*")]:
            os.chmod(path, stat.S_IRWXU)
    assert _snapshot(copy) == before


def test_checks_and_profiles_do_not_import_the_report_package():
    """Layering: bench.check, bench.baseline and bench.complexity read results without matplotlib's report."""
    import subprocess
    import sys

    code = ("import sys, bench.check, bench.baseline, bench.rundata, bench.complexity.table4, "
            "bench.complexity.document, bench.complexity.runner, bench.cli.check, bench.cli.profile; "
            "print(sorted(m for m in sys.modules if m.startswith('bench.report')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
