"""ELIC against CompressAI's elic2022-official: every key and shape, the same bytes as CompressAI's own
implementation, real bytes decoded from the bytes alone, strict loading, and MACs of each new block by hand.

Oracles: the key/shape table tests/assets/elic2022_official_state_dict.json (written from CompressAI's definition,
see PROVENANCE.md); CompressAI 1.2.8's ``Elic2022Official`` itself, run on the same random weights (a second
implementation: same strings byte for byte, same reconstruction); hand counts of multiply-accumulates.
"""

import json
import math
from pathlib import Path

import pytest
import torch

from bench.checkpoints import CheckpointMismatch
from bench.codecs.container import unpack
from bench.codecs.elic import ELIC, ELICCodec
from bench.codecs.elic_blocks import CheckerboardConv2d, QuantizeStep, checkerboard_merge, checkerboard_split
from bench.codecs.learned import pad_center
from bench.complexity.macs import count_macs
from bench.complexity.table4 import count_part
from bench.errors import CheckpointError
from bench.schema import Bitstream
from bench.tensors import uint8_to_tensor

SCHEMA = json.loads((Path(__file__).parent / "assets" / "elic2022_official_state_dict.json").read_text())
TINY = dict(N=16, M=40, groups=(4, 4, 8, 8, 16))  # random weights, test only


def random_elic(seed=0, **config):
    """A tiny random-weight ELIC (test only) whose latents are large enough to give nonzero symbols."""
    torch.manual_seed(seed)
    model = ELIC(**{**TINY, **config}).eval()
    with torch.no_grad():
        model.g_a[13].weight.mul_(8.0)
    model.update(force=True)
    return model


def photo(kodak_image, height=60, width=100):
    """A Kodak 20 crop whose size is not a multiple of 64: exercises the centred padding and the crop back."""
    return uint8_to_tensor(kodak_image[100 : 100 + height, 300 : 300 + width].copy())


# --- layout --------------------------------------------------------------------------------------------------------


def test_state_dict_equals_compressai_elic2022_official():
    with torch.device("meta"):
        model = ELIC()
    assert {k: list(v.shape) for k, v in model.state_dict().items()} == SCHEMA["state_dict"]
    assert sum(p.numel() for p in model.parameters()) == SCHEMA["num_parameters"] == 32_074_200


def test_checkerboard_split_is_the_coding_order():
    x = torch.arange(2 * 4 * 6, dtype=torch.float32).reshape(1, 2, 4, 6)
    halves = checkerboard_split(x)
    # anchors: even row + column; row r of a half holds that colour's positions of row r, left to right
    assert halves[0, 0, 0, 0].tolist() == [0.0, 2.0, 4.0] and halves[0, 0, 0, 1].tolist() == [7.0, 9.0, 11.0]
    assert halves[1, 0, 0, 0].tolist() == [1.0, 3.0, 5.0] and halves[1, 0, 0, 1].tolist() == [6.0, 8.0, 10.0]
    assert torch.equal(checkerboard_merge(halves[0], halves[1]), x)
    conv = CheckerboardConv2d(1, 1, 5)
    assert conv.mask[0, 0].tolist()[2] == [0, 1, 0, 1, 0] and conv.mask.sum() == 12  # centre colour masked out


def test_every_group_gets_compressais_gaussian_tables():
    from compressai.entropy_models import GaussianConditional

    reference = GaussianConditional(None)
    reference.update_scale_table(torch.exp(torch.linspace(math.log(0.11), math.log(256), 64)))
    model = random_elic()
    for k in range(5):
        gaussian = model.latent_codec.y.latent_codec[f"y{k}"].y.gaussian_conditional
        for name in ("scale_table", "_quantized_cdf", "_offset", "_cdf_length"):
            assert torch.equal(getattr(gaussian, name), getattr(reference, name)), (k, name)


def test_same_bytes_and_reconstruction_as_compressai():
    sensetime = pytest.importorskip("compressai.models.sensetime")
    if not hasattr(sensetime, "Elic2022Official"):
        pytest.skip("this CompressAI has no Elic2022Official")
    torch.manual_seed(1)
    reference = sensetime.Elic2022Official(N=16, M=40, groups=[4, 4, 8, 8, 16]).eval()
    with torch.no_grad():
        reference.g_a[13].weight.mul_(8.0)
    reference.update(force=True)
    model = ELIC.from_state_dict(reference.state_dict())
    x = torch.rand(1, 3, 64, 128)
    with torch.inference_mode():
        expected = reference.compress(x)
        ours = model.compress(x)
        assert ours["strings"] == expected["strings"] and len(ours["strings"]) == 11
        assert min(len(s[0]) for s in ours["strings"][:-1]) > 20  # every half carries real symbols
        x_hat = model.decompress(ours["strings"], ours["shape"])["x_hat"]
        assert torch.equal(x_hat, reference.decompress(expected["strings"], expected["shape"])["x_hat"])
        forward, reference_forward = model(x), reference(x)
    assert torch.equal(forward["x_hat"], reference_forward["x_hat"])
    assert torch.equal(forward["likelihoods"]["y"], reference_forward["likelihoods"]["y"])


