"""Complexity profile: MACs against hand-computed values, parameter counts against the protocol, MPA's MACs against the
protocol's analytic estimate, latency bookkeeping, Table 4 rows and the CLI.

Oracles: closed-form MAC counts of single layers written out below; the parameter breakdown of
reference/mpa-protocol.md section 1.7 (computed from the official code, total equal to the notebook's printed
32,124,579); the analytic KMACs/pixel of section 4.5 (linear + conv and NA QK+AV, norms and activations excluded:
the conventions ``linear+conv`` and ``linear+conv+attention`` here); hand sums of MPA's MLP and predictor MACs.
"""

import json

import pytest
import torch
import torch.nn as nn

from bench.cli import main
from bench.codecs.layers import NeighborhoodAttention2D
from bench.codecs.mpa import MPA, MPACodec
from bench.complexity import count_macs, count_parameters
from bench.complexity.latency import time_codec, time_compressai_model, time_transformer_model
from bench.complexity.macs import LINEAR_CONV, WITH_ATTENTION, WITH_NORM_ACT, to_meta
from bench.complexity.subjects import meta_transformer
from bench.complexity.table4 import build_table4, count_part, mpa_sweep
from bench.complexity.schema import read_complexity
from bench.report.complexity import classical_latency_table, complexity_table
from bench.schema import Bitstream

TINY = dict(N=32, M=80, depths=(2, 1, 1, 1, 1, 1), num_heads=(2, 2, 2, 2, 2, 2))


def count(module, x_shape, run=None, device="cpu"):
    """Counts ``run(module, x)`` (default: module(x)) for an input of ``x_shape``."""
    module = module.eval().requires_grad_(False).to(device)
    run = run or (lambda m, x: m(x))
    height, width = x_shape[-2:]

    def call(m, image):  # count_macs makes a (B, 3, H, W) image: replace it by the shape asked for
        return run(m, torch.zeros(x_shape, device=image.device))

    return count_macs(module, call, height, width, device=device)


# --- single layers against hand-computed MACs -----------------------------------------------------------------


@pytest.mark.parametrize("device", ["cpu", "meta"])
def test_conv_transposed_conv_and_linear_macs(device):
    # Conv2d 3->4, 3x3, stride 1, on 5x6: 5*6 output positions x 4 x 3 x 9 taps
    assert count(nn.Conv2d(3, 4, 3, padding=1), (1, 3, 5, 6), device=device).linear_conv == 5 * 6 * 4 * 3 * 9
    # Conv2d 2->3, 5x5, stride 2, on 8x8: 4x4 outputs x 3 x 2 x 25
    assert count(nn.Conv2d(2, 3, 5, stride=2, padding=2), (1, 2, 8, 8), device=device).linear_conv == 16 * 3 * 2 * 25
    # ConvTranspose2d 4->2, 3x3, stride 2 on a 3x5 input (6x10 output): every input position scatters 4 x 2 x 9
    transposed = nn.ConvTranspose2d(4, 2, 3, stride=2, padding=1, output_padding=1)
    assert count(transposed, (1, 4, 3, 5), device=device).linear_conv == 3 * 5 * 4 * 2 * 9
    # Linear 5->7 on (2, 3, 5): 6 rows x 5 x 7 (bias additions are not MACs)
    assert count(nn.Linear(5, 7), (2, 3, 5), device=device).linear_conv == 2 * 3 * 5 * 7


def test_counts_are_per_image_of_a_batch():
    conv = nn.Conv2d(3, 4, 3, padding=1).requires_grad_(False)
    single = count_macs(conv, lambda m, x: m(x), 8, 8)
    batched = count_macs(conv, lambda m, x: m(x), 8, 8, batch=4)
    assert batched.batch == 4 and batched.linear_conv == single.linear_conv == 8 * 8 * 4 * 3 * 9


