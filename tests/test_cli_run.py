"""``python -m bench run`` for one's own checkpoints and for planning: --codec of any registered codec, --checkpoint
with several files and their qualities, --dry-run, and the question asked when most of a suite cannot run (issue 13)."""

from pathlib import Path

import pytest
from PIL import Image

from tests.cli_helpers import cli
from bench.engine.suite import CheckpointOption, apply_overrides, load_suite, parse_checkpoint_options




def test_checkpoint_options_take_several_files_and_their_qualities():
    parsed = parse_checkpoint_options(["bmshj2018-factorized=a.pth.tar:1,b.pth.tar:2", "mpa=/c/step3.pth.tar"])
    assert parsed["bmshj2018-factorized"] == CheckpointOption(("a.pth.tar", "b.pth.tar"), (1, 2))
    assert parsed["bmshj2018-factorized"].options() == {"checkpoint": ["a.pth.tar", "b.pth.tar"], "qualities": [1, 2]}
    assert parsed["mpa"].options() == {"checkpoint": "/c/step3.pth.tar"}
    with pytest.raises(Exception, match="give every file a :Q suffix, or none"):
        parse_checkpoint_options(["x=a.pth:1,b.pth"])


def test_codec_of_the_registry_not_in_the_suite_is_added_with_its_checkpoints():
    suite = apply_overrides(load_suite("default"), codec_labels=["bmshj2018-factorized"],
                            checkpoints=parse_checkpoint_options(["bmshj2018-factorized=a.pth.tar:1,b.pth.tar:2"]))
    (spec,) = suite.codecs
    assert spec.codec == spec.label == "bmshj2018-factorized"
    assert spec.options == {"checkpoint": [str(Path("a.pth.tar")), str(Path("b.pth.tar"))], "qualities": [1, 2]}


def test_a_learned_codec_without_weights_says_how_to_pass_them(tmp_path):
    status, _, err = cli("run", "--codec", "tinylic", "--runs-dir", str(tmp_path / "runs"), "--no-progress")
    assert status == 2
    assert err.strip() == ('error: nothing to run: codec tinylic: no weights given: pass --checkpoint tinylic=PATH '
                           '(or options = { checkpoint = "PATH" } in the suite)')


def test_dry_run_plans_estimates_and_measures_nothing(tmp_path):
    images = tmp_path / "images"
    images.mkdir()
    Image.new("RGB", (96, 64), (120, 30, 200)).save(images / "a.png")
    status, out, err = cli("run", "--dataset", "folder", "--data-root", str(images), "--codec", "jpeg",
                           "--runs-dir", str(tmp_path / "runs"), "--dry-run")
    assert status == 0, err
    assert "default -> " in out and "folder (1 images)" in out
    assert "codec jpeg: 8 items, 0 stored" in out and "(measured now)" in out
    assert "dry run: nothing was measured" in out
    assert not (tmp_path / "runs").exists()


def test_most_of_a_suite_skipped_is_refused_without_a_terminal_unless_yes(tmp_path):
    kodak = tmp_path / "kodak"
    kodak.mkdir()
    for index in range(1, 25):
        Image.new("RGB", (96, 64), (index, 2 * index, 3 * index)).save(kodak / f"kodim{index:02d}.png")
    base = ("run", "--suite", "paper", "--data-root", str(tmp_path), "--metric", "psnr-rgb", "--limit", "1",
            "--runs-dir", str(tmp_path / "runs"), "--no-progress", "--workers", "1", "--codec", "jpeg", "--codec",
            "mpa", "--codec", "tinylic")
    status, _, err = cli(*base)
    assert status == 2 and "most of suite 'paper' cannot run here" in err and "--yes" in err
    status, out, err = cli(*base, "--yes")
    assert status == 0, err
    # CLIC was skipped (no data): the run directory is named after the datasets that ran.
    assert (tmp_path / "runs" / "paper-rd-kodak").is_dir() and not (tmp_path / "runs" / "paper-rd-kodak+clic").exists()
