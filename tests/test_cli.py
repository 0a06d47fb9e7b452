"""The command line through main(argv): exit statuses and one-line errors."""

import pytest
from PIL import Image

from bench.cli import main
from bench.codecs import codecs
from bench.data import datasets
from bench.metrics import metrics


def test_ls_lists_every_registry(capsys):
    assert main(["ls"]) == 0
    out = capsys.readouterr().out
    assert "jpeg2000" in out and "kodak" in out and "ms-ssim-rgb" in out and "default" in out


def test_unknown_codec_suggests_close_names(capsys):
    assert main(["run", "--codec", "jpg", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: unknown codec 'jpg'; did you mean jpeg, jpegxl") and err.count("\n") == 1


def test_unknown_suite_and_bad_checkpoint_option(capsys):
    assert main(["run", "--suite", "nope"]) == 2
    assert "built-in suites: default" in capsys.readouterr().err
    assert main(["run", "--checkpoint", "mpa"]) == 2
    assert "NAME=PATH" in capsys.readouterr().err


def test_bad_arguments_exit_with_usage():
    with pytest.raises(SystemExit) as error:
        main(["run", "--limit", "many"])
    assert error.value.code == 2


def test_missing_dataset_folder_is_one_line(tmp_path, capsys):
    assert main(["run", "--dataset", "kodak", "--data-root", str(tmp_path / "nowhere"), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "datasets/kodak.json" in err and "bench datasets fetch kodak" in err and err.count("\n") == 1


def test_corrupt_image_in_a_folder_fails_that_item_and_keeps_the_rest(tmp_path, kodak_crop, capsys):
    images = tmp_path / "images"
    images.mkdir()
    Image.fromarray(kodak_crop).save(images / "good.png")
    (images / "bad.png").write_bytes(b"garbage")
    status = main(["run", "--dataset", "folder", "--data-root", str(images), "--codec", "webp",
                   "--runs-dir", str(tmp_path / "runs"), "--no-progress"])
    captured = capsys.readouterr()
    assert status == 1
    assert "6 items failed" in captured.err and "bad.png: cannot decode image" in captured.err
    assert "webp" in captured.out and "6 items computed" in captured.out


def test_datasets_verify_reports_missing_files(tmp_path, capsys):
    (tmp_path / "kodak").mkdir()
    assert main(["datasets", "verify", "kodak", "--data-root", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert "missing   kodim01.png" in out and "0 of 24 files verified, 24 missing or corrupt" in out


def test_every_registered_name_matches_its_class():
    for name in codecs.names():
        assert codecs.get(name).name == name
    for name in datasets.names():
        assert datasets.get(name).name == name
    for name in metrics.names():
        assert metrics.get(name).spec.key == name
