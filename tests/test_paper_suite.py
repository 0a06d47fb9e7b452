"""The built-in ``paper`` suite and the suite format's ``[[experiments]]``: per-experiment datasets, metrics and
codecs; what cannot run is listed up front with what to pass, and the rest runs."""

import contextlib
import io
import tomllib
from pathlib import Path

import pandas as pd
import pytest
from PIL import Image

from bench.cli import main
from bench.engine.run import plan_suites
from bench.engine.suite import (
    SuiteError,
    apply_overrides,
    load_suite,
    parse_checkpoint_options,
    suite_from_dict,
    suite_to_toml,
)

SWEEP = (0.0, 0.0001, 0.001, 0.01, 0.1, 1.0)
QUALITIES = tuple(float(q) for q in range(1, 9))


def test_paper_suite_has_the_papers_experiments():
    suite = load_suite("paper").validate()
    expanded = {plain.name: plain for plain in suite.expand()}
    assert list(expanded) == ["paper-rd", "paper-cls", "paper-seg"]
    rd, cls, seg = expanded.values()
    assert [d.name for d in rd.datasets] == ["kodak", "clic"]
    assert {"psnr-rgb", "ms-ssim-rgb", "lpips-alex", "fid-256"} <= set(rd.metrics)
    labels = [c.label for c in rd.codecs]
    assert labels[:2] == ["mpa", "tinylic"] and {"bmshj2018-hyperprior", "mbt2018-mean", "cheng2020-anchor",
                                                 "jpeg", "webp", "avif", "jpegxl", "jpeg2000", "hevc"} <= set(labels)
    mpa = rd.codecs[0]
    assert mpa.codec == "mpa" and tuple(mpa.options["alphas"]) == SWEEP and mpa.options["tasks"] == ["mse"]
    assert mpa.points == QUALITIES
    assert [d.name for d in cls.datasets] == ["imagenet"] and "top1" in cls.metrics
    assert [c.options["tasks"] for c in cls.codecs] == [["cls"]] and cls.codecs[0].points == QUALITIES
    assert [d.name for d in seg.datasets] == ["ade20k"] and "miou" in seg.metrics
    assert [c.options["tasks"] for c in seg.codecs] == [["seg"]]
    assert rd.run_id() == "paper-rd-kodak+clic" and not rd.experiments


def test_suite_with_experiments_round_trips_through_toml():
    suite = load_suite("paper")
    assert suite_from_dict(tomllib.loads(suite_to_toml(suite)), "x", "x") == suite


def test_plain_suites_are_unchanged():
    suite = load_suite("default")
    assert "experiments" not in suite.to_dict() and suite.expand() == [suite]
    assert "[[experiments]]" not in suite_to_toml(suite)


def test_overrides_select_experiments_and_apply_to_every_dataset():
    suite = load_suite("paper")
    kodak = apply_overrides(suite, datasets=["kodak"], data_root="/data", limit=3)
    assert [e.name for e in kodak.experiments] == ["rd"]
    assert [(d.name, d.root, d.limit) for d in kodak.experiments[0].datasets] == [("kodak", "/data", 3)]
    jpeg = apply_overrides(suite, codec_labels=["jpeg"], metrics=["psnr-rgb"])
    assert [(e.name, e.codecs, e.metrics) for e in jpeg.experiments] == [("rd", ("jpeg",), ("psnr-rgb",))]
    mpa = apply_overrides(suite, codec_labels=["mpa"], checkpoints=parse_checkpoint_options(["mpa=/ckpt/step3.pth.tar"]))
    assert [e.name for e in mpa.experiments] == ["rd", "cls", "seg"]
    assert {c.options["checkpoint"] for c in mpa.codecs} == {"/ckpt/step3.pth.tar"}
    with pytest.raises(SuiteError, match="no experiment runs"):
        apply_overrides(suite, datasets=["imagenet"], codec_labels=["jpeg"])


@pytest.mark.parametrize("experiments, message", [
    ('[[experiments]]\nname = "a"\ndatasets = ["sample"]\ncodecs = ["nope"]', "not among the suite's"),
    ('[[experiments]]\nname = "a"\ndatasets = ["sample"]\n[[experiments]]\nname = "a"\ndatasets = ["sample"]',
     "unique"),
    ('[[experiments]]\nname = "a"', "has no datasets"),
    ('[[experiments]]\nname = "a"\ndatasets = ["sample"]\nbogus = 1', "unknown keys bogus"),
])
def test_malformed_experiments_are_rejected(tmp_path, experiments, message):
    path = tmp_path / "s.toml"
    path.write_text(f'name = "s"\n[[codecs]]\ncodec = "jpeg"\n{experiments}\n')
    with pytest.raises(SuiteError, match=message):
        load_suite(str(path)).validate()


def fake_kodak(root: Path, image) -> Path:
    """24 files named as Kodak's (small crops): the layout the dataset checks, for a plumbing test."""
    folder = root / "kodak"
    folder.mkdir(parents=True)
    for index in range(1, 25):
        Image.fromarray(image[:192, :256]).save(folder / f"kodim{index:02d}.png")
    return root


def test_paper_run_lists_what_cannot_run_up_front_and_runs_the_rest(tmp_path, kodak_image):
    data = fake_kodak(tmp_path / "data", kodak_image)
    output = io.StringIO()
    arguments = ["run", "--suite", "paper", "--data-root", str(data), "--codec", "jpeg", "--codec", "mpa",
                 "--metric", "psnr-rgb", "--limit", "1", "--runs-dir", str(tmp_path / "runs"), "--no-progress",
                 "--workers", "1", "--yes"]
    with contextlib.redirect_stdout(output), contextlib.redirect_stderr(output):
        status = main(arguments)
    text = output.getvalue()
    assert status == 0, text
    first_result = text.index("run directory:")
    up_front = text[:first_result]
    # Relative paths of a built-in suite resolve against the current directory, and the message names the full path.
    missing = Path.cwd() / "checkpoints/mpa/checkpoint_step3.pth.tar"
    assert f"skipped paper-rd: codec mpa: checkpoint {missing} not found" in up_front
    assert "--checkpoint mpa=PATH" in up_front
    assert "skipped paper-rd: dataset clic" in up_front and "--data-root" in up_front
    assert "skipped paper-cls: nothing can run" in up_front and "skipped paper-seg: nothing can run" in up_front
    assert "skipped paper-cls: dataset imagenet" in up_front
    rows = pd.read_csv(tmp_path / "runs" / "paper-rd-kodak" / "results.csv")
    assert set(rows["codec"]) == {"jpeg"} and set(rows["dataset"]) == {"kodak"} and set(rows["image_id"]) == {"kodim01"}
    assert not (tmp_path / "runs" / "paper-cls-imagenet").exists()


def test_paper_plan_without_anything_lists_every_missing_component():
    planned = plan_suites(apply_overrides(load_suite("paper"), data_root="/nonexistent"))
    assert [p.plan for p in planned] == [None, None, None]
    lines = "\n".join(line for p in planned for line in p.skipped)
    for needle in ("codec mpa:", "codec tinylic:", "codec bmshj2018-hyperprior:", "dataset kodak:", "dataset clic:",
                   "dataset imagenet:", "dataset ade20k:", "--checkpoint tinylic=", "datasets fetch"):
        assert needle in lines, needle
