"""Like-for-like comparisons (issue 15): every curve carries its definitions, and run curves are compared with a
published curve in the published curve's form.

Oracles: a run compared with its own curve written in the official MPA form gives BD-rate 0 exactly (identical
points), while reading it in the suite's own form (file bpp, 8-bit PSNR) does not; a classical curve compared with
CompressAI's published JPEG is read in file bpp, checked against a BD-rate computed by hand on the file-bpp column."""

import json

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from bench.metrics.bd import bd_rate
from bench.metrics.forms import Definitions, Form, ImageSet, stored_metric_keys
from bench.published import PUBLISHED_ENV, official_mpa_document, published_curve
from bench.report.bdtable import bd_cell
from bench.report.compare import panel_form, parse_form
from bench.report.series import Series
from bench.errors import BenchError


def test_stored_metric_keys_add_the_other_form_of_each_requested_metric():
    assert stored_metric_keys(["psnr-rgb", "ms-ssim-rgb", "lpips-alex", "top1"]) == [
        "psnr-rgb", "psnr-float", "ms-ssim-rgb", "ms-ssim-float", "lpips-alex", "lpips-alex-float", "top1"]
    assert stored_metric_keys(["psnr-float"]) == ["psnr-rgb", "psnr-float"]
    assert stored_metric_keys(["dists", "lpips-vgg", "fid-256"]) == [
        "dists", "dists-float", "lpips-vgg", "lpips-vgg-float", "fid-256"]
    from bench.metrics import metrics

    for key in stored_metric_keys(["psnr-rgb", "ms-ssim-rgb", "lpips-alex", "lpips-vgg", "dists"]):
        assert key in metrics and metrics.get(key).spec.key == key  # every stored key is a registered metric


def test_forms_name_their_columns():
    assert Form("payload", "float").key("psnr-rgb") == "psnr-float" and Form().key("psnr-float") == "psnr-rgb"
    assert Form("payload", "float").rate_key == "payload-bpp" and Form("file", "float").key("top1") == "top1"
    assert Form("payload", "float").text("psnr-rgb", "ms-ssim-db-rgb") == "payload bpp, float PSNR and MS-SSIM"
    official = Definitions("payload", "float", "float", "float", ImageSet("kodak", 24))
    assert official.renames() == {"bpp": "payload-bpp", "psnr-rgb": "psnr-float", "ms-ssim-rgb": "ms-ssim-float",
                                  "ms-ssim-db-rgb": "ms-ssim-db-float", "lpips-alex": "lpips-alex-float",
                                  "lpips-vgg": "lpips-vgg-float", "dists": "dists-float"}
    assert Definitions.from_dict(official.as_dict()) == official
    assert parse_form("payload,float") == Form("payload", "float") and parse_form("auto") is None
    with pytest.raises(BenchError, match="--form"):
        parse_form("payload")


def _run_series(name, bpp, payload, psnr8, psnr_float):
    points = pd.DataFrame({"bpp": bpp, "payload-bpp": payload, "psnr-rgb": psnr8, "psnr-float": psnr_float})
    return Series(name, "kodak", points, key=f"{name}/default", codec=name, images=ImageSet("kodak", 24))


def test_classical_run_against_published_jpeg_uses_file_bpp():
    jpeg = published_curve("compressai/kodak/jpeg")
    anchor = Series("JPEG", "kodak", jpeg.points, "compressai", jpeg.key, "JPEG", definitions=jpeg.definitions,
                    images=jpeg.definitions.images)
    bpp = np.array([0.3, 0.6, 1.0, 1.6])
    # payload 10 % below the file size and float PSNR 0.3 dB above: a comparison in the wrong form would move
    run = _run_series("mine", bpp, 0.9 * bpp, [28.0, 31.0, 33.5, 36.0], [28.3, 31.3, 33.8, 36.3])
    cell = bd_cell(anchor, run, "psnr-rgb")
    assert cell.comparison.test_form == Form("file", "8-bit") == cell.comparison.reference_form
    expected = bd_rate(jpeg.bpp, jpeg.values("psnr-rgb"), bpp, [28.0, 31.0, 33.5, 36.0]).value
    assert cell.value == pytest.approx(expected, abs=1e-12)


def test_a_curve_without_the_matching_form_is_refused_with_the_reason():
    tinylic = published_curve("tinylic/kodak/tinylic-mse")
    anchor = Series("TinyLIC", "kodak", tinylic.points, "tinylic", tinylic.key, definitions=tinylic.definitions)
    run = Series("old", "kodak", pd.DataFrame({"bpp": [0.2, 0.4, 0.8], "payload-bpp": [0.2, 0.4, 0.8],
                                               "psnr-rgb": [29.0, 31.0, 34.0]}), key="old/default", codec="old")
    cell = bd_cell(anchor, run, "psnr-rgb")
    assert cell.value is None and cell.reason == "n/a (no matching form)"
    assert "has no payload bpp, float PSNR" in cell.detail and "psnr-float" in cell.detail
    # Forced to the run's own form, the comparison is made (and says so in the table notes).
    forced = bd_cell(anchor, run, "psnr-rgb", Form("file", "8-bit"))
    assert forced.comparison.forced and forced.comparison.reference_form == Form("payload", "float")


