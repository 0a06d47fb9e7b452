"""The command-line codec base on bad input, with fake binaries: each case is one clear line, the run goes on."""

import json
import signal
import tempfile
import time

import numpy as np
import pytest

from bench.codecs.cwebp import CWebP
from bench.codecs.subprocess_codec import CodecUnavailable, CommandError
from bench.engine.plan import build_plan
from bench.engine.run import run_suite
from bench.engine.suite import load_suite
from bench.tensors import tensor_to_uint8, uint8_to_tensor
from tests.fake_tools import install, install_script

SPACES = "dir with spaces/ünïcödé ✓"


@pytest.fixture
def x(kodak_crop):
    return uint8_to_tensor(kodak_crop[:64, :96])


def fake_codec(tmp_path, encoder_body=None, decoder_body=None, **options):
    """cwebp with fake binaries: a lossless copy, or the given shell script bodies."""
    folder = tmp_path / "bin"
    encoder = install_script(folder, "cwebp", encoder_body) if encoder_body else install(folder, "cwebp",
                                                                                        "copy-encoder")
    decoder = install_script(folder, "dwebp", decoder_body) if decoder_body else install(folder, "dwebp",
                                                                                        "copy-decoder")
    return CWebP(encoder=str(encoder), decoder=str(decoder), **options)


def test_missing_binaries_make_the_codec_unavailable_with_the_install_hint(tmp_path, monkeypatch):
    with pytest.raises(CodecUnavailable, match=r"'/nowhere/cwebp' .* is not an executable file; .*apt-get install webp"):
        CWebP(encoder="/nowhere/cwebp")
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(CodecUnavailable) as error:
        CWebP()
    message = str(error.value)
    assert "'cwebp' is not on PATH" in message and "MPA_BENCH_CWEBP_ENCODER" in message and "\n" not in message


def test_the_plan_reports_an_unavailable_codec_as_skipped_and_keeps_the_others(tmp_path):
    suite = tmp_path / "suite.toml"
    suite.write_text('name = "s"\ndatasets = [{name = "sample", limit = 1}]\nmetrics = ["psnr-rgb"]\n'
                     '[[codecs]]\ncodec = "cwebp"\noptions = { encoder = "/nowhere/cwebp" }\n'
                     '[[codecs]]\ncodec = "jpeg"\npoints = [50]\n')
    plan = build_plan(load_suite(str(suite)))
    assert [job.label for job in plan.codecs] == ["jpeg"]
    assert len(plan.skipped) == 1 and plan.skipped[0].startswith("codec cwebp: cwebp: encoder '/nowhere/cwebp'")


def test_binaries_from_environment_variables(tmp_path, monkeypatch):
    encoder = install(tmp_path / "env", "my-cwebp", "copy-encoder")
    monkeypatch.setenv("MPA_BENCH_CWEBP_ENCODER", str(encoder))
    monkeypatch.setenv("MPA_BENCH_CWEBP_DECODER", str(install(tmp_path / "env", "my-dwebp", "copy-decoder")))
    assert CWebP().binaries["encoder"] == encoder


def test_paths_with_spaces_and_unicode(tmp_path, monkeypatch, x):
    folder = tmp_path / SPACES
    codec = CWebP(encoder=str(install(folder, "cwebp ✓", "copy-encoder")),
                  decoder=str(install(folder, "dwebp ✓", "copy-decoder")))
    work = tmp_path / "temp ✓ dir"
    work.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(work))
    log = tmp_path / "log.jsonl"
    monkeypatch.setenv("FAKE_TOOLS_LOG", str(log))
    bitstream = codec.encode(x, 50)
    assert codec.decode(bitstream).equal(x)  # the fakes copy the PNG: lossless
    encoder_args = json.loads(log.read_text().splitlines()[0])[1:]
    assert encoder_args == ["-quiet", "-m", "4", "-metadata", "none", "input.png", "-o", "image.webp", "-q", "50"]
    assert not list(work.iterdir())  # the private work folders are gone


