"""MPA end to end with small random-weight models: real bytes, decoding in a fresh process, official semantics.

The models keep MPA's structure (multi-path encoder and decoder, three task paths, the slice context model) with
fewer channels, blocks and heads, so that a 256x256 image codes in about a second; the full-size behaviour is in
the slow tests.
"""

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from bench.codecs.container import ContainerError, unpack
from bench.codecs.layers import decoder_main_ratio, encoder_main_ratio, interpolate_levels
from bench.codecs.learned import pad_center
from bench.codecs.mpa import MPA, MPACodec, MPAEnc, MPAEncCodec, format_variant, parse_variant, random_mpa
from bench.download import sha256_of_file
from bench.tensors import uint8_to_tensor

ASSETS = Path(__file__).parent / "assets"
QUALITY = 2.5
ALPHAS, TASKS = (0.0, 0.5, 1.0), ("mse", "cls")


def image(height=200, width=232):
    """A real photo crop (Kodak 20), not a multiple of 256: exercises the centred padding and the crop back."""
    pixels = np.asarray(Image.open(ASSETS / "kodim20.png").convert("RGB"))[100 : 100 + height, 300 : 300 + width]
    return uint8_to_tensor(np.ascontiguousarray(pixels))


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    folder = tmp_path_factory.mktemp("mpa")
    checkpoint = folder / "checkpoint_step3.pth.tar"
    torch.save({"epoch": 1, "state_dict": random_mpa().state_dict()}, checkpoint)
    codec = MPACodec(checkpoint=str(checkpoint), alphas=ALPHAS, tasks=TASKS)
    x = image()
    bitstream = codec.encode(x, QUALITY)
    decoded = {d.variant: d for d in codec.decode_variants(bitstream, codec.decoder_variants())}
    return {"folder": folder, "checkpoint": checkpoint, "codec": codec, "x": x, "bitstream": bitstream,
            "decoded": decoded}


def test_bitstream_counts_every_byte(setup):
    bitstream = setup["bitstream"]
    assert bitstream.height == 200 and bitstream.width == 232
    lengths = bitstream.header["string_lengths"]
    assert len(lengths) == 2 and lengths[0] > 100  # [y, z]
    assert bitstream.payload_bytes == sum(lengths) < bitstream.num_bytes
    assert bitstream.header["quality"] == QUALITY and bitstream.header["codec"] == "mpa"
    assert set(bitstream.timings) == {"network", "entropy"}


def test_variants_share_one_entropy_decode(setup):
    decoded = setup["decoded"]
    assert list(decoded) == [format_variant(a, t) for t in TASKS for a in ALPHAS]
    entropy = {d.timings["entropy"] for d in decoded.values()}
    assert len(entropy) == 1  # measured once, reported with every variant
    for d in decoded.values():
        assert d.x_hat.shape == (1, 3, 200, 232) and d.x_hat.dtype == torch.float32
        assert 0.0 <= float(d.x_hat.min()) and float(d.x_hat.max()) <= 1.0
        assert d.seconds == pytest.approx(d.timings["entropy"] + d.timings["synthesis"])


def test_alpha_0_and_1_differ_and_alpha_0_is_the_same_for_every_task(setup):
    decoded = setup["decoded"]
    perceptual = decoded["alpha=0.0,task=mse"].x_hat
    assert (perceptual - decoded["alpha=1.0,task=mse"].x_hat).abs().max() > 1e-3
    assert (decoded["alpha=1.0,task=mse"].x_hat - decoded["alpha=1.0,task=cls"].x_hat).abs().max() > 1e-3
    # q_task = 1 routes every token to the main path: the task is irrelevant.
    torch.testing.assert_close(decoded["alpha=0.0,task=cls"].x_hat, perceptual, atol=1e-6, rtol=0)


