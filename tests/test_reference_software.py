"""VTM, HM and BPG: their command-line contracts with fake binaries, and the real VTM where it is built.

The fakes (tests/fake_tools.py) check what the real tools need (the cfg file in the work folder, the raw input's
size) and return the input planes; so a decode must equal the Y'CbCr round trip of the input exactly.
"""

import json
import os
import shutil

import numpy as np
import pytest

from bench.codecs.bpg import BPG
from bench.codecs.hm import HM
from bench.codecs.nal import vvc_picture_size
from bench.codecs.subprocess_codec import CodecUnavailable
from bench.codecs.vtm import VTM
from bench.codecs.yuv import YUVFormat, planes_to_rgb, rgb_to_planes
from bench.tensors import tensor_to_uint8, uint8_to_tensor
from tests.fake_tools import install

CONFIGS = {"vtm": "encoder_intra_vtm.cfg", "hm": "encoder_intra_main_rext.cfg"}


def checkout(tmp_path, codec, kind):
    """A fake build tree as the reference software lays it out: bin/<binaries> and cfg/<configuration>."""
    root = tmp_path / f"{codec} ✓ checkout"
    names = {"vtm": ("EncoderAppStatic", "DecoderAppStatic"), "hm": ("TAppEncoderStatic", "TAppDecoderStatic")}[codec]
    encoder = install(root / "bin", names[0], f"{kind}-encoder")
    decoder = install(root / "bin", names[1], f"{kind}-decoder")
    (root / "cfg").mkdir()
    (root / "cfg" / CONFIGS[codec]).write_text("IntraPeriod : 1\nQP : 32\n")
    return encoder, decoder


@pytest.mark.parametrize("codec_class, kind", [(VTM, "vvc"), (HM, "hevc")])
@pytest.mark.parametrize("size", [(64, 96), (61, 93)])
def test_fake_reference_software_round_trip(tmp_path, monkeypatch, kodak_crop, codec_class, kind, size):
    encoder, decoder = checkout(tmp_path, codec_class.name, kind)
    codec = codec_class(encoder=str(encoder), decoder=str(decoder))
    log = tmp_path / "log.jsonl"
    monkeypatch.setenv("FAKE_TOOLS_LOG", str(log))
    image = kodak_crop[: size[0], : size[1]]
    bitstream = codec.encode(uint8_to_tensor(image), 37)
    decoded = tensor_to_uint8(codec.decode(bitstream))
    fmt = YUVFormat("444", 8, "bt709")
    np.testing.assert_array_equal(decoded, planes_to_rgb(rgb_to_planes(image, fmt), fmt))
    encoder_args, decoder_args = (json.loads(line)[1:] for line in log.read_text().splitlines())
    assert encoder_args == ["-c", "encoder.cfg", "-i", "input.yuv", "-b", "image.bin", "-o", "", "-wdt",
                            str(size[1]), "-hgt", str(size[0]), "-fr", "1", "-f", "1", "--InputChromaFormat=444",
                            "--ChromaFormatIDC=444", "--InputBitDepth=8", "--InternalBitDepth=10",
                            "--ConformanceWindowMode=1", "-q", "37"]
    assert decoder_args == ["-b", "image.bin", "-o", "decoded.yuv", "-d", "8"]


def test_the_configuration_is_found_beside_the_binaries_and_recorded(tmp_path):
    encoder, decoder = checkout(tmp_path, "vtm", "vvc")
    config = VTM(encoder=str(encoder), decoder=str(decoder)).config()
    assert config["config"]["name"] == "encoder_intra_vtm.cfg" and len(config["config"]["sha256"]) == 64
    assert (config["chroma"], config["bit_depth"], config["matrix"], config["internal_bit_depth"],
            config["output_bit_depth"]) == ("444", 8, "bt709", 10, 8)
    assert config["point_arguments"] == {"0": "-q 0", "63": "-q 63"}
    (tmp_path / "vtm ✓ checkout" / "cfg" / "encoder_intra_vtm.cfg").unlink()
    with pytest.raises(CodecUnavailable, match="encoder_intra_vtm.cfg not found; pass config=PATH"):
        VTM(encoder=str(encoder), decoder=str(decoder))
    other = tmp_path / "mine.cfg"
    other.write_text("QP : 30\n")
    assert VTM(encoder=str(encoder), decoder=str(decoder), config=str(other)).config()["config"]["name"] == "mine.cfg"


def test_missing_reference_software_says_how_to_build_it(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(CodecUnavailable, match=r"scripts/build_vtm.sh SRC_DIR"):
        VTM()
    with pytest.raises(CodecUnavailable, match=r"vcgit.hhi.fraunhofer.de/jvet/HM"):
        HM()
    with pytest.raises(CodecUnavailable, match=r"bellard.org/bpg"):
        BPG()


def test_fake_bpg_contract(tmp_path, monkeypatch, kodak_crop):
    codec = BPG(encoder=str(install(tmp_path / "bpg", "bpgenc", "bpg-encoder")),
                decoder=str(install(tmp_path / "bpg", "bpgdec", "bpg-decoder")))
    log = tmp_path / "log.jsonl"
    monkeypatch.setenv("FAKE_TOOLS_LOG", str(log))
    x = uint8_to_tensor(kodak_crop)
    assert codec.decode(codec.encode(x, 32)).equal(x)
    encoder_args = json.loads(log.read_text().splitlines()[0])[1:]
    assert encoder_args == ["-f", "444", "-e", "x265", "-c", "ycbcr", "-b", "8", "-m", "8", "-o", "image.bpg",
                            "-q", "32", "input.png"]


def _real_vtm():
    encoder = os.environ.get("MPA_BENCH_VTM_ENCODER") or shutil.which("EncoderAppStatic")
    decoder = os.environ.get("MPA_BENCH_VTM_DECODER") or shutil.which("DecoderAppStatic")
    if not (encoder and decoder):
        pytest.skip("VTM not built here: scripts/build_vtm.sh SRC_DIR, then set MPA_BENCH_VTM_ENCODER/_DECODER")
    return VTM(encoder=encoder, decoder=decoder)


def test_real_vtm_round_trip(kodak_crop):
    codec = _real_vtm()
    image = kodak_crop[:66, :100]
    bitstream = codec.encode(uint8_to_tensor(image), 37)
    assert vvc_picture_size(bitstream.data) == (66, 100)
    decoded = tensor_to_uint8(codec.decode(bitstream))
    assert 28 < 10 * np.log10(255**2 / np.mean((decoded.astype(float) - image) ** 2)) < 50
    assert codec.versions()["encoder"].split()[1][0].isdigit()
