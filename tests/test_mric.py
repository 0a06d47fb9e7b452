"""The MRIC-style model: its own layout (keys and shapes written down here), one bitstream decoded into K betas
with one entropy decode, real bytes decoded from the bytes alone, strict loading, MACs by hand, Table 4's row.

Oracles: the layout table below (the transforms' part derived from CompressAI's ELIC table with N = 256, the rest
written from the documented architecture); closed forms of the Fourier features and of the conditional block;
hand counts of multiply-accumulates; a standalone decode of each variant for the shared entropy decode.
"""

import json
import math
from pathlib import Path
from unittest import mock

import pytest
import torch

from bench.errors import BenchError

from bench.checkpoints import CheckpointMismatch
from bench.codecs.elic import ELIC, ELICCodec
from bench.codecs.elic_blocks import ConditionalResidualBottleneckBlock, ResidualBottleneckBlock
from bench.codecs.learned import pad_center
from bench.codecs.mric import (
    MRIC,
    MRICCodec,
    beta_conditioning_macs,
    format_variant,
    fourier_features,
    parse_variant,
    table4_breakdown,
)
from bench.complexity.table4 import count_part
from bench.schema import Bitstream
from bench.tensors import uint8_to_tensor

ELIC_SCHEMA = json.loads((Path(__file__).parent / "assets" / "elic2022_official_state_dict.json").read_text())
# random weights, test only
TINY = dict(N=32, M=40, hyper_hidden=32, hyper_channels=24, num_slices=5, max_support_slices=3, slice_hidden=(16, 16),
            condition_channels=32)
BETAS = (0.0, 0.32, 1.28, 2.56)
CONDITIONAL = (2, 3, 4, 7, 8, 9, 11, 12, 13)  # indices of g_s's residual blocks (ELIC's synthesis layout)


def mric_layout() -> dict[str, tuple[int, ...]]:
    """Every key and shape of the default MRIC (N 256, M 320, z 192, 10 slices of 32, support 5, condition 512)."""
    layout: dict[str, tuple[int, ...]] = {}
    widen = {192: 256, 96: 128}  # ELIC's N = 192 (and N/2) -> 256 (128); M = 320 and the 3 RGB channels stay
    for key, shape in ELIC_SCHEMA["state_dict"].items():
        if key.startswith(("g_a.", "g_s.")):
            layout[key] = tuple(widen.get(s, s) for s in shape)
    for index in CONDITIONAL:
        layout.update({f"g_s.{index}.proj1.weight": (128, 512), f"g_s.{index}.proj2.weight": (128, 512),
                       f"g_s.{index}.proj3.weight": (256, 512)})
    layout.update({
        "beta_mlp.0.weight": (512, 21), "beta_mlp.0.bias": (512,), "beta_mlp.2.weight": (512, 512),
        "beta_mlp.2.bias": (512,),
        "h_a.0.weight": (320, 320, 3, 3), "h_a.0.bias": (320,), "h_a.2.weight": (256, 320, 5, 5),
        "h_a.2.bias": (256,), "h_a.4.weight": (192, 256, 5, 5),
        "h_s.0.weight": (192, 192, 5, 5), "h_s.0.bias": (192,), "h_s.2.weight": (192, 256, 5, 5),
        "h_s.2.bias": (256,), "h_s.4.weight": (256, 640, 3, 3), "h_s.4.bias": (640,),
        "entropy_bottleneck.quantiles": (192, 1, 3), "entropy_bottleneck.target": (3,),
        "entropy_bottleneck.likelihood_lower_bound.bound": (1,), "entropy_bottleneck._offset": (0,),
        "entropy_bottleneck._quantized_cdf": (0,), "entropy_bottleneck._cdf_length": (0,),
        "gaussian_conditional._offset": (0,), "gaussian_conditional._quantized_cdf": (0,),
        "gaussian_conditional._cdf_length": (0,), "gaussian_conditional.scale_table": (0,),
        "gaussian_conditional.scale_bound": (1,), "gaussian_conditional.likelihood_lower_bound.bound": (1,),
        "gaussian_conditional.lower_bound_scale.bound": (1,),
    })
    for i, (rows, columns) in enumerate([(3, 1), (3, 3), (3, 3), (3, 3), (1, 3)]):
        layout[f"entropy_bottleneck.matrices.{i}"] = (192, rows, columns)
        layout[f"entropy_bottleneck.biases.{i}"] = (192, rows, 1)
        if i < 4:
            layout[f"entropy_bottleneck.factors.{i}"] = (192, rows, 1)
    for i in range(10):
        support = 32 * (1 + min(i, 5))  # slice i's share of the hyper output, then up to five decoded slices
        for name, inputs in (("cc_mean_transforms", support), ("cc_scale_transforms", support),
                             ("lrp_transforms", support + 32)):
            layout.update({f"{name}.{i}.0.weight": (224, inputs, 5, 5), f"{name}.{i}.0.bias": (224,),
                           f"{name}.{i}.2.weight": (128, 224, 5, 5), f"{name}.{i}.2.bias": (128,),
                           f"{name}.{i}.4.weight": (32, 128, 3, 3), f"{name}.{i}.4.bias": (32,)})
    return layout


