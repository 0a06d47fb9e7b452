"""complexity.json reader: the profiler's extensions (null values, measured ranges, relative rows, notes, the MPA
sweep) and the relative differences against the poster's numbers, computed by hand below."""

import json
import math

import pytest

from bench.complexity.schema import (
    SCHEMA,
    ComplexityFileError,
    parse_published,
    read_complexity,
    read_complexity_sweep,
    relative_difference,
)
from bench.report.complexity import (
    classical_latency_table,
    complexity_frame,
    complexity_sweep_tables,
    complexity_table,
    table4_models,
)

MINUS = "\u2212"


def test_parse_published_reads_signed_values_only_for_relative_rows():
    assert parse_published("+0.51M~+2.04M") is None
    assert parse_published("+0.51M~+2.04M", relative=True) == (0.51e6, 2.04e6)
    assert parse_published("-56.68~+0", relative=True) == (-56.68, 0.0)
    assert parse_published("+2.23", relative=True) == (2.23, 2.23)
    assert parse_published("29.00M~30.53M") == (29.00e6, 30.53e6)


def test_relative_difference_is_bound_by_bound():
    assert relative_difference((381.37, 438.21), (384.84, 441.52)) == pytest.approx(
        ((381.37 - 384.84) / 384.84, (438.21 - 441.52) / 441.52))
    assert relative_difference((-56.83, 0.0), (-56.68, 0.0)) == pytest.approx(((-56.83 + 56.68) / 56.68, None))
    assert relative_difference(None, (1.0, 1.0)) is None and relative_difference((1.0, 1.0), None) is None


@pytest.fixture
def document(tmp_path):
    path = tmp_path / "complexity.json"
    path.write_text(json.dumps({
        "schema": SCHEMA,
        "notes": ["MACs do not depend on weights."],
        "convention": {"name": "linear+conv+attention", "sentence": "Counting X reproduces the paper.",
                       "params_sentence": "#Param.: Y."},
        "mpa_sweep": {"points": [
            {"quality": q, "alpha": a, "q_task": 1 + 7 * a, "task": t, "kmacs_per_pixel": 300 + 10 * q - 50 * a}
            for q in (1.0, 8.0) for a in (0.0, 1.0) for t in ("mse", "cls")]},
        "models": [
            {"name": "TinyLIC", "params": 28_338_211, "kmacs_per_pixel": 434.26, "latency_ms": None},
            {"name": "+ MLPs", "relative": True, "params": 507_328, "kmacs_per_pixel": -56.83, "latency_ms": None,
             "range": {"params": [507_328, 2_009_728], "kmacs_per_pixel": [-56.83, 0.0]}},
            {"name": "MPA", "params": 29_001_363, "kmacs_per_pixel": 381.37,
             "latency_ms": {"encode": 600.0, "decode": 700.0, "total": 1300.0},
             "range": {"params": [29_001_363, 30_503_763], "kmacs_per_pixel": [381.37, 438.21],
                       "latency_ms": [1300.0, 1400.0]}},
            {"name": "jpeg", "params": None, "kmacs_per_pixel": None, "paper": {},
             "latency_ms": {"encode": 1.0, "decode": 0.5}},
        ],
    }))
    return path


def test_extended_rows_in_table_4(document):
    models = read_complexity(document)
    tinylic, mlps, mpa, jpeg = models
    assert tinylic.latency_ms is None and mlps.relative and jpeg.params is None and jpeg.paper == {}
    table = complexity_table(models)
    rows = {row[0]: row for row in table.rows}
    # (28.338211 - 28.46) / 28.46 = -0.428 %; (434.26 - 439.29) / 439.29 = -1.145 %
    assert rows["TinyLIC"] == ["TinyLIC", "28.34", "28.46M", f"{MINUS}0.43%", "434.26", "439.29", f"{MINUS}1.15%",
                               "–", "–", "12.68"]
    # (0.507328 - 0.51) / 0.51 = -0.52 %, (2.009728 - 2.04) / 2.04 = -1.48 %; (-56.83 + 56.68) / 56.68 = -0.26 %,
    # and the paper's upper bound 0 has no relative difference
    assert rows["+ MLPs"][1:7] == ["+0.51~+2.01", "+0.51M~+2.04M", f"{MINUS}0.52%~{MINUS}1.48%",
                                   f"{MINUS}56.83~+0.00", f"{MINUS}56.68~+0", f"{MINUS}0.26%~–"]
    # (29.001363 - 29.00) / 29.00 = +0.00 %, (30.503763 - 30.53) / 30.53 = -0.09 %
    assert rows["MPA"][1:4] == ["29.00~30.50", "29.00M~30.53M", f"+0.00%~{MINUS}0.09%"]
    assert rows["MPA"][7:9] == ["1300.00~1400.00", "600.00 / 700.00"]
    # Learned models only: the classical codec's latency has its own table.
    assert list(rows) == ["TinyLIC", "+ MLPs", "MPA"] and jpeg.kind == "classical"
    assert classical_latency_table(models).rows == [["jpeg", "1.00", "0.50", "1.50"]]
    assert table.notes[1:4] == ["MACs do not depend on weights.", "Counting X reproduces the paper.", "#Param.: Y."]
    assert table.title == "Complexity of the learned models (the MPA poster's Table 4)"