# --- the codec -----------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def setup(tmp_path_factory, kodak_image):
    folder = tmp_path_factory.mktemp("elic")
    models = [random_elic(seed) for seed in (2, 3)]
    # one file as CompressAI's training script saves it, one DataParallel-prefixed bare state dict
    torch.save({"epoch": 3, "state_dict": models[0].state_dict()}, folder / "elic_lambda0.0018.pth.tar")
    torch.save({f"module.{k}": v for k, v in models[1].state_dict().items()}, folder / "elic_lambda0.0035.pth.tar")
    codec = ELICCodec(checkpoint=str(folder))
    x = photo(kodak_image)
    bitstream = codec.encode(x, 2)
    return {"folder": folder, "codec": codec, "x": x, "bitstream": bitstream, "decoded": codec.decode(bitstream)}


def test_bitstream_holds_every_string_and_counts_every_byte(setup):
    bitstream = setup["bitstream"]
    lengths = bitstream.header["string_lengths"]
    assert len(lengths) == 11 and bitstream.header["codec"] == "elic" and bitstream.header["quality"] == 2.0
    assert bitstream.payload_bytes == sum(lengths) < bitstream.num_bytes
    assert bitstream.bpp == 8 * len(bitstream.data) / (60 * 100)
    assert set(bitstream.timings) == {"network", "entropy"}


def test_decode_from_the_bytes_alone_equals_the_encoder_side_reconstruction(setup):
    fresh = ELICCodec(checkpoint=str(setup["folder"]))  # weights read again from the files
    bytes_only = Bitstream(data=setup["bitstream"].data, height=0, width=0, payload_bytes=0)
    x_hat = fresh.decode(bytes_only)
    assert torch.equal(x_hat, setup["decoded"]) and x_hat.shape == (1, 3, 60, 100)
    padded, (left, _, top, _) = pad_center(setup["x"], 64)
    assert padded.shape[-2:] == (64, 128)
    with torch.inference_mode():
        forward = fresh.model(2)(padded)["x_hat"].clamp(0, 1)
    assert torch.equal(x_hat, forward[..., top : top + 60, left : left + 100])
    assert setup["codec"].encode(setup["x"], 2).data == setup["bitstream"].data  # deterministic


def test_container_strings_decode_with_the_compressai_api(setup):
    model = setup["codec"].model(2)
    strings = unpack(setup["bitstream"].data).strings
    with torch.inference_mode():
        x_hat = model.decompress([[s] for s in strings], (1, 2))["x_hat"]  # z of a 64 x 128 input
    assert torch.equal(x_hat[..., 2:62, 14:114], setup["decoded"])


def test_rate_points_config_and_provenance(setup):
    codec = setup["codec"]
    assert codec.rate_points() == (1.0, 2.0) and codec.decoder_variants() == ("default",)
    config = codec.config()
    assert len(config["checkpoint_sha256"]) == 2 and "checkpoint" not in config
    provenance = codec.provenance()
    assert provenance["official"] is False and provenance["checkpoints"]["1"]["path"].endswith("0.0018.pth.tar")
    assert provenance["checkpoints"]["2"]["sha256"] == config["checkpoint_sha256"]["2"]
    with pytest.raises(ValueError, match="rate point"):
        codec.encode(setup["x"], 3)
    with pytest.raises(ValueError, match="one decoder"):
        codec.decode(setup["bitstream"], "beta=0.0")


# --- strict loading -----------------------------------------------------------------------------------------------


def test_a_checkpoint_of_the_full_layout_loads_strictly():
    """Zeros in every key and shape of the table (DataParallel prefix, CompressAI < 1.1 bottleneck names) load."""
    state_dict = {}
    for key, shape in SCHEMA["state_dict"].items():
        key = key.replace("entropy_bottleneck.matrices.", "entropy_bottleneck._matrices.")
        state_dict[f"module.{key}"] = torch.ones(shape) if key.endswith(".mask") else torch.zeros(shape)
    model = ELIC.from_state_dict(state_dict)
    assert model.N == 192 and model.latent_codec.y.groups == (16, 16, 32, 64, 192)
    assert not model.latent_codec.hyper.entropy_bottleneck.matrices[0].any()


def test_wrong_architecture_is_rejected_with_a_readable_message(tmp_path):
    from compressai.zoo import image_models

    torch.save({"state_dict": image_models["cheng2020-attn"](quality=1).state_dict()}, tmp_path / "cheng.pth.tar")
    with pytest.raises(CheckpointMismatch) as error:
        ELICCodec(checkpoint=str(tmp_path / "cheng.pth.tar")).model(1)
    message = str(error.value)
    assert "does not match an ELIC (CompressAI elic2022-official layout) model" in message
    assert "looks like a CompressAI cheng2020-attn checkpoint: use it with --checkpoint cheng2020-attn=PATH" in message
    assert "\n" not in message

    state_dict = random_elic().state_dict()
    del state_dict["latent_codec.y.channel_context.y3.2.weight"]
    with pytest.raises(CheckpointMismatch, match=r"1 missing key\(s\) \(latent_codec.y.channel_context.y3.2.weight\)"):
        ELIC.from_state_dict(state_dict, source="cut.pth")
    with pytest.raises(CheckpointError, match=r"not found; ELIC checkpoints trained with CompressAI"):
        ELICCodec(checkpoint=str(tmp_path / "missing.pth.tar"))