def test_decode_in_a_fresh_process_is_bit_exact(setup):
    folder = setup["folder"]
    (folder / "image.bin").write_bytes(setup["bitstream"].data)
    script = textwrap.dedent(
        f"""
        import torch
        from bench.codecs.mpa import MPACodec
        from bench.schema import Bitstream
        codec = MPACodec(checkpoint={str(setup["checkpoint"])!r}, alphas=(0.0, 1.0), tasks=("cls",))
        data = open({str(folder / "image.bin")!r}, "rb").read()
        bitstream = Bitstream(data=data, height=0, width=0, payload_bytes=0)  # decode must use the bytes only
        out = {{d.variant: d.x_hat for d in codec.decode_variants(bitstream, codec.decoder_variants())}}
        torch.save(out, {str(folder / "decoded.pt")!r})
        """
    )
    subprocess.run([sys.executable, "-c", script], check=True, cwd=Path(__file__).parents[1], timeout=300)
    fresh = torch.load(folder / "decoded.pt", weights_only=True)
    assert list(fresh) == ["alpha=0.0,task=cls", "alpha=1.0,task=cls"]
    for variant, x_hat in fresh.items():
        assert torch.equal(x_hat, setup["decoded"][variant].x_hat), variant


def test_decode_equals_forward_rounded_reconstruction(setup):
    model = setup["codec"].model(QUALITY)
    padded, _ = pad_center(setup["x"], 256)
    q_task, task_idx = 1 + 7 * 0.5, 1
    with torch.inference_mode():
        out = model(padded, quality=QUALITY, q_task=q_task, task_idx=task_idx)
    expected = out["x_hat"].clamp(0, 1)[..., 28:228, 12:244]
    assert torch.equal(setup["decoded"]["alpha=0.5,task=cls"].x_hat, expected)
    # forward follows the official token split: int(T * ratio) with float64 ratios, on padded maps.
    for decision, tokens in zip(out["decisions"]["enc"], (128 * 128, 64 * 64, 32 * 32)):
        assert decision[0].shape[1] == int(tokens * encoder_main_ratio(QUALITY))
        assert decision[0].shape[1] + decision[1].shape[1] == tokens
    for decision, tokens in zip(out["decisions"]["dec"], (128 * 128, 64 * 64, 32 * 32)):  # g_s6, g_s4, g_s2
        assert decision[0].shape[1] == int(tokens * decoder_main_ratio(q_task))
    assert out["likelihoods"]["y"].shape == (1, 80, 16, 16) and out["likelihoods"]["z"].shape == (1, 48, 4, 4)


def test_fractional_quality_is_continuous(setup):
    table = torch.tensor([[1.0, 2.0], [4.0, -8.0], [3.0, 1.0]])
    torch.testing.assert_close(interpolate_levels(table, 2.0), torch.tensor([4.0, 8.0]))
    torch.testing.assert_close(interpolate_levels(table, 1.5), torch.tensor([2.0, 4.0]))  # geometric mean of |.|
    torch.testing.assert_close(interpolate_levels(table, 2 - 1e-9), torch.tensor([4.0, 8.0]))
    torch.testing.assert_close(interpolate_levels(table, 3.0), torch.tensor([3.0, 1.0]))
    model, padded = setup["codec"].model(QUALITY), pad_center(setup["x"], 256)[0]
    with torch.inference_mode():
        y_below, z_below, _ = model.analyze(padded, 3 - 1e-6)
        y_at, z_at, _ = model.analyze(padded, 3.0)
        y_mid, _, _ = model.analyze(padded, 3.5)
    torch.testing.assert_close(y_below, y_at, atol=1e-3, rtol=1e-3)
    torch.testing.assert_close(z_below, z_at, atol=1e-3, rtol=1e-3)
    assert (y_mid - y_at).abs().max() > 1e-2


def test_mpa_enc_codec_round_trip(setup):
    folder = setup["folder"]
    model = random_mpa(MPAEnc, seed=1)
    torch.save(model.state_dict(), folder / "stage1.pth.tar")
    model.update(force=True)
    codec = MPAEncCodec(checkpoint=str(folder / "stage1.pth.tar"), qualities=(1, 4.5))
    assert codec.rate_points() == (1.0, 4.5) and codec.decoder_variants() == ("default",)
    x = image(256, 192)
    bitstream = codec.encode(x, 4.5)
    x_hat = codec.decode(bitstream)
    y_string, z_string = unpack(bitstream.data).strings
    with torch.inference_mode():  # the official API on the container's strings decodes the same image
        direct = model.decompress([[y_string], [z_string]], (4, 4), 4.5)["x_hat"][..., :, 32:224]
    assert torch.equal(x_hat, direct)
    with pytest.raises(ValueError, match="integer quality"):
        model(torch.zeros(1, 3, 256, 256), quality=2.5)
    with pytest.raises(ContainerError, match="written by codec 'mpa-enc', not 'mpa'"):
        setup["codec"].decode(bitstream)


