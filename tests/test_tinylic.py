"""TinyLIC with small random-weight models: official API, small-input attention padding, the fixed-rate codec."""

import pytest
import torch

from bench.codecs.container import unpack
from bench.codecs.learned import pad_center
from bench.codecs.tinylic import TinyLICCodec, random_tinylic
from bench.errors import CheckpointError


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tinylic")
    for index in (1, 2):  # one checkpoint per rate, sorted by name
        torch.save({"state_dict": random_tinylic(index).state_dict()}, folder / f"tinylic_q{index}.pth.tar")
    return folder


def test_official_api_and_small_inputs():
    model = random_tinylic(0)
    model.update(force=True)
    x = torch.rand(1, 3, 64, 128)  # z is 1x2 tokens: the bundled attention pads it to the 3x3 kernel
    with torch.inference_mode():
        out = model(x)
        result = model.compress(x)
        x_hat = model.decompress(result["strings"], result["shape"])["x_hat"]
    assert set(out) >= {"x_hat", "likelihoods"} and out["likelihoods"]["z"].shape == (1, 48, 1, 2)
    assert tuple(result["shape"]) == (1, 2) and len(result["strings"][0]) == 1
    assert torch.equal(x_hat, out["x_hat"].clamp(0, 1))
    assert not hasattr(model, "Gain") and not hasattr(model.g_a1.residual_group.blocks[0], "gamma_1")


def test_codec_rate_points_and_round_trip(folder):
    codec = TinyLICCodec(checkpoint=str(folder))
    assert codec.rate_points() == (1.0, 2.0) and codec.decoder_variants() == ("default",)
    assert len(codec.config()["checkpoint_sha256"]) == 2
    x = torch.rand(3, 100, 70)
    bitstream = codec.encode(x, 2)
    assert bitstream.header["codec"] == "tinylic" and bitstream.payload_bytes == sum(bitstream.header["string_lengths"])
    x_hat = codec.decode(bitstream)
    y_string, z_string = unpack(bitstream.data).strings
    with torch.inference_mode():  # the official API on the container's strings decodes the same image
        direct = codec.model(2).decompress([[y_string], [z_string]], (4, 4))["x_hat"][..., 78:178, 93:163]
        _, (left, _, top, _) = pad_center(x[None], 256)
    assert (top, left) == (78, 93)
    assert torch.equal(x_hat, direct)
    with pytest.raises(ValueError, match="rate point"):
        codec.encode(x, 3)
    with pytest.raises(ValueError, match="one decoder"):
        codec.decode(bitstream, "alpha=0.0,task=mse")


def test_missing_checkpoint_says_where_the_weights_are(tmp_path):
    with pytest.raises(CheckpointError, match=r"lumingzzz/TinyLIC.*--checkpoint tinylic=PATH"):
        TinyLICCodec(checkpoint=str(tmp_path / "missing.pth.tar"))
    with pytest.raises(CheckpointError, match="holds no"):
        TinyLICCodec(checkpoint=str(tmp_path))


def test_a_list_of_files_gives_the_rate_points_in_list_order(folder):
    low, high = sorted(folder.glob("*.pth.tar"))
    codec = TinyLICCodec(checkpoint=[str(high), str(low)])
    assert codec.provenance()["checkpoints"]["1"]["path"] == str(high)
    x = torch.rand(3, 64, 64)
    from_folder = TinyLICCodec(checkpoint=str(folder))
    assert unpack(codec.encode(x, 1).data).strings == unpack(from_folder.encode(x, 2).data).strings


def test_a_bad_file_among_several_fails_at_construction(folder, tmp_path):
    from compressai.zoo import image_models

    mixed = tmp_path / "mixed"
    mixed.mkdir()
    (mixed / "a.pth.tar").write_bytes((folder / "tinylic_q1.pth.tar").read_bytes())
    torch.save(image_models["bmshj2018-factorized"](quality=1).state_dict(), mixed / "b.pth.tar")
    with pytest.raises(CheckpointError, match=r"b.pth.tar does not match a TinyLIC model.*bmshj2018-factorized"):
        TinyLICCodec(checkpoint=str(mixed))
