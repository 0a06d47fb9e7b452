"""``bench check``: passes on an identical run; fails on a point worsened by 0.5 dB or a bpp raised by 5 %; explains
codec version changes; ``--update`` writes the baseline; the committed default baseline is well-formed."""

import json
import shutil
import sqlite3
from pathlib import Path

import pytest

from bench.baseline import SCHEMA, Tolerance, parse_tolerances, read_baseline
from bench.check import IMPROVED, MISSING, MOVED, REGRESSION, check_run
from bench.cli import main
from bench.engine.run import STORE_NAME
from bench.errors import BenchError
from bench.rundata import load_run
from tests.report_helpers import shared_run

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory, kodak_image):
    return shared_run(tmp_path_factory, kodak_image)


@pytest.fixture(scope="module")
def baseline(run_dir, tmp_path_factory):
    path = tmp_path_factory.mktemp("baseline") / "tiny.json"
    assert main(["check", str(run_dir), "--update", "--baseline", str(path)]) == 0
    return path


def copy_run(run_dir: Path, destination: Path) -> Path:
    target = destination / run_dir.name
    shutil.copytree(run_dir, target)
    return target


def edit_metric(run_dir: Path, codec: str, point: float, metric: str, change: float) -> None:
    """Adds ``change`` to one metric of every image of one curve point (so the dataset mean moves by ``change``)."""
    with sqlite3.connect(run_dir / STORE_NAME) as db:
        for row_id, metrics in db.execute("SELECT id, metrics FROM results WHERE codec = ? AND point = ?",
                                          (codec, point)).fetchall():
            values = json.loads(metrics)
            values[metric] += change
            db.execute("UPDATE results SET metrics = ? WHERE id = ?", (json.dumps(values), row_id))


def scale_bytes(run_dir: Path, codec: str, point: float, factor: float) -> None:
    with sqlite3.connect(run_dir / STORE_NAME) as db:
        db.execute("UPDATE results SET num_bytes = num_bytes * ? WHERE codec = ? AND point = ?",
                   (factor, codec, point))


def failing(result):
    return [(f.status, f.curve, f.point, f.quantity) for f in result.failures]


def test_baseline_file_holds_curves_tolerances_and_provenance(baseline, run_dir):
    document = read_baseline(baseline)
    assert document["schema"] == SCHEMA and document["run_id"] == "tiny-folder"
    assert document["tolerance"]["metrics"]["psnr-rgb"] == 0.05 and document["tolerance"]["bpp_percent"] == 1.0
    assert document["tolerance"]["metrics"]["top1"] == 0.1  # unit "%" from the metric's spec
    jpeg = next(c for c in document["curves"] if c["codec"] == "jpeg" and c["dataset"] == "folder")
    assert jpeg["results"]["point"] == [20.0, 50.0, 80.0] and jpeg["images"] == 2
    assert set(jpeg["results"]) == {"point", "bpp", "payload-bpp", "psnr-rgb", "ms-ssim-rgb", "ms-ssim-db-rgb",
                                    "psnr-float", "ms-ssim-float", "ms-ssim-db-float"}  # a run stores both forms
    assert jpeg["limit"] is None and set(document["datasets"]) == {"folder", "kodak", "imagenet", "ade20k"}
    assert document["definitions"] == {"bpp": "file", "payload-bpp": "payload", "psnr-rgb": "8-bit",
                                       "ms-ssim-rgb": "8-bit", "ms-ssim-db-rgb": "8-bit", "lpips-alex": "8-bit",
                                       "psnr-float": "float", "ms-ssim-float": "float", "ms-ssim-db-float": "float"}
    assert document["codecs"]["jpeg"]["versions"]["libjpeg-turbo"]
    assert document["suite"]["digest"] and document["environment"]["packages"]["torch"]


def test_identical_run_passes(run_dir, baseline, capsys):
    assert main(["check", str(run_dir), "--baseline", str(baseline)]) == 0
    out = capsys.readouterr().out
    assert "OK (nothing moved)" in out and "FAILED" not in out


def test_point_worsened_by_half_a_db_fails(run_dir, baseline, tmp_path, capsys):
    worse = copy_run(run_dir, tmp_path)
    edit_metric(worse, "jpeg", 50.0, "psnr-rgb", -0.5)
    assert main(["check", str(worse), "--baseline", str(baseline)]) == 1
    out = capsys.readouterr().out
    assert "FAILED" in out and "REGRESSION" in out
    document = read_baseline(baseline)
    result = check_run(load_run(worse), document, Tolerance.from_dict(document["tolerance"]))
    # The point itself, and the curve's BD-rate against the baseline curve (one of three points moved).
    assert failing(result) == [(REGRESSION, "jpeg", 50.0, "psnr-rgb"), (REGRESSION, "jpeg", None, "bd-rate psnr-rgb")]
    finding = result.failures[0]
    assert finding.delta == pytest.approx(-0.5, abs=1e-9) and finding.tolerance == 0.05
    # The same movement passes with a looser tolerance given on the command line.
    assert main(["check", str(worse), "--baseline", str(baseline), "--tolerance", "psnr-rgb=0.6",
                 "--tolerance", "bd-rate=20%"]) == 0


