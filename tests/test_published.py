"""Published curves: reading CompressAI / TinyLIC / official-MPA JSON, writing CompressAI JSON, the shipped curves,
and BD-rates against published VTM (oracle: values computed with bjontegaard 1.3.0, anchors.md section 6.2)."""

import json
import math

import numpy as np
import pytest

from bench.errors import BenchError
from bench.metrics.bd import bd_rate
from bench.metrics.fidelity import ms_ssim_to_db
from bench.published import (
    CurveFileError,
    curve_from_dict,
    published_curve,
    published_curves,
    read_curve,
    write_compressai_json,
    write_curve,
)


def test_shipped_kodak_curves_and_provenance():
    curves = {curve.key: curve for curve in published_curves(dataset="kodak")}
    assert {"compressai/kodak/vtm", "compressai/kodak/hm", "tinylic/kodak/tinylic-mse"} <= set(curves)
    assert all(curve.dataset == "kodak" for curve in curves.values())
    vtm = curves["compressai/kodak/vtm"]
    assert vtm.name == "VTM" and vtm.source == "compressai" and len(vtm.points) == 8
    assert list(vtm.points.columns)[0] == "bpp"
    assert np.all(np.diff(vtm.bpp) > 0)
    assert published_curves(source="tinylic", dataset="tecnick")[0].name == "TinyLIC"
    from bench.published import published_root

    provenance = (published_root() / "PROVENANCE.md").read_text()
    assert "BSD 3-Clause Clear" in provenance and "Apache-2.0" in provenance


@pytest.mark.parametrize(
    "key, expected",
    [
        # BD-rate % vs VTM (8 points) on Kodak, pchip / akima / cubic, bjontegaard 1.3.0 (anchors.md 6.2).
        ("bpg_444_x265_ycbcr", (21.99, 21.98, 22.05)),
        ("compressai-bmshj2018-hyperprior_mse_cuda", (30.49, 30.47, 30.14)),
        ("compressai-mbt2018-mean_mse_cuda", (21.28, 21.28, 21.03)),
        ("compressai-cheng2020-anchor_mse_cuda", (3.68, 3.59, 3.79)),
        ("paper-elic2022_mse", (-7.02, -7.06, -7.17)),
        ("jpeg", (208.49, 208.49, 210.22)),
        ("webp", (78.75, 78.75, 78.14)),
    ],
)
def test_bd_rate_against_published_vtm(key, expected):
    vtm = published_curve("compressai/kodak/vtm")
    test = published_curve(f"compressai/kodak/{key}")
    for method, value in zip(("pchip", "akima", "cubic"), expected):
        result = bd_rate(vtm.bpp, vtm.own_values("psnr-rgb"), test.bpp, test.own_values("psnr-rgb"), method=method)
        assert result.value == pytest.approx(value, abs=0.005), method
        assert 0 < result.overlap_percent <= 100


def test_tinylic_aliases_and_ms_ssim_db_in_their_float_form():
    curve = published_curve("tinylic/kodak/tinylic-mse")
    # TinyLIC's legacy keys are float-reconstruction metrics at payload rate: named for that form.
    assert {"psnr-float", "ms-ssim-float", "ms-ssim-db-float"} <= set(curve.metrics) and curve.rate_key == "payload-bpp"
    assert not {"psnr-rgb", "ms-ssim-rgb", "bpp"} & set(curve.points.columns)
    assert curve.values("psnr-float")[0] == pytest.approx(29.13)
    assert curve.values("ms-ssim-db-float")[0] == pytest.approx(ms_ssim_to_db(0.9311))


def test_elic_ms_ssim_db_only_gets_linear_ms_ssim():
    curve = published_curve("compressai/kodak/paper-elic2022_ms-ssim")
    assert curve.meta["opt_metric"] == "ms-ssim-rgb" and curve.meta["url"].startswith("https://arxiv.org")
    assert curve.definitions.optimised_for == "ms-ssim"
    linear = curve.own_values("ms-ssim-rgb")
    assert [ms_ssim_to_db(v) for v in linear] == pytest.approx(curve.own_values("ms-ssim-db-rgb").tolist())