def test_a_non_zero_exit_is_one_line_with_the_tools_message_and_command(tmp_path, x):
    codec = fake_codec(tmp_path, encoder_body='echo "Saving file input.png" \necho "Error! Cannot read input.png" >&2\n'
                                              'echo "  (a detail)" >&2\nexit 255')
    with pytest.raises(CommandError) as error:
        codec.encode(x, 50)
    message = str(error.value)
    assert message.startswith("cwebp: encoder exited with status 255: Error! Cannot read input.png; command: ")
    assert message.endswith("-q 50") and "\n" not in message
    crash = fake_codec(tmp_path / "crash", encoder_body="kill -SEGV $$")
    with pytest.raises(CommandError, match=f"was killed by signal {int(signal.SIGSEGV)} and printed nothing"):
        crash.encode(x, 50)


def test_no_output_empty_output_and_garbage_output(tmp_path, x):
    with pytest.raises(CommandError, match="the encoder exited normally but wrote no image.webp"):
        fake_codec(tmp_path / "a", encoder_body="exit 0").encode(x, 50)
    with pytest.raises(CommandError, match="the encoder wrote an empty image.webp"):
        fake_codec(tmp_path / "b", encoder_body=': > image.webp').encode(x, 50)
    garbage = fake_codec(tmp_path / "c", decoder_body='printf "garbage" > decoded.ppm')
    with pytest.raises(CommandError, match=r"the decoder's output decoded.ppm is not a valid image \(cannot identify"):
        garbage.decode(garbage.encode(x, 50))


def test_a_hung_binary_is_killed_with_what_it_started(tmp_path, x):
    pid_file = tmp_path / "child.pid"
    codec = fake_codec(tmp_path, encoder_body=f'sleep 60 &\necho $! > "{pid_file}"\nsleep 60', timeout=1)
    start = time.monotonic()
    with pytest.raises(CommandError, match="did not finish within 1 s and was killed"):
        codec.encode(x, 50)
    assert time.monotonic() - start < 20
    child = int(pid_file.read_text())
    time.sleep(0.2)
    assert _gone(child), "the binary's own child outlived the timeout"
    with pytest.raises(Exception, match="timeout must be a positive number"):
        fake_codec(tmp_path / "t", timeout=0)


def _gone(pid: int) -> bool:
    """Dead: no such process, or a zombie waiting for a parent that does not reap (as PID 1 in some containers)."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


def test_versions_and_commands_are_recorded(tmp_path):
    version = install_script(tmp_path / "v", "cwebp", 'echo "0.0-fake"')
    codec = CWebP(encoder=str(version), decoder=str(install(tmp_path / "v", "dwebp", "copy-decoder")))
    assert codec.versions()["encoder"] == "cwebp 0.0-fake"
    assert codec.config()["point_arguments"] == {"0": "-q 0", "100": "-q 100"}
    assert codec.config()["decoder_command"] == "dwebp -quiet image.webp -ppm -o decoded.ppm"


def test_failing_items_are_recorded_and_the_run_goes_on(tmp_path, kodak_crop):
    from PIL import Image

    images = tmp_path / "images"
    images.mkdir()
    Image.fromarray(kodak_crop).save(images / "a.png")
    encoder = install_script(tmp_path / "bin", "cwebp", 'echo "Error! broken encoder" >&2; exit 1')
    suite = tmp_path / "suite.toml"
    suite.write_text(f'name = "s"\ndatasets = [{{name = "folder", root = "{images}"}}]\nmetrics = ["psnr-rgb"]\n'
                     f'[[codecs]]\ncodec = "cwebp"\npoints = [50]\noptions = {{ encoder = "{encoder}" }}\n'
                     '[[codecs]]\ncodec = "jpeg"\npoints = [50]\n')
    result = run_suite(load_suite(str(suite)), tmp_path / "runs", progress=False)
    assert result.outcome.computed == 1 and len(result.outcome.failures) == 1  # jpeg measured, cwebp failed
    assert "cwebp: encoder exited with status 1: Error! broken encoder" in result.outcome.failures[0]


def test_lossy_round_trip_with_the_real_tools(kodak_crop):
    try:
        codec = CWebP()
    except CodecUnavailable as error:
        pytest.skip(str(error))
    decoded = tensor_to_uint8(codec.decode(codec.encode(uint8_to_tensor(kodak_crop), 75)))
    assert 30 < 10 * np.log10(255**2 / np.mean((decoded.astype(float) - kodak_crop) ** 2)) < 60
