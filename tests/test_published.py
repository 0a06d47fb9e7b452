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
        result = bd_rate(vtm.bpp, vtm.values("psnr-rgb"), test.bpp, test.values("psnr-rgb"), method=method)
        assert result.value == pytest.approx(value, abs=0.005), method
        assert 0 < result.overlap_percent <= 100


def test_tinylic_aliases_and_ms_ssim_db():
    curve = published_curve("tinylic/kodak/tinylic-mse")
    assert {"psnr-rgb", "ms-ssim-rgb", "ms-ssim-db-rgb"} <= set(curve.metrics)
    assert curve.values("psnr-rgb")[0] == pytest.approx(29.13)
    assert curve.values("ms-ssim-db-rgb")[0] == pytest.approx(ms_ssim_to_db(0.9311))


def test_elic_ms_ssim_db_only_gets_linear_ms_ssim():
    curve = published_curve("compressai/kodak/paper-elic2022_ms-ssim")
    assert curve.meta["opt_metric"] == "ms-ssim-rgb" and curve.meta["url"].startswith("https://arxiv.org")
    linear = curve.values("ms-ssim-rgb")
    assert [ms_ssim_to_db(v) for v in linear] == pytest.approx(curve.values("ms-ssim-db-rgb").tolist())


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
    assert curve.meta["format"] == "mpa" and curve.meta["q_task"] == 8.0 and curve.meta["psnr_mode"] == "float"
    assert curve.bpp.tolist() == [0.1, 0.2, 0.5]  # sorted by rate
    assert curve.values("psnr-rgb").tolist() == [29.0, 30.0, 33.0]
    assert curve.values("lpips-alex").tolist() == [0.3, 0.2, 0.1]
    assert "enc_mem" in curve.metrics


def test_bare_results_dict_and_errors(tmp_path):
    curve = curve_from_dict({"bpp": [0.2, 0.1], "psnr": [31.0, 29.0]})
    assert curve.values("psnr-rgb").tolist() == [29.0, 31.0]
    with pytest.raises(CurveFileError, match="no 'bpp'"):
        curve_from_dict({"results": {"psnr-rgb": [1.0]}})
    with pytest.raises(CurveFileError, match="differ in length"):
        curve_from_dict({"results": {"bpp": [1.0, 2.0], "psnr-rgb": [1.0]}})
    with pytest.raises(CurveFileError, match="canonical key"):
        curve_from_dict({"results": {"bpp": [1.0], "psnr-rgb": [1.0], "psnr": [1.0]}})
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