def test_official_mpa_json(tmp_path):
    """Schema of compressai.utils.eval_var_model's results_q_task<Q>.json (mpa-protocol.md section 4.1)."""
    data = {
        "name": "mpa (q_task = 8.0)",
        "description": "Inference (ans)",
        "results": {
            "psnr": [33.0, 30.0, 29.0],
            "ms-ssim": [0.98, 0.95, 0.93],
            "lpips": [0.1, 0.2, 0.3],
            "bpp": [0.5, 0.2, 0.1],
            "encoding_time": [0.1, 0.1, 0.1],
            "decoding_time": [0.1, 0.1, 0.1],
            "enc_mem": [1.0, 1.0, 1.0],
            "dec_mem": [1.0, 1.0, 1.0],
        },
    }
    path = tmp_path / "results_q_task8.0.json"
    path.write_text(json.dumps(data))
    curve = read_curve(path, source="mpa", dataset="kodak")
    assert curve.meta["format"] == "mpa" and curve.meta["q_task"] == 8.0
    # The official evaluation's definitions (payload rate, metrics of the float reconstruction) name the columns.
    definitions = curve.definitions
    assert (definitions.rate, definitions.psnr, definitions.ms_ssim, definitions.perceptual) == (
        "payload", "float", "float", "float")
    assert curve.rate_key == "payload-bpp" and curve.bpp.tolist() == [0.1, 0.2, 0.5]  # sorted by rate
    assert curve.values("psnr-float").tolist() == [29.0, 30.0, 33.0]
    assert curve.values("lpips-alex-float").tolist() == [0.3, 0.2, 0.1]
    assert "enc_mem" in curve.metrics and "psnr-rgb" not in curve.points


def test_bare_results_dict_and_errors(tmp_path):
    curve = curve_from_dict({"bpp": [0.2, 0.1], "psnr": [31.0, 29.0]})
    assert curve.values("psnr-rgb").tolist() == [29.0, 31.0]
    with pytest.raises(CurveFileError, match="no 'bpp'"):
        curve_from_dict({"results": {"psnr-rgb": [1.0]}})
    with pytest.raises(CurveFileError, match="differ in length"):
        curve_from_dict({"results": {"bpp": [1.0, 2.0], "psnr-rgb": [1.0]}})
    with pytest.raises(CurveFileError, match="both give 'psnr-rgb'"):
        curve_from_dict({"results": {"bpp": [1.0], "psnr-rgb": [1.0], "psnr": [1.0]}})
    assert curve_from_dict({"bpp": [0.1], "psnr": [30.0]}).definitions is None  # unknown: compared with nothing
    with pytest.raises(CurveFileError, match="has no 'lpips-vgg'"):
        curve.values("lpips-vgg")
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    with pytest.raises(CurveFileError, match="broken.json"):
        read_curve(broken)
    with pytest.raises(BenchError, match="compressai/kodak/vtm"):
        published_curve("compressai/kodak/vtn")


def test_write_compressai_json_round_trip(tmp_path):
    path = tmp_path / "out" / "mycodec.json"
    results = {"psnr-rgb": [30.0, float("nan")], "bpp": [0.1, 0.2], "lpips-alex": [np.float32(0.25), 0.125]}
    write_compressai_json(path, "mycodec", "Inference (run abc)", results, meta={"dataset": "kodak"})
    document = json.loads(path.read_text())
    assert list(document) == ["name", "description", "meta", "results"]
    assert list(document["results"]) == ["bpp", "psnr-rgb", "lpips-alex"]
    assert document["results"]["psnr-rgb"] == [30.0, None]  # n/a -> null, valid JSON
    assert not [p for p in path.parent.iterdir() if p.name != "mycodec.json"]  # no temp file left
    curve = read_curve(path)
    assert curve.dataset == "kodak" and curve.name == "mycodec"
    assert math.isnan(curve.values("psnr-rgb")[1])
    copy = write_curve(published_curve("compressai/kodak/vtm"), tmp_path / "vtm.json")
    again = read_curve(copy)
    vtm = published_curve("compressai/kodak/vtm")
    assert again.name == "VTM"
    assert np.allclose(again.values("psnr-rgb"), vtm.values("psnr-rgb"))
    with pytest.raises(CurveFileError, match="'bpp'"):
        write_compressai_json(tmp_path / "x.json", "x", "", {"psnr-rgb": [1.0]})
    with pytest.raises(CurveFileError, match="differ in length"):
        write_compressai_json(tmp_path / "x.json", "x", "", {"bpp": [1.0], "psnr-rgb": [1.0, 2.0]})