def random_mric(seed=0):
    torch.manual_seed(seed)
    model = MRIC(**TINY).eval()
    with torch.no_grad():
        model.g_a[13].weight.mul_(8.0)  # nonzero symbols
    model.update(force=True)
    return model


# --- layout --------------------------------------------------------------------------------------------------------


def test_state_dict_follows_the_documented_layout():
    with torch.device("meta"):
        model = MRIC()
    assert {k: tuple(v.shape) for k, v in model.state_dict().items()} == mric_layout()
    buffers = {k for k, _ in model.named_buffers()}
    parameters = sum(math.prod(shape) for key, shape in mric_layout().items() if key not in buffers)
    assert sum(p.numel() for p in model.parameters()) == parameters == 80_508_675


def test_fourier_features_and_the_conditional_block_in_closed_form():
    features = fourier_features(0.75, 3)
    expected = [0.75, math.sin(0.75), math.cos(0.75), math.sin(1.5), math.cos(1.5), math.sin(3.0), math.cos(3.0)]
    torch.testing.assert_close(features, torch.tensor([expected]), rtol=0, atol=1e-6)
    torch.manual_seed(0)
    block = ConditionalResidualBottleneckBlock(8, 6)
    plain = ResidualBottleneckBlock(8)
    plain.load_state_dict({k: v for k, v in block.state_dict().items() if ".proj" not in f".{k}"})
    x, condition = torch.randn(2, 8, 5, 7), torch.randn(2, 6)
    with torch.no_grad():
        for projection in (block.proj1, block.proj2):
            projection.weight.zero_()
        shift = block.proj3(condition)[:, :, None, None]
        torch.testing.assert_close(block(x, condition), plain(x) + shift)  # P3 c is added after conv3


# --- one bitstream, K betas ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def setup(tmp_path_factory, kodak_image):
    folder = tmp_path_factory.mktemp("mric")
    torch.save({"state_dict": random_mric(1).state_dict()}, folder / "mric_q1.pth.tar")
    codec = MRICCodec(checkpoint=str(folder / "mric_q1.pth.tar"), betas=BETAS)
    x = uint8_to_tensor(kodak_image[100:160, 300:400].copy())  # 60 x 100: padded to 64 x 128
    bitstream = codec.encode(x, 1)
    model = codec.model(1)
    with mock.patch.object(model, "decode_latents", wraps=model.decode_latents) as entropy_decode, \
            mock.patch.object(model, "synthesize", wraps=model.synthesize) as synthesis:
        decoded = {d.variant: d for d in codec.decode_variants(bitstream, codec.decoder_variants())}
    return {"folder": folder, "codec": codec, "x": x, "bitstream": bitstream, "decoded": decoded,
            "entropy_decodes": entropy_decode.call_count, "syntheses": synthesis.call_count}