@pytest.mark.parametrize("backend", ["reference", "tiled"])
@pytest.mark.parametrize("device", ["cpu", "meta"])
def test_neighborhood_attention_is_counted_analytically(backend, device):
    """NA on 6x7 tokens, C = 8 (2 heads of 4), K = 3: QK = 6*7*9*8 MACs and AV as many, whatever the backend
    computes internally (the tiled path's dense tile products are not the cost)."""
    torch.manual_seed(0)
    layer = NeighborhoodAttention2D(8, 3, 2)
    layer.backend = backend
    result = count(layer, (1, 6, 7, 8), device=device)
    qk = av = 6 * 7 * 9 * 8
    qkv, proj = 6 * 7 * 8 * 24, 6 * 7 * 8 * 8
    assert result.attention == qk + av
    assert result.macs(LINEAR_CONV) == qkv + proj
    assert result.macs(WITH_ATTENTION) == qkv + proj + qk + av
    assert result.norm_act == 6 * 7 * 2 * 9  # one softmax weight per query, head and key
    assert result.modules["(model)"]["attention"] == qk + av


def test_norms_and_activations_count_one_per_element():
    block = nn.Sequential(nn.LayerNorm(8), nn.Linear(8, 16), nn.GELU(), nn.Linear(16, 8))
    result = count(block, (1, 5, 8))
    assert result.linear_conv == 5 * 8 * 16 * 2
    assert result.norm_act == 5 * 8 + 5 * 16  # LayerNorm output + GELU output
    assert result.macs(WITH_NORM_ACT) == result.linear_conv + result.norm_act


def test_meta_and_real_tensors_give_the_same_count_for_mpa(tiny_mpa):
    def run(m, x):
        return m(x, quality=3.5, q_task=5.0, task_idx=1)

    real = count_macs(tiny_mpa, run, 256, 256)
    meta = count_macs(to_meta(tiny_mpa), run, 256, 256)
    assert meta.pixels == real.pixels and next(to_meta(tiny_mpa).parameters()).is_meta
    assert (real.linear_conv, real.attention, real.norm_act) == (meta.linear_conv, meta.attention, meta.norm_act)
    assert real.categories == meta.categories and real.attention > 0


# --- parameters of the official architectures (protocol section 1.7) -------------------------------------------


def test_parameter_counts_of_the_official_architectures():
    mpa = count_parameters(meta_transformer("mpa"))
    assert mpa.total == 32_124_579
    assert mpa.main == 28_461_091  # the model without any side path or predictor
    assert mpa.encoder_side_paths == 507_328 and mpa.encoder_predictors == 32_944
    assert mpa.decoder_side_paths == {"mse": 2_009_728, "cls": 507_328, "seg": 507_328}
    assert mpa.decoder_predictors == {"mse": 32_944, "cls": 32_944, "seg": 32_944}
    assert [mpa.task_addon(t) for t in ("mse", "cls", "seg")] == [2_042_672, 540_272, 540_272]
    assert mpa.encoder_side_paths + mpa.encoder_predictors == 540_272
    enc = count_parameters(meta_transformer("mpa-enc"))
    assert enc.total == 29_001_363 and enc.main == 28_461_091 and not enc.decoder_side_paths
    assert mpa.total - enc.total == 3_123_216
    tinylic = count_parameters(meta_transformer("tinylic"))
    assert tinylic.total == tinylic.main == 28_338_211


# --- MPA's MACs against the protocol's analytic estimate (section 4.5) -----------------------------------------

# (q, q_task, task_idx): (linear + conv, NA QK+AV) KMACs per pixel at 256x256, as printed (0.1 resolution)
PROTOCOL_ESTIMATE = {
    (1, 1, 0): (358.9, 22.5), (1, 1, 2): (358.9, 22.5),
    (8, 1, 0): (415.7, 22.5),
    (1, 8, 0): (358.9, 22.5),
    (1, 8, 1): (302.1, 22.5), (1, 8, 2): (302.1, 22.5),
}
TASKS = ("mse", "cls", "seg")


@pytest.fixture(scope="module")
def meta_mpa():
    return meta_transformer("mpa")