def test_extended_rows_in_the_frame(document):
    frame = complexity_frame(read_complexity(document)).set_index("model")
    assert frame.loc["MPA", "params_m_low"] == pytest.approx(29.001363)
    assert frame.loc["MPA", "params_m"] == pytest.approx((29.001363 + 30.503763) / 2)
    assert frame.loc["MPA", "relative_difference_kmacs_per_pixel_high"] == pytest.approx((438.21 - 441.52) / 441.52)
    assert math.isnan(frame.loc["jpeg", "params_m"]) and frame.loc["+ MLPs", "relative"]
    assert math.isnan(frame.loc["+ MLPs", "relative_difference_kmacs_per_pixel_high"])


def test_sweep_tables_one_per_task(document):
    mse, cls = complexity_sweep_tables(read_complexity_sweep(document))
    assert mse.title.endswith("mse decoder") and cls.title.endswith("cls decoder")
    assert mse.columns == ["q", "α = 0", "α = 1"]
    # 300 + 10 q - 50 alpha
    assert mse.rows == [["1", "310.00", "260.00"], ["8", "380.00", "330.00"]] == cls.rows
    assert complexity_sweep_tables([]) == []


def test_malformed_range_is_one_error_naming_the_row(tmp_path):
    path = tmp_path / "complexity.json"
    path.write_text(json.dumps({"schema": SCHEMA, "models": [
        {"name": "MPA", "params": 1, "kmacs_per_pixel": 1.0, "latency_ms": None, "range": {"params": [1]}}]}))
    with pytest.raises(ComplexityFileError, match=r"models\[0\]: range.params must be \[low, high\]"):
        read_complexity(path)


def _bars(document):
    from matplotlib.container import BarContainer

    from bench.report.plots import complexity_figure, figure_with_style

    learned = table4_models(read_complexity(document))
    figure, data = figure_with_style(complexity_figure, complexity_frame(learned), "Table 4")
    axes = [axis for axis in figure.axes if axis.get_ylabel()]
    return [[b.get_height() for c in axis.containers if isinstance(c, BarContainer) for b in c] for axis in axes], data


def test_complexity_figure_draws_absolute_rows_and_no_gpu_latency_beside_cpu(document):
    heights, data = _bars(document)
    assert 434.26 in heights[1]  # TinyLIC's measured KMACs/pixel is drawn, not only the poster's 439.29
    assert "+ MLPs" not in set(data["model"])  # a change is no bar on an absolute axis
    # Latency measured without a GPU: the poster's RTX 3090 milliseconds are not drawn beside it.
    assert set(data[data["panel"] == "latency_ms"]["series"]) == {"measured"}
    assert [h for h in heights[2] if math.isfinite(h)] == [1350.0]  # MPA (1300~1400); TinyLIC not timed


def test_complexity_figure_draws_the_poster_latency_beside_gpu_latency(document):
    data = json.loads(document.read_text())
    data["device"] = "NVIDIA H200 (cuda:0)"
    document.write_text(json.dumps(data))
    _, frame = _bars(document)
    paper = frame[(frame["panel"] == "latency_ms") & (frame["series"] == "paper")].set_index("model")["value"]
    assert paper["TinyLIC"] == pytest.approx(12.68) and paper["MPA"] == pytest.approx((12.72 + 13.05) / 2)