def test_a_beta_sweep_entropy_decodes_once(setup):
    decoded = setup["decoded"]
    assert list(decoded) == ["beta=0.0", "beta=0.32", "beta=1.28", "beta=2.56"]
    assert setup["entropy_decodes"] == 1 and setup["syntheses"] == len(BETAS)
    assert len({d.timings["entropy"] for d in decoded.values()}) == 1  # measured once, reported with each variant
    for d in decoded.values():
        assert d.seconds == pytest.approx(d.timings["entropy"] + d.timings["synthesis"])
        assert d.x_hat.shape == (1, 3, 60, 100) and 0 <= float(d.x_hat.min()) <= float(d.x_hat.max()) <= 1
    assert (decoded["beta=0.0"].x_hat - decoded["beta=2.56"].x_hat).abs().max() > 1e-3  # beta steers the decoder
    for variant in ("beta=1.28", "beta=0.0"):  # the shared decode equals a standalone one
        assert torch.equal(setup["codec"].decode(setup["bitstream"], variant), decoded[variant].x_hat)


def test_decode_from_the_bytes_alone_equals_the_encoder_side_reconstruction(setup):
    fresh = MRICCodec(checkpoint=str(setup["folder"]), betas=(2.56,))
    bytes_only = Bitstream(data=setup["bitstream"].data, height=0, width=0, payload_bytes=0)
    x_hat = fresh.decode(bytes_only, "beta=2.56")
    assert torch.equal(x_hat, setup["decoded"]["beta=2.56"].x_hat)
    assert torch.equal(fresh.decode(bytes_only), x_hat)  # "default": the first configured beta
    padded, _ = pad_center(setup["x"], 64)
    with torch.inference_mode():
        forward = fresh.model(1)(padded, beta=2.56)["x_hat"].clamp(0, 1)
    assert torch.equal(x_hat, forward[..., 2:62, 14:114])
    assert setup["codec"].encode(setup["x"], 1).data == setup["bitstream"].data  # deterministic


def test_bitstream_config_and_variant_names(setup):
    bitstream, codec = setup["bitstream"], setup["codec"]
    assert bitstream.header["codec"] == "mric" and len(bitstream.header["string_lengths"]) == 6  # 5 slices + z
    assert min(bitstream.header["string_lengths"][:5]) > 20
    assert "betas" not in codec.config() and codec.provenance()["official"] is False
    for beta in (0.0, 1e-4, 2.56, 5.12):
        assert parse_variant(format_variant(beta)) == beta
    for bad in ("beta=-1.0", "beta=nan", "alpha=0.5", "beta=1,task=mse"):
        with pytest.raises(ValueError):
            parse_variant(bad)
    with pytest.raises(BenchError, match="at least one beta"):
        MRICCodec.from_models({1.0: random_mric()}, betas=())


# --- strict loading -----------------------------------------------------------------------------------------------


def test_strict_loading_names_what_differs(tmp_path):
    state_dict = random_mric().state_dict()
    assert MRIC.architecture_arguments(state_dict) == {**TINY, "frequencies": 10}
    del state_dict["lrp_transforms.3.2.bias"]
    with pytest.raises(CheckpointMismatch, match=r"1 missing key\(s\) \(lrp_transforms.3.2.bias\)"):
        MRIC.from_state_dict(state_dict, source="cut.pth")
    torch.manual_seed(0)
    torch.save(ELIC(N=16, M=40, groups=(4, 4, 8, 8, 16)).state_dict(), tmp_path / "elic.pth")
    with pytest.raises(CheckpointMismatch) as error:
        MRICCodec(checkpoint=str(tmp_path / "elic.pth")).model(1)
    assert "does not match an MRIC-style (bench.codecs.mric layout) model" in str(error.value)
    assert "looks like an ELIC (CompressAI elic2022-official layout) checkpoint: use it with --checkpoint elic=PATH" \
        in str(error.value)
    torch.save(random_mric().state_dict(), tmp_path / "mric.pth")
    with pytest.raises(CheckpointMismatch, match=r"looks like an MRIC-style \(bench.codecs.mric layout\) checkpoint"):
        ELICCodec(checkpoint=str(tmp_path / "mric.pth")).model(1)