@pytest.fixture(scope="module")
def official_sweep(meta_mpa):
    """The full-size MPA's sweep at the corners q in {1, 8}, alpha in {0, 1} (q_task 1 and 8), every task."""
    return mpa_sweep(meta_mpa, 256, 256, qualities=(1.0, 8.0), alphas=(0.0, 1.0))


def sweep_point(sweep, q, q_task, task_idx):
    return next(p for p in sweep if p.quality == q and p.q_task == q_task and p.task == TASKS[task_idx])


@pytest.mark.parametrize("config", list(PROTOCOL_ESTIMATE))
def test_mpa_macs_match_the_protocol_estimate(official_sweep, config):
    result = sweep_point(official_sweep, *config).macs
    linear_conv, attention = PROTOCOL_ESTIMATE[config]
    assert result.kmacs_per_pixel(LINEAR_CONV) == pytest.approx(linear_conv, abs=0.05)
    assert result.attention / 65536 / 1e3 == pytest.approx(attention, abs=0.05)
    assert result.kmacs_per_pixel(WITH_ATTENTION) == pytest.approx(linear_conv + attention, abs=0.1)


def test_the_sweep_equals_a_full_forward_of_the_official_model(meta_mpa, official_sweep):
    full = count_macs(meta_mpa, lambda m, x: m(x, quality=1.0, q_task=8.0, task_idx=1), 256, 256)
    point = sweep_point(official_sweep, 1.0, 8.0, 1).macs
    assert (full.linear_conv, full.attention, full.norm_act) == (point.linear_conv, point.attention, point.norm_act)


@pytest.fixture(scope="module")
def tiny_mpa():
    torch.manual_seed(0)
    model = MPA(**TINY).eval()
    with torch.no_grad():
        model.g_a6.weight.mul_(4.0)  # nonzero symbols
    model.update(force=True)
    return model.requires_grad_(False)


def test_macs_per_pixel_do_not_depend_on_the_image_size(tiny_mpa):
    def run(m, x):
        return m(x, quality=4.0, q_task=3.0, task_idx=2)

    small = count_macs(tiny_mpa, run, 256, 256)
    wide = count_macs(tiny_mpa, run, 256, 512)
    assert wide.kmacs_per_pixel() == pytest.approx(small.kmacs_per_pixel(), rel=1e-3)


def test_sweep_combination_equals_full_forwards(tiny_mpa):
    sweep = mpa_sweep(tiny_mpa, 256, 256, qualities=(1.0, 4.5), alphas=(0.0, 3 / 7, 1.0))
    assert len(sweep) == 2 * 3 * 3
    for point in sweep:
        if (point.quality, point.alpha, point.task) in ((4.5, 3 / 7, "cls"), (1.0, 1.0, "seg"), (4.5, 0.0, "mse")):
            full = count_macs(tiny_mpa, lambda m, x: m(x, quality=point.quality, q_task=point.q_task,
                                                       task_idx=TASKS.index(point.task)), 256, 256)
            assert (point.macs.linear_conv, point.macs.attention, point.macs.norm_act) == \
                (full.linear_conv, full.attention, full.norm_act)
            assert point.macs.categories == full.categories


def test_count_part_names_modules_by_their_path_in_the_model(tiny_mpa):
    part = count_part(tiny_mpa, lambda x: tiny_mpa.g_a(x, 2.0), 256, 256)
    assert set(part.modules) == {"g_a0", "g_a1", "g_a2", "g_a3", "g_a4", "g_a5", "g_a6", "g_a7"}
    assert "analysis: predictors" in part.categories


# --- Table 4 -----------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def table4(meta_mpa, official_sweep):
    latency = {"TinyLIC": {"encode": 6.0, "decode": 7.0, "total": 13.0},
               "MPA": [{"encode": 6.0, "decode": 7.0, "total": 13.0}, {"encode": 6.5, "decode": 7.5, "total": 14.0}]}
    return build_table4(meta_mpa, meta_transformer("tinylic"), official_sweep, latency)