def test_panel_form_marks_only_published_curves_in_another_form_that_matters():
    vtm, tinylic = published_curve("compressai/kodak/vtm"), published_curve("tinylic/kodak/tinylic-mse")
    published = [Series(c.name, "kodak", c.points, c.source, c.key, definitions=c.definitions) for c in (vtm, tinylic)]
    bpp = np.array([0.2, 0.4, 0.8])
    classical = _run_series("jpeg", bpp, bpp, [29.0, 31.0, 34.0], [29.0, 31.0, 34.0])
    learned = _run_series("mpa", bpp, bpp - 0.001, [29.0, 31.0, 34.0], [29.01, 31.01, 34.01])
    # A classical codec has the same points in both forms: nothing to mark.
    assert panel_form([classical], published, "psnr-rgb").marked == []
    panel = panel_form([classical, learned], published, "psnr-rgb")
    assert panel.form == Form("file", "8-bit") and [s.name for s in panel.marked] == ["TinyLIC"]
    assert panel_form([learned], published[1:], "psnr-rgb").form == Form("payload", "float")


@pytest.mark.slow
def test_random_weight_mpa_run_against_itself_in_official_form_gives_bd_rate_zero(tmp_path, kodak_image, monkeypatch):
    """The issue's test: a run of random-weight MPA, exported in the official JSON form (payload bpp, float PSNR)
    and read back as a published curve, has BD-rate 0 against the run, compared in that form; read in the suite's own
    form (file bpp, 8-bit PSNR, the comparison before definitions were honoured) it does not."""
    import torch

    from bench.engine.run import run_suite
    from bench.engine.suite import load_suite
    from bench.report import ReportOptions, build_report
    from tests.test_mpa import random_mpa

    checkpoint = tmp_path / "mpa-random.pth.tar"
    torch.save({"state_dict": random_mpa().state_dict()}, checkpoint)
    images = tmp_path / "images"
    images.mkdir()
    for index in range(2):
        Image.fromarray(kodak_image[index * 96 : index * 96 + 160, 200 : 200 + 176]).save(images / f"i{index}.png")
    suite = tmp_path / "mpa.toml"
    suite.write_text(f'name = "mpa-forms"\ndatasets = [{{ name = "folder", root = "{images}" }}]\n'
                     f'metrics = ["psnr-rgb", "psnr-float"]\n\n[[codecs]]\ncodec = "mpa"\npoints = [1, 3, 5, 8]\n'
                     f'options = {{ checkpoint = "{checkpoint}", alphas = [0.0], tasks = ["mse"] }}\n')
    run = run_suite(load_suite(str(suite)), tmp_path / "runs", progress=False)
    curve = run.curves[run.curves["codec"] == "mpa"]
    published = tmp_path / "published" / "mpa" / "folder"
    published.mkdir(parents=True)
    (published / "mpa-official.json").write_text(json.dumps(official_mpa_document(curve, 1.0)))
    monkeypatch.setenv(PUBLISHED_ENV, str(tmp_path / "published"))

    def bd(form):
        options = ReportOptions(anchor="mpa/folder/mpa-official", form=form, visual=False, formats=("png",))
        report = build_report(run.run_dir, tmp_path / f"report-{form is None}", options)
        frame = pd.read_csv(report.out_dir / "tables" / "bd-rate_folder.csv")
        row = frame[frame["metric"] == "psnr-rgb"].iloc[0]
        return report, row

    report, after = bd(None)
    assert after["bd_rate_percent"] == pytest.approx(0.0, abs=1e-9)
    assert after["run_form"] == after["anchor_form"] == "payload bpp, float PSNR"
    notes = next(t for t in report.tables if t.section == "bd-rate").table.notes
    assert any("Compared as: mpa (q_task = 1) (mpa, published): payload bpp, float PSNR" in n for n in notes)
    caption = next(f for f in report.figures if f.section == "rate-distortion").caption
    assert "PSNR: run curves in payload bpp, float PSNR" in caption
    _, before = bd(Form("file", "8-bit"))  # the old comparison: file bpp and 8-bit PSNR against the official form
    assert abs(before["bd_rate_percent"]) > 0.05
    # The container's bytes and the 8-bit rounding are what separate the two forms.
    assert (curve["bpp"] > curve["payload-bpp"]).all() and not np.allclose(curve["psnr-rgb"], curve["psnr-float"])
    print(f"BD-rate of the run against its official-form export: own form {before['bd_rate_percent']:+.4f} %, "
          f"matching form {after['bd_rate_percent']:+.6f} %")


def test_a_run_export_read_back_keeps_both_forms(tmp_path):
    """What the engine's export should write (meta.definitions = run_definitions): read back as a published curve, its
    CompressAI keys stay the file/8-bit form and the extra columns stay the other form."""
    from bench.metrics.forms import run_definitions
    from bench.published import read_curve, write_compressai_json

    results = {"bpp": [0.2, 0.4], "payload-bpp": [0.19, 0.39], "psnr-rgb": [30.0, 33.0], "psnr-float": [30.1, 33.1]}
    meta = {"definitions": run_definitions(ImageSet("kodak", 24), "mpa-bench run default-kodak").as_dict()}
    curve = read_curve(write_compressai_json(tmp_path / "mine.json", "mine", "", results, meta))
    assert curve.definitions.rate == "file" and curve.definitions.images.count == 24
    assert list(curve.points.columns) == ["bpp", "payload-bpp", "psnr-rgb", "psnr-float"]
    run = Series("mine", "kodak", curve.points, "other", "x/kodak/mine", definitions=curve.definitions)
    assert run.xy("psnr-rgb")[1].tolist() == [30.0, 33.0]
