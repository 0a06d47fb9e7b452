"""Reports of steerable codecs (issue 14): MPA's alpha and the MRIC-style model's beta get knob transition figures,
and the poster's visual comparison (original | MRIC beta = 2.56 | MPA alpha = 0 ... 1 | MRIC beta = 0) is drawn
from a run that has both. Random weights: layout only, no number here is a result."""

import pandas as pd
import pytest
import torch
from PIL import Image

from bench.codecs.mric import MRIC
from bench.engine.run import run_suite
from bench.engine.suite import load_suite
from bench.report.build import ReportOptions, build_report
from bench.report.knob import Knob, parse_knob
from bench.rundata import load_run

SUITE = """
name = "steerable"
datasets = [{{ name = "folder", root = "{root}" }}]
metrics = ["psnr-rgb"]

[[codecs]]
codec = "mpa-tiny"
points = [4.5]
options = {{ alphas = [0.0, 0.5, 1.0] }}

[[codecs]]
codec = "mric"
options = {{ checkpoint = ["{low}", "{high}"], betas = [0.0, 2.56] }}
"""


def test_variant_names_parse_into_knobs():
    assert parse_knob("alpha=0.5,task=mse") == Knob("alpha", 0.5, "mse")
    assert parse_knob("beta=2.56") == Knob("beta", 2.56, "")
    assert parse_knob("task=cls,alpha=1.0") == Knob("alpha", 1.0, "cls")
    assert parse_knob("default") is None and parse_knob("alpha=x") is None
    assert Knob("beta", 2.56).label() == "β = 2.56" and Knob("alpha", 1.0, "cls").label("mse") == "α = 1, cls"


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory, kodak_image):
    base = tmp_path_factory.mktemp("steerable")
    images = base / "images"
    images.mkdir()
    Image.fromarray(kodak_image[128:256, 256:448]).save(images / "crop.png")
    for index, name in enumerate(("low", "high")):
        torch.manual_seed(index)
        model = MRIC(N=32, M=40, hyper_hidden=32, hyper_channels=24, num_slices=5, max_support_slices=3,
                     slice_hidden=(16, 16), condition_channels=32)
        with torch.no_grad():
            model.g_a[13].weight.mul_(8.0 * (index + 1))
        torch.save(model.state_dict(), base / f"mric-{name}.pth.tar")
    (base / "s.toml").write_text(SUITE.format(root=images, low=base / "mric-low.pth.tar",
                                              high=base / "mric-high.pth.tar"))
    result = run_suite(load_suite(str(base / "s.toml")), base / "runs", progress=False)
    assert not result.outcome.failures
    return result.run_dir


def test_each_steerable_codec_gets_its_knob_transition(run_dir, tmp_path):
    report = build_report(run_dir, tmp_path / "report", ReportOptions(formats=("png",), visual=False))
    names = {entry.files["csv"].stem for entry in report.figures}
    assert {"alpha_folder_mpa-tiny_mse", "beta_folder_mric"} <= names
    beta = pd.read_csv(next(e for e in report.figures if e.files["csv"].stem == "beta_folder_mric").files["csv"])
    stored = load_run(run_dir).curves.query("codec == 'mric'")
    for _, row in beta[beta["panel"] == "psnr-rgb"].iterrows():
        variant = f"beta={row['beta']!r}"
        expected = stored[(stored["point"] == row["point"]) & (stored["variant"] == variant)]["psnr-rgb"]
        assert row["value"] == pytest.approx(float(expected.iloc[0]), abs=1e-12)


def test_the_posters_visual_comparison_from_one_run(run_dir, tmp_path):
    options = ReportOptions(formats=("png",), visual_panels=("mric:beta=2.56", "mpa-tiny", "mric:beta=0.0"),
                            crop=96)
    report = build_report(run_dir, tmp_path / "report", options)
    strip = next(e for e in report.figures if e.files["csv"].stem.startswith("visual_"))
    titles = list(pd.read_csv(strip.files["csv"])["panel"])
    assert titles == ["Original", "mric (β = 2.56)", "mpa-tiny (α = 0)", "mpa-tiny (α = 0.5)", "mpa-tiny (α = 1)",
                      "mric (β = 0)"]
    assert strip.files["png"].is_file()
    with pytest.raises(Exception, match="mric has no variant 'beta=9.0'"):
        build_report(run_dir, tmp_path / "other", ReportOptions(formats=("png",), visual_panels=("mric:beta=9.0",)))