def test_bpp_raised_by_five_percent_fails(run_dir, baseline, tmp_path):
    bigger = copy_run(run_dir, tmp_path)
    scale_bytes(bigger, "webp", 30.0, 1.05)
    document = read_baseline(baseline)
    result = check_run(load_run(bigger), document, Tolerance.from_dict(document["tolerance"]))
    assert (REGRESSION, "webp", 30.0, "bpp") in failing(result)
    finding = next(f for f in result.failures if f.quantity == "bpp")
    assert finding.delta == pytest.approx(5.0, abs=0.05)  # bytes are integers: 5 % up to rounding
    assert main(["check", str(bigger), "--baseline", str(baseline)]) == 1


def test_small_movements_pass_and_improvements_are_reported(run_dir, baseline, tmp_path, capsys):
    moved = copy_run(run_dir, tmp_path)
    edit_metric(moved, "jpeg", 20.0, "psnr-rgb", -0.01)
    edit_metric(moved, "tinylic", 3.0, "psnr-rgb", +0.5)
    document = read_baseline(baseline)
    result = check_run(load_run(moved), document, Tolerance.from_dict(document["tolerance"]))
    statuses = {(f.curve, f.point, f.quantity): f.status for f in result.findings}
    assert statuses[("jpeg", 20.0, "psnr-rgb")] == MOVED
    assert statuses[("tinylic", 3.0, "psnr-rgb")] == IMPROVED
    assert result.passed
    assert main(["check", str(moved), "--baseline", str(baseline)]) == 0
    assert "--update to keep them" in capsys.readouterr().out


def test_library_version_change_is_explained_not_reported_as_a_code_regression(run_dir, baseline, tmp_path, capsys):
    changed = copy_run(run_dir, tmp_path)
    edit_metric(changed, "jpeg", 80.0, "psnr-rgb", -0.5)
    with sqlite3.connect(changed / STORE_NAME) as db:
        versions = json.loads(db.execute("SELECT versions FROM codecs WHERE label = 'jpeg'").fetchone()[0])
        versions["libjpeg-turbo"] = "9.9.9"
        db.execute("UPDATE codecs SET versions = ?, config_hash = 'new' WHERE label = 'jpeg'", (json.dumps(versions),))
        db.execute("UPDATE results SET config_hash = 'new' WHERE codec = 'jpeg'")
        db.execute("UPDATE selection SET config_hash = 'new' WHERE codec = 'jpeg'")
    assert main(["check", str(changed), "--baseline", str(baseline)]) == 1
    out = capsys.readouterr().out
    assert "codec jpeg: configuration differs from the baseline's (versions libjpeg-turbo" in out
    assert "-> 9.9.9" in out and "CHANGED" in out and "REGRESSION" not in out.split("FAILED")[0]


def test_missing_curves_points_and_other_image_sets_fail(run_dir, baseline, tmp_path):
    partial = copy_run(run_dir, tmp_path)
    with sqlite3.connect(partial / STORE_NAME) as db:
        db.execute("DELETE FROM results WHERE codec = 'webp'")
        db.execute("DELETE FROM results WHERE codec = 'tinylic' AND point = 8.0")
        db.execute("DELETE FROM results WHERE codec = 'jpeg' AND image_id = 'img1'")
    document = read_baseline(baseline)
    result = check_run(load_run(partial), document, Tolerance.from_dict(document["tolerance"]))
    found = {(f.status, f.curve, f.quantity) for f in result.failures}
    assert {(MISSING, "webp", "curve"), (MISSING, "tinylic", "point"), (MISSING, "jpeg", "images")} <= found


def test_tolerance_options_are_parsed_and_validated():
    tolerance = parse_tolerances(["psnr-rgb=0.1", "bpp=2%", "bd-rate=0.5"])
    assert tolerance.metric("psnr-rgb") == 0.1 and tolerance.bpp_percent == 2.0 and tolerance.bd_rate_percent == 0.5
    assert tolerance.metric("ms-ssim-db-rgb") == 0.05 and tolerance.metric("lpips-alex") == 0.001
    for bad in ("psnr", "nope=1", "psnr-rgb=-1", "bpp=x"):
        with pytest.raises(BenchError):
            parse_tolerances([bad])