def test_table4_rows_from_the_measured_architectures(table4):
    rows = {row["name"]: row for row in table4.rows}
    assert list(rows) == ["TinyLIC", "+ MLPs", "+ Predictors", "+ S & A", "MPA"]  # the poster's rows, once each
    related = {row["name"]: row for row in table4.related}
    assert rows["TinyLIC"]["params"] == 28_338_211
    assert related["TinyLIC (MPA main path)"]["params"] == 28_461_091
    # the main path alone costs what TinyLIC costs (gains and layer scales are element-wise)
    assert related["TinyLIC (MPA main path)"]["kmacs_per_pixel"] == pytest.approx(rows["TinyLIC"]["kmacs_per_pixel"])
    assert rows["+ MLPs"]["range"]["params"] == [507_328, 2_009_728]
    # Every encoder token on the FastMlp instead of the main Mlp saves 3 d^2 MACs per token and block:
    # g_a1 2 blocks d=128 at 1/4 token per pixel, g_a3 2 x 192 at 1/16, g_a5 6 x 256 at 1/64.
    saving = (2 * 3 * 128**2 / 4 + 2 * 3 * 192**2 / 16 + 6 * 3 * 256**2 / 64) / 1e3
    low, high = rows["+ MLPs"]["range"]["kmacs_per_pixel"]
    assert low == pytest.approx(-saving) and high == pytest.approx(0.0, abs=1e-9)  # SlowMlp = main Mlp cost
    # One predictor set: Linear(d, d/4), Linear(d/4, d/16), Linear(d/16, 1) per token of the three layers
    predictors = sum((d * d // 4 + d // 4 * d // 16 + d // 16) * density
                     for d, density in ((128, 1 / 4), (192, 1 / 16), (256, 1 / 64))) / 1e3
    assert rows["+ Predictors"]["params"] == 32_944
    assert rows["+ Predictors"]["kmacs_per_pixel"] == pytest.approx(predictors)
    assert rows["+ S & A"]["params"] == 0 and rows["+ S & A"]["kmacs_per_pixel"] == 0
    assert rows["MPA"]["range"]["params"] == [29_001_363, 30_503_763]
    assert rows["MPA"]["range"]["kmacs_per_pixel"] == pytest.approx([381.4, 438.2], abs=0.05)  # protocol 4.5
    assert rows["MPA"]["range"]["latency_ms"] == [13.0, 14.0]
    assert related["MPA (all paths)"]["params"] == 32_124_579
    assert related["MPA (all paths)"]["kmacs_per_pixel"] == pytest.approx([324.5, 438.2], abs=0.05)


def test_table4_sentence_names_the_closest_convention_with_measured_numbers(table4):
    comparison = table4.conventions
    best = min(comparison, key=lambda name: comparison[name]["mean_abs_relative_difference"])
    assert table4.best_convention == best
    assert f"{comparison[best]['tinylic']:.2f} vs 439.29" in table4.sentence
    # without attention the counts are far lower than the paper's: attention is part of the paper's number
    assert comparison[LINEAR_CONV]["mean_abs_relative_difference"] > 0.05
    assert comparison[WITH_ATTENTION]["mean_abs_relative_difference"] < 0.015
    assert "28,461,091" in table4.params_sentence and "+0.00%" in table4.params_sentence


# --- latency bookkeeping -----------------------------------------------------------------------------------------


class _ScriptedCodec:
    """A codec whose recorded timings are scripted, to check warm-up exclusion and medians without timing."""

    name = "scripted"

    def __init__(self):
        self.calls = 0

    def encode(self, x, point):
        self.calls += 1
        return Bitstream(b"x", 1, 1, 1, timings={"network": float(self.calls), "entropy": 10.0 * self.calls})

    def decode_variants(self, bitstream, variants):
        from bench.codecs.base import Decoded

        for variant in variants:
            yield Decoded(variant, torch.zeros(1, 3, 1, 1), 0.0, {"synthesis": 100.0 * self.calls})


def test_warmup_runs_are_dropped_and_each_part_is_a_median():
    codec = _ScriptedCodec()
    latency = time_codec(codec, torch.zeros(1, 3, 4, 4), 1, ["a", "b"], warmup=2, repeats=3)
    assert codec.calls == 5
    assert latency["a"].encode_parts == {"network": 4.0, "entropy": 40.0}  # median of runs 3, 4, 5
    assert latency["b"].decode_parts == {"synthesis": 400.0}
    assert latency["a"].encode > 0 and latency["a"].repeats == 3 and latency["a"].warmup == 2
    with pytest.raises(ValueError, match="repeats"):
        time_codec(codec, torch.zeros(1, 3, 4, 4), 1, ["a"], warmup=0, repeats=0)


def test_codec_latency_uses_the_codecs_own_split(tiny_mpa):
    codec = MPACodec.from_model(tiny_mpa, alphas=(0.0, 1.0), tasks=("cls",))
    image = torch.rand(1, 3, 200, 232)
    latency = time_codec(codec, image, 3.0, codec.decoder_variants(), warmup=0, repeats=1)
    assert set(latency) == {"alpha=0.0,task=cls", "alpha=1.0,task=cls"}
    for result in latency.values():
        assert set(result.encode_parts) == {"network", "entropy"}
        assert set(result.decode_parts) == {"entropy", "synthesis"}
        assert result.batch == 1
        assert json.dumps(result.as_dict())


def test_batched_latency_through_the_model_steps(tiny_mpa):
    image = torch.rand(1, 3, 200, 232)
    latency = time_transformer_model(tiny_mpa, image, 2, 3.0, [("perceptual", 1.0, 0), ("cls", 8.0, 1)],
                                     torch.device("cpu"), warmup=0, repeats=1)
    assert set(latency) == {"perceptual", "cls"}
    result = latency["cls"].as_dict()
    assert result["batch"] == 2 and result["encode_batch"] == pytest.approx(2 * result["encode"])
    assert set(result["encode_parts"]) == {"network", "entropy"}


def test_batched_latency_of_a_compressai_model():
    from compressai.zoo import image_models

    torch.manual_seed(0)
    model = image_models["bmshj2018-factorized"](quality=1).eval()
    model.update(force=True)
    latency = time_compressai_model(model, torch.rand(1, 3, 64, 64), 2, torch.device("cpu"), warmup=0, repeats=1)
    assert latency["default"].batch == 2 and latency["default"].decode > 0


# --- command line ------------------------------------------------------------------------------------------------


def test_cli_profile_writes_json_the_report_reads(tmp_path, capsys):
    out = tmp_path / "complexity.json"
    status = main(["profile", "tinylic", "jpeg", "--size", "64x96", "--repeats", "2", "--warmup", "0", "-o",
                   str(out), "--no-latency"])
    assert status == 0
    printed = capsys.readouterr().out
    assert "tinylic" in printed and "434.26" in printed and f"wrote {out}" in printed
    data = json.loads(out.read_text())
    profiles = {p["codec"]: p for p in data["profiles"]}
    assert profiles["tinylic"]["params"]["total"] == 28_338_211
    assert profiles["tinylic"]["macs_input"] == {"height": 256, "width": 256}  # padded as the codec pads
    assert profiles["jpeg"]["params"] is None
    models = read_complexity(out)
    assert [m.name for m in models] == ["tinylic", "jpeg"] and models[1].kmacs_per_pixel is None
    assert [m.kind for m in models] == ["learned", "classical"]
    # Table 4 holds the learned model only; the classical codec has its own latency table (not measured here).
    assert [row[0] for row in complexity_table(models).rows] == ["tinylic"]
    assert classical_latency_table(models).rows == [["jpeg", "–", "–", "–"]]


def test_cli_profile_of_a_run_times_its_classical_codecs(tmp_path, capsys):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "suite.toml").write_text('name = "t"\ndatasets = ["sample"]\n\n[[codecs]]\ncodec = "jpeg"\n'
                                        'label = "jpeg-444"\noptions = { subsampling = "4:4:4" }\n')
    status = main(["profile", "--run", str(run_dir), "--size", "48x64", "--repeats", "2", "--warmup", "1"])
    assert status == 0
    data = json.loads((run_dir / "complexity.json").read_text())
    (row,) = data["models"]
    assert row["name"] == "jpeg-444" and row["latency_ms"]["repeats"] == 2 and row["latency_ms"]["encode"] > 0
    assert data["input"] == {"height": 48, "width": 64, "batch": 1}
    assert data["environment"]["machine"]["torch_threads"] >= 1 and "cpu" in data["device"]
    # Classical codecs are timed with one torch thread by default, said in the row and the notes; the tensor
    # conversion is outside the timed region and recorded apart.
    assert row["threads"] == 1 and row["device"].endswith("(cpu, 1 torch thread)") and data["threads"] == 1
    assert any("1 torch thread(s) per process" in note for note in data["notes"])
    assert set(row["latency_ms"]["conversion"]) == {"encode", "decode"}