# --- MACs of the new blocks against hand counts -------------------------------------------------------------------

H, W = 256, 320  # image size; the latent is 16 x 20
LATENT = (16, 20)


@pytest.fixture(scope="module")
def meta_elic():
    with torch.device("meta"):
        return ELIC(**TINY).to("meta").eval()


def test_checkerboard_context_macs(meta_elic):
    group = meta_elic.latent_codec.y.latent_codec["y2"]  # 8 channels -> 16
    macs = count_part(meta_elic, lambda x: group.context_prediction(x.new_zeros(1, 8, *LATENT)), H, W).macs()
    assert macs == 16 * 20 * 8 * 16 * 25  # every tap of the 5x5 kernel, masked or not (dense convolution)


def test_channel_context_macs(meta_elic):
    context = meta_elic.latent_codec.y.channel_context["y3"]  # input: groups 0..2 (16 channels), output 2 x 8
    macs = count_part(meta_elic, lambda x: context(x.new_zeros(1, 16, *LATENT)), H, W).macs()
    assert macs == 16 * 20 * 25 * (16 * 224 + 224 * 128 + 128 * 16)


def test_grouped_entropy_parameters_macs(meta_elic):
    """A group's two checkerboard passes: the 1x1 parameter ramp on each half (= once per position), plus the
    spatial context on the full map."""
    group = meta_elic.latent_codec.y.latent_codec["y4"]  # 16 channels; side = channel context (32) + params (32)
    widths = [96, 74, 53, 32]  # ramp 2C + side = 96 -> 2C = 32: floor(96 - 64 k / 3), inner ones at least 2N = 32
    assert [layer.in_channels for layer in group.entropy_parameters[::2]] == widths[:-1]

    def run(x):
        return group.code(x.new_zeros(1, 64, *LATENT), QuantizeStep(), x.new_zeros(1, 16, *LATENT))

    pointwise = sum(a * b for a, b in zip(widths[:-1], widths[1:]))
    assert count_part(meta_elic, run, H, W).macs() == 16 * 20 * (pointwise + 16 * 32 * 25)


def test_whole_model_count_splits_into_its_parts(meta_elic):
    count = count_macs(meta_elic, lambda m, x: m(x), H, W)
    assert set(count.modules) == {"g_a", "g_s", "latent_codec"}
    assert sum(m["linear_conv"] for m in count.modules.values()) == count.linear_conv and count.attention == 0
    # g_a: four 5x5 stride-2 convs; the first at 128 x 160 output positions
    first = count_part(meta_elic, lambda x: meta_elic.g_a[0](x), H, W).macs()
    assert first == 128 * 160 * 3 * 16 * 25


@pytest.mark.slow
@pytest.mark.parametrize("codec_name", ["elic", "mric"])
def test_full_size_round_trip_in_a_fresh_process(tmp_path, kodak_image, codec_name):
    """The default architectures (random weights) through real bytes, decoded by another process."""
    import subprocess
    import sys

    from bench.codecs import codecs

    factory = codecs.get(codec_name)
    torch.manual_seed(0)
    torch.save({"state_dict": factory.model_class().state_dict()}, tmp_path / "random.pth.tar")
    codec = factory(checkpoint=str(tmp_path / "random.pth.tar"))
    bitstream = codec.encode(photo(kodak_image, 192, 256), 1)
    expected = {d.variant: d.x_hat for d in codec.decode_variants(bitstream, codec.decoder_variants())}
    (tmp_path / "image.bin").write_bytes(bitstream.data)
    script = (
        "import torch\nfrom bench.codecs import codecs\nfrom bench.schema import Bitstream\n"
        f"codec = codecs.get({codec_name!r})(checkpoint={str(tmp_path / 'random.pth.tar')!r})\n"
        f"b = Bitstream(open({str(tmp_path / 'image.bin')!r}, 'rb').read(), 0, 0, 0)\n"
        "out = {d.variant: d.x_hat for d in codec.decode_variants(b, codec.decoder_variants())}\n"
        f"torch.save(out, {str(tmp_path / 'decoded.pt')!r})\n"
    )
    subprocess.run([sys.executable, "-c", script], check=True, cwd=Path(__file__).parents[1], timeout=900)
    fresh = torch.load(tmp_path / "decoded.pt", weights_only=True)
    assert list(fresh) == list(expected)
    for variant, x_hat in expected.items():
        assert torch.equal(fresh[variant], x_hat), variant
