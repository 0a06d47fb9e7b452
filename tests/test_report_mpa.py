"""The report of a run with a real (random-weight, full-size) MPA codec: the alpha transition and the visual strip
decode MPA's stored bitstreams at every alpha. Slow (about a minute on 2 cores)."""

import pandas as pd
import pytest
import torch
from PIL import Image

from bench.engine.run import run_suite
from bench.engine.suite import load_suite
from bench.report import ReportOptions, build_report

pytestmark = pytest.mark.slow

ALPHAS = (0.0, 0.01, 1.0)


@pytest.fixture(scope="module")
def mpa_report(tmp_path_factory, kodak_crop):
    from bench.codecs.mpa import MPA

    base = tmp_path_factory.mktemp("mpa-report")
    torch.manual_seed(0)
    torch.save({"state_dict": MPA().state_dict()}, base / "mpa.pth.tar")
    (base / "images").mkdir()
    Image.fromarray(kodak_crop).save(base / "images" / "a.png")
    (base / "suite.toml").write_text(f"""
name = "mpa-tiny"
datasets = [{{ name = "folder", root = "{base / 'images'}" }}]
metrics = ["psnr-rgb"]
[[codecs]]
codec = "jpeg"
points = [10, 50, 90]
[[codecs]]
codec = "mpa"
points = [1, 4, 8]
options = {{ checkpoint = "{base / 'mpa.pth.tar'}", alphas = {list(ALPHAS)}, tasks = ["mse"] }}
""")
    result = run_suite(load_suite(str(base / "suite.toml")), base / "runs", progress=False)
    assert not result.outcome.failures
    return result.run_dir, build_report(result.run_dir, base / "report", ReportOptions(formats=("png",)))


def test_alpha_transition_of_a_real_mpa_run(mpa_report):
    _, report = mpa_report
    entry = next(f for f in report.figures if f.section == "alpha")
    data = pd.read_csv(entry.files["csv"])
    assert sorted(data["point"].unique()) == [1.0, 4.0, 8.0]
    assert all(sorted(group["alpha"]) == list(ALPHAS) for _, group in data.groupby("point"))


def test_visual_strip_decodes_mpa_at_every_alpha_to_the_stored_psnr(mpa_report):
    run_dir, report = mpa_report
    entry = next(f for f in report.figures if f.section == "visual")
    panels = pd.read_csv(entry.files["csv"])
    assert list(panels["panel"]) == ["Original", "jpeg", "mpa (α = 0)", "mpa (α = 0.01)", "mpa (α = 1)"]
    assert panels["point"].iloc[2:].nunique() == 1  # one bitstream, every alpha
    rows = pd.read_csv(run_dir / "results.csv")
    for panel in panels.iloc[1:].itertuples():
        stored = rows[(rows["codec"] == panel.codec) & (rows["point"] == panel.point)
                      & (rows["variant"] == panel.variant)]
        assert panel.psnr == pytest.approx(float(stored["psnr-rgb"].iloc[0]), abs=1e-9)