def test_profile_of_a_run_profiles_every_label_with_its_options(tmp_path):
    from bench.complexity.runner import select_entries

    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "suite.toml").write_text(
        'name = "t"\ndatasets = ["sample"]\n\n[[codecs]]\ncodec = "jpeg"\n\n[[codecs]]\ncodec = "jpeg"\n'
        'label = "jpeg-444"\noptions = { subsampling = "4:4:4" }\n\n[[codecs]]\ncodec = "mpa"\n'
        'options = { checkpoint = "a.pth", tasks = ["mse"] }\n\n[[codecs]]\ncodec = "mpa"\nlabel = "mpa-cls"\n'
        'options = { checkpoint = "a.pth", tasks = ["cls"] }\n')
    entries = select_entries([], run_dir)
    # jpeg-444 is a codec of its own (its options differ); MPA's task labels share one model and are profiled once
    assert [(codec, label) for codec, label, _ in entries] == [("jpeg", "jpeg"), ("jpeg", "jpeg-444"), ("mpa", "mpa")]
    assert entries[1][2] == {"subsampling": "4:4:4"}


def test_cli_profile_errors_are_one_line(capsys):
    assert main(["profile", "not-a-codec", "--no-latency"]) == 2
    assert "unknown codec" in capsys.readouterr().err
    assert main(["profile", "jpeg", "--device", "cuda:99", "--no-latency"]) == 2
    assert "cuda:99" in capsys.readouterr().err