def test_variant_names():
    assert format_variant(0.5, "cls") == "alpha=0.5,task=cls"
    assert format_variant(0, "mse") == "alpha=0.0,task=mse"
    for alpha in (0.0, 1e-4, 1 / 3, 1.0):
        for task in ("mse", "cls", "seg"):
            assert parse_variant(format_variant(alpha, task)) == (alpha, task)
    for bad in ("alpha=1.5,task=mse", "alpha=0.5,task=det", "task=mse,alpha=0.5", "default"):
        with pytest.raises(ValueError):
            parse_variant(bad)


def test_config_and_versions(setup):
    codec = setup["codec"]
    config = codec.config()
    assert config["checkpoint_sha256"] == {"all": sha256_of_file(setup["checkpoint"])}
    # Rate points and variants key each row, not the codec: adding one must not invalidate stored rows.
    assert not {"alphas", "tasks", "qualities", "checkpoint"} & set(config)
    assert codec.decoder_variants() == tuple(format_variant(a, t) for t in TASKS for a in ALPHAS)
    json.dumps(config)
    assert {"torch", "compressai", "container"} <= set(codec.versions())
    assert codec.rate_points() == tuple(float(q) for q in range(1, 9))


def test_invalid_arguments_are_refused(setup):
    model = setup["codec"].model(QUALITY)
    x = torch.zeros(1, 3, 256, 256)
    with pytest.raises(ValueError, match="quality should be within"):
        model.compress(x, 8.5)
    with pytest.raises(ValueError, match="quality should be within"):
        model(x, quality=3, q_task=0.5)
    with pytest.raises(ValueError, match="task_idx"):
        model(x, quality=3, task_idx=3)
    with pytest.raises(ValueError, match="multiple of 64"):
        model.compress(torch.zeros(1, 3, 200, 256), 1)
    with pytest.raises(ValueError, match="at least 192"):  # NATTEN 0.17 would fail: 128 px -> 2x2 at h_a3
        model.compress(torch.zeros(1, 3, 128, 128), 1)


@pytest.mark.slow
def test_full_size_codec_round_trip_in_a_fresh_process(tmp_path):
    torch.manual_seed(0)
    model = MPA().eval()
    checkpoint = tmp_path / "checkpoint_step3.pth.tar"
    torch.save({"state_dict": {f"module.{k}": v for k, v in model.state_dict().items()}}, checkpoint)
    codec = MPACodec(checkpoint=str(checkpoint), alphas=(0.0, 1.0), tasks=("seg",))
    bitstream = codec.encode(image(256, 256), 1)
    decoded = {d.variant: d.x_hat for d in codec.decode_variants(bitstream, codec.decoder_variants())}
    (tmp_path / "image.bin").write_bytes(bitstream.data)
    script = (
        "import torch\nfrom bench.codecs.mpa import MPACodec\nfrom bench.schema import Bitstream\n"
        f"codec = MPACodec(checkpoint={str(checkpoint)!r}, alphas=(0.0, 1.0), tasks=('seg',))\n"
        f"b = Bitstream(open({str(tmp_path / 'image.bin')!r}, 'rb').read(), 0, 0, 0)\n"
        "out = {d.variant: d.x_hat for d in codec.decode_variants(b, codec.decoder_variants())}\n"
        f"torch.save(out, {str(tmp_path / 'decoded.pt')!r})\n"
    )
    subprocess.run([sys.executable, "-c", script], check=True, cwd=Path(__file__).parents[1], timeout=900)
    fresh = torch.load(tmp_path / "decoded.pt", weights_only=True)
    for variant, x_hat in decoded.items():
        assert torch.equal(fresh[variant], x_hat)
    padded, _ = pad_center(image(256, 256), 256)
    with torch.inference_mode():
        out = codec.model(1)(padded, quality=1, q_task=8, task_idx=2)
    assert torch.equal(decoded["alpha=1.0,task=seg"], out["x_hat"].clamp(0, 1))