def test_missing_baseline_says_how_to_create_it(run_dir, tmp_path, capsys):
    assert main(["check", str(run_dir), "--baseline", str(tmp_path / "none.json")]) == 2
    assert "--update" in capsys.readouterr().err


def test_update_keeps_the_tolerances_of_the_existing_baseline(run_dir, tmp_path):
    path = tmp_path / "b.json"
    assert main(["check", str(run_dir), "--update", "--baseline", str(path), "--tolerance", "psnr-rgb=0.2"]) == 0
    assert main(["check", str(run_dir), "--update", "--baseline", str(path)]) == 0
    assert read_baseline(path)["tolerance"]["metrics"]["psnr-rgb"] == 0.2


def test_committed_default_baseline_is_a_full_default_run():
    document = read_baseline(ROOT / "results" / "baselines" / "default-sample.json")
    assert document["suite"]["name"] == "default" and document["run_id"] == "default-sample"
    curves = {c["codec"] for c in document["curves"]}
    assert curves == {"jpeg", "jpeg-444", "webp", "avif", "jpegxl", "jpeg2000", "hevc"}
    assert all(c["images"] == 7 and c["dataset"] == "sample" for c in document["curves"])
    assert set(document["codecs"]) == curves
    assert {"bpp_percent", "bd_rate_percent", "metrics"} == set(document["tolerance"])


def test_default_baseline_is_named_for_suite_and_datasets_and_confined(run_dir, tmp_path, monkeypatch):
    from bench import baseline

    monkeypatch.setenv(baseline.BASELINES_ENV, str(tmp_path / "baselines"))
    run = load_run(run_dir)
    assert baseline.default_baseline_path(run) == tmp_path / "baselines" / "tiny-ade20k+folder+imagenet+kodak.json"
    # A suite name with path parts cannot leave the folder.
    hostile = copy_run(run_dir, tmp_path / "copy")
    with sqlite3.connect(hostile / STORE_NAME) as db:
        suite = json.loads(db.execute("SELECT value FROM meta WHERE key = 'suite'").fetchone()[0])
        suite["name"] = "../../escape/x"
        db.execute("UPDATE meta SET value = ? WHERE key = 'suite'", (json.dumps(suite),))
    path = baseline.default_baseline_path(load_run(hostile))
    assert path.parent == tmp_path / "baselines" and ".." not in path.name and "/" not in path.name
    assert main(["check", str(hostile), "--update"]) == 0
    assert [p.name for p in (tmp_path / "baselines").iterdir()] == [path.name]
    assert not (tmp_path / "escape").exists()


def test_installed_package_keeps_the_baseline_in_the_run(run_dir, tmp_path, monkeypatch):
    from bench import baseline

    monkeypatch.delenv(baseline.BASELINES_ENV, raising=False)
    monkeypatch.setattr(baseline, "_source_checkout", lambda: None)
    copy = copy_run(run_dir, tmp_path)
    assert baseline.default_baseline_path(load_run(copy)) == copy / "baseline.json"
    assert main(["check", str(copy), "--update"]) == 0 and (copy / "baseline.json").is_file()
    assert main(["check", str(copy)]) == 0
    # Another run can be checked against that run directory's baseline.
    assert main(["check", str(run_dir), "--baseline", str(copy)]) == 0


def test_update_refuses_to_overwrite_a_baseline_of_other_datasets(run_dir, tmp_path, capsys):
    path = tmp_path / "other.json"
    document = json.loads((ROOT / "results" / "baselines" / "default-sample.json").read_text())
    path.write_text(json.dumps(document))
    assert main(["check", str(run_dir), "--update", "--baseline", str(path)]) == 2
    error = capsys.readouterr().err.strip()
    assert error.count("\n") == 0 and "curves of sample" in error and "--force" in error
    assert read_baseline(path)["run_id"] == "default-sample"  # untouched
    assert main(["check", str(run_dir), "--update", "--baseline", str(path), "--force"]) == 0
    assert read_baseline(path)["run_id"] == "tiny-folder"


@pytest.mark.parametrize("content", [b"\xff\xfe\x00garbage", b"[1, 2]", b'"text"', b"{not json",
                                     b'{"schema": "mpa-bench/baseline/1", "curves": {"a": 1}}',
                                     b'{"schema": "mpa-bench/baseline/1", "curves": [], "tolerance": {"metrics": 3}}'])
def test_garbage_baselines_are_one_clear_line(run_dir, tmp_path, capsys, content):
    path = tmp_path / "bad.json"
    path.write_bytes(content)
    assert main(["check", str(run_dir), "--baseline", str(path)]) == 2
    error = capsys.readouterr().err.strip()
    assert error.count("\n") == 0 and str(path) in error
    assert "Traceback" not in error and "--update" in error