# --- MACs against hand counts; Table 4 ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def meta_tiny():
    with torch.device("meta"):
        return MRIC(**TINY).to("meta").eval()


def test_beta_conditioning_macs(meta_tiny):
    # the MLP (21 -> 32 -> 32) and, in 9 blocks of N = 32, projections to N/2, N/2 and N: once per image
    assert beta_conditioning_macs(meta_tiny, 256, 256) == 21 * 32 + 32 * 32 + 9 * 32 * (16 + 16 + 32)


def test_channel_autoregressive_macs(meta_tiny):
    """Slice 4 (support: its 8-channel hyper share and slices 0..2) at a 16 x 16 latent: mean, scale and LRP nets."""
    def run(x):
        support = x.new_zeros(1, 8 * 4, 16, 16)
        return (meta_tiny.cc_mean_transforms[4](support), meta_tiny.cc_scale_transforms[4](support),
                meta_tiny.lrp_transforms[4](torch.cat((support, x.new_zeros(1, 8, 16, 16)), dim=1)))

    def net(inputs):
        return 25 * inputs * 16 + 25 * 16 * 16 + 9 * 16 * 8

    assert count_part(meta_tiny, run, 256, 256).macs() == 16 * 16 * (2 * net(32) + net(40))


def test_bench_profile_counts_both_architectures(tmp_path, capsys):
    from bench.cli import main

    out = tmp_path / "complexity.json"
    assert main(["profile", "elic", "mric", "--size", "64x64", "--no-latency", "-o", str(out)]) == 0
    profiles = {p["codec"]: p for p in json.loads(out.read_text())["profiles"]}
    assert profiles["elic"]["params"]["total"] == 32_074_200 and profiles["mric"]["params"]["total"] == 80_508_675
    assert profiles["mric"]["macs_input"] == {"height": 64, "width": 64}


def test_table4_row_of_the_default_model():
    row = table4_breakdown()
    assert row["params"] == 80_508_675 == sum(m["params"] for m in row["modules"].values())
    assert row["kmacs_per_pixel"] == pytest.approx(sum(m["kmacs_per_pixel"] for m in row["modules"].values()))
    assert row["paper"] == {"params": 69.14e6, "kmacs_per_pixel": 1118.17}
    assert row["best_convention"] != "linear+conv as FLOPs (2 per MAC)"  # the poster's "KFLOPs" are MACs
    assert row["relative"]["params"] == pytest.approx(80_508_675 / 69.14e6 - 1)
    # the ChARM by hand at a 16 x 16 latent: for slice i, mean and scale nets on 32 (1 + min(i, 5)) channels, LRP +32
    nets = sum(2 * (25 * 32 * (1 + min(i, 5)) * 224) + 25 * (32 * (1 + min(i, 5)) + 32) * 224 for i in range(10))
    nets += 30 * (25 * 224 * 128 + 9 * 128 * 32)
    charm = sum(row["modules"][m]["kmacs_per_pixel"] for m in ("cc_mean_transforms", "cc_scale_transforms",
                                                                 "lrp_transforms"))
    assert charm == pytest.approx(16 * 16 * nets / 65536 / 1e3)
    assert row["beta_conditioning"]["params"] == 21 * 512 + 512 + 512 * 512 + 512 + 9 * 512 * (128 + 128 + 256)
    assert f"{row['params'] / 1e6:.2f}M" in row["sentence"] and "+16.4%" in row["sentence"]