@pytest.mark.slow
def test_cli_profile_mpa_and_tinylic_full_size_with_latency(tmp_path, capsys):
    """The README's command at the paper's size: Table 4, the sweep and latency of the full-size models."""
    out = tmp_path / "complexity.json"
    assert main(["profile", "mpa", "tinylic", "--quality", "1", "8", "--repeats", "1", "--warmup", "0",
                 "-o", str(out)]) == 0
    data = json.loads(out.read_text())
    names = [row["name"] for row in data["models"]]
    assert names[:5] == ["TinyLIC", "+ MLPs", "+ Predictors", "+ S & A", "MPA"]  # the poster's rows, once each
    # Table 4 of the report: the poster's rows only (the profiled tinylic and mpa rows are not repeated).
    assert [row[0] for row in complexity_table(read_complexity(out)).rows] == names[:5]
    assert len(data["mpa_sweep"]["points"]) == 8 * 8 * 3
    mpa = next(row for row in data["models"] if row["name"] == "MPA")
    assert len(mpa["range"]["latency_ms"]) == 2
    table = complexity_table(read_complexity(out))
    assert data["convention"]["sentence"] in table.notes


def test_unknown_codec_fails_before_any_profiling(capsys):
    from bench.cli import main

    assert main(["profile", "tinylic", "jpegg", "--no-latency"]) == 2
    err = capsys.readouterr().err
    assert "unknown codec 'jpegg'" in err and "did you mean jpeg" in err
    assert "profiling tinylic" not in err