def _provenance_table() -> dict[str, list[str]]:
    from bench.published import published_root

    rows = {}
    for line in (published_root() / "PROVENANCE.md").read_text().splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if line.startswith("| `") and len(cells) == 7:
            rows[cells[0].strip("`")] = cells[1:]
    return rows


def test_every_shipped_file_has_definitions_and_the_provenance_table_says_the_same():
    """The mapping table: each shipped curve's definitions (definitions.toml) match PROVENANCE.md's table, and the
    learned / classical split follows the producing code (CompressAI bench: file sizes of 8-bit decodes; learned
    eval_model and TinyLIC: entropy-coded payload, float reconstruction)."""
    table = _provenance_table()
    curves = published_curves()
    assert {curve.key for curve in curves} == set(table) and len(curves) == 28
    classical = {"vtm", "hm", "av1", "bpg_444_x265_ycbcr", "jpeg", "jpeg2000", "webp"}
    for curve in curves:
        d = curve.definitions
        images = f"{d.images.name}, {d.images.count if d.images.count else '?'}"
        assert table[curve.key] == [d.rate, d.psnr, d.ms_ssim, d.perceptual, images, d.optimised_for or "–"]
        stem = curve.key.rsplit("/", 1)[-1]
        expected = ("file", "8-bit") if stem in classical else ("payload", "float")
        assert (d.rate, d.psnr) == expected, curve.key
        assert curve.rate_key == ("bpp" if d.rate == "file" else "payload-bpp")
        assert (d.optimised_for is None) == (stem in classical)
        assert d.images.name == curve.dataset and (d.images.count == 24) == (curve.dataset == "kodak")
        assert d.source and d.basis


def test_write_curve_keeps_the_definitions_and_compressai_keys(tmp_path):
    tinylic = published_curve("tinylic/kodak/tinylic-mse")
    path = write_curve(tinylic, tmp_path / "tinylic.json")
    document = json.loads(path.read_text())
    assert {"bpp", "psnr-rgb", "ms-ssim-rgb"} <= set(document["results"])  # CompressAI's keys, as plot reads them
    assert document["meta"]["definitions"]["psnr"] == "float"
    again = read_curve(path)  # no definitions.toml entry: the file's own meta says the form
    assert again.definitions == tinylic.definitions
    assert np.array_equal(again.values("psnr-float"), tinylic.values("psnr-float"))


def test_official_mpa_document_writes_the_official_form():
    import pandas as pd

    from bench.published import official_mpa_document

    points = pd.DataFrame({"bpp": [0.21, 0.11], "payload-bpp": [0.2, 0.1], "psnr-rgb": [31.0, 29.0],
                           "psnr-float": [31.1, 29.1], "lpips-alex-float": [0.2, 0.3]})
    document = official_mpa_document(points, 1.0)
    assert document["name"] == "mpa (q_task = 1)"
    assert document["results"] == {"bpp": [0.1, 0.2], "psnr": [29.1, 31.1], "lpips": [0.3, 0.2]}
    curve = curve_from_dict(document, source="mpa", dataset="kodak")
    assert curve.values("payload-bpp").tolist() == [0.1, 0.2] and curve.values("psnr-float").tolist() == [29.1, 31.1]
    with pytest.raises(CurveFileError, match="psnr-float"):
        official_mpa_document(points.drop(columns=["psnr-float"]), 1.0)
