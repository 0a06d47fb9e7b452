"""Every registered codec, tests generated from the registry: a codec added to the registry is covered the day it lands.

Each codec (classical; command-line when its binary is here, else skipped with the reason; learned through its
seeded random-weight test variants, and the real learned classes through random weights at their smallest
quality) codes a photo crop into bytes written to a file, is decoded from those bytes read back (and nothing else),
deterministically, and equally in a fresh process. The bitstreams of the seeded random-weight learned codecs are
pinned by sha256 in ``tests/golden/`` (regenerate with ``BENCH_REGEN_GOLDEN=1`` after bumping ``code_version``).
"""

import hashlib
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

from bench.codecs import codecs
from bench.codecs.base import Codec
from bench.codecs.learned import LearnedCodec, NonFiniteError, identify_checkpoint
from bench.codecs.subprocess_codec import SubprocessCodec
from bench.errors import BenchError
from bench.schema import Bitstream
from bench.tensors import tensor_to_uint8, uint8_to_tensor
from tests.codec_cases import build_codec, sample_image

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = Path(__file__).parent / "golden"
REGENERATE = os.environ.get("BENCH_REGEN_GOLDEN") == "1"
NAMES = codecs.names()
LEARNED = [name for name in NAMES if issubclass(codecs.get(name), LearnedCodec)]
SEEDED = [name for name in LEARNED if codecs.get(name).test_only]
REAL_LEARNED = [name for name in LEARNED if not codecs.get(name).test_only]


def _param(name):
    """Real learned codecs run with random weights at full size in the slow tests; their code is covered by the
    default run through the seeded test variants (``*-tiny``)."""
    return pytest.param(name, marks=pytest.mark.slow) if name in REAL_LEARNED else name


@pytest.fixture(scope="module")
def image():
    return sample_image()


@pytest.fixture(scope="module", params=[_param(name) for name in NAMES])
def codec(request):
    try:
        return build_codec(request.param)
    except BenchError as error:  # a command-line codec whose binary is not installed here
        pytest.skip(f"{request.param} unavailable here: {error}")


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    return 10 * np.log10(255.0**2 / np.mean((a.astype(float) - b.astype(float)) ** 2))


# --- the registry --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_registry_entry_is_a_codec_class_that_carries_its_name(name):
    factory = codecs.get(name)  # the registry checks the base class and the name when it loads the entry
    assert isinstance(factory, type) and issubclass(factory, Codec) and factory.name == name
    assert factory.description and isinstance(factory.code_version, int) and factory.code_version >= 1
    if factory.test_only:
        assert name.endswith("-tiny") and "TEST ONLY" in factory.description and "random weights" in \
            factory.description
    assert "official weights" not in factory.description


def test_container_ids_are_unique_and_test_variants_share_their_parents():
    owners = {}
    for name in REAL_LEARNED:
        owners.setdefault(codecs.get(name).container_id, []).append(name)
    assert all(len(names) == 1 for names in owners.values()), owners
    for name in SEEDED:
        parent = next(cls for cls in codecs.get(name).__mro__[1:] if not getattr(cls, "test_only", True))
        assert codecs.get(name).container_id == parent.container_id


@pytest.mark.parametrize("name", REAL_LEARNED)
def test_each_learned_codec_recognises_its_own_checkpoints_and_only_those(name):
    factory = codecs.get(name)
    _, qualities, _ = factory.profile_points((1.0,), None)
    state_dict = factory.build_model(qualities[0], device="meta").state_dict()
    assert identify_checkpoint(state_dict) == (name, factory.checkpoint_label)
    assert [other for other in REAL_LEARNED if codecs.get(other).recognizes(state_dict)] == [name]


def test_listing_codecs_imports_neither_torch_nor_any_codec():
    script = ("import sys\nfrom bench.cli import main\nmain(['ls'])\n"
              "heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'PIL', 'numpy'))\n"
              "assert not heavy, heavy\n")
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, done.stderr
    assert "x265" in done.stdout and "mpa-tiny" in done.stdout


# --- every codec: bytes on disk, decode from them, determinism ----------------------------------------------


def test_round_trip_through_a_file(codec, image, tmp_path):
    x = uint8_to_tensor(image)
    height, width = image.shape[:2]
    points = list(codec.rate_points())
    rates, qualities = [], []
    for point in dict.fromkeys((points[0], points[-1])):
        bitstream = codec.encode(x, point)
        assert codec.encode(x, point).data == bitstream.data  # deterministic
        path = tmp_path / f"{codec.name} bitstream ü {point:g}.bin"
        path.write_bytes(bitstream.data)
        assert bitstream.bpp == 8 * os.stat(path).st_size / (height * width)
        assert bitstream.payload_bytes <= os.stat(path).st_size
        from_disk = Bitstream(path.read_bytes(), 0, 0, 0)  # decode must use the bytes only
        x_hat = codec.decode(from_disk, codec.decoder_variants()[0])
        assert x_hat.shape == (1, 3, height, width) and x_hat.dtype == torch.float32
        assert 0.0 <= float(x_hat.min()) and float(x_hat.max()) <= 1.0
        assert torch.equal(codec.decode(from_disk, codec.decoder_variants()[0]), x_hat)  # deterministic
        rates.append(bitstream.bpp)
        qualities.append(psnr(tensor_to_uint8(x_hat), image))
    if not isinstance(codec, LearnedCodec) and len(rates) == 2:  # random weights order nothing
        assert rates[0] < rates[1], f"{codec.name}: the rate points {points[0]} and {points[-1]} give {rates}"
        assert qualities[0] < qualities[1] and qualities[1] > 30.0, qualities


def test_decodes_in_a_fresh_process_equal_decodes_in_process(image, tmp_path):
    names, expected = [], {}
    x = uint8_to_tensor(image)
    for name in NAMES:
        if name in REAL_LEARNED:  # their code is exercised by their test variants; full size in test_mpa (slow)
            continue
        try:
            codec = build_codec(name)
        except BenchError:
            continue
        points = codec.rate_points()
        bitstream = codec.encode(x, points[len(points) // 2])
        (tmp_path / f"{name}.bin").write_bytes(bitstream.data)
        expected[name] = codec.decode(bitstream, codec.decoder_variants()[0])
        names.append(name)
    script = textwrap.dedent(f"""
        import torch
        from bench.schema import Bitstream
        from tests.codec_cases import build_codec
        out = {{}}
        for name in {names!r}:
            data = open({str(tmp_path)!r} + "/" + name + ".bin", "rb").read()
            codec = build_codec(name)
            out[name] = codec.decode(Bitstream(data, 0, 0, 0), codec.decoder_variants()[0])
        torch.save(out, {str(tmp_path / "fresh.pt")!r})
        """)
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=600,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, done.stderr[-2000:]
    fresh = torch.load(tmp_path / "fresh.pt", weights_only=True)
    assert sorted(fresh) == sorted(names) and len(names) >= 10
    for name in names:
        assert torch.equal(fresh[name], expected[name]), name


# --- learned codecs: golden bitstreams, provenance, non-finite weights ---------------------------------------


def _golden_record(name: str, image: np.ndarray) -> dict:
    codec = codecs.get(name)()
    x = uint8_to_tensor(image)
    points = codec.rate_points()
    digests = {f"{p:g}": hashlib.sha256(codec.encode(x, p).data).hexdigest() for p in dict.fromkeys(
        (points[0], points[-1]))}
    return {"codec": name, "code_version": codec.code_version, "torch": torch.__version__,
            "image": "tests/assets/kodim20.png[200:266, 300:400]", "bitstream_sha256": digests}


def _code_version_owner(name: str) -> str:
    """The real codec class a test variant exercises: where a bumped code_version belongs."""
    owner = next(c for c in codecs.get(name).__mro__ if not getattr(c, "test_only", False))
    return f"{owner.__module__}.{owner.__qualname__}"


@pytest.mark.parametrize("name", SEEDED)
def test_seeded_bitstreams_match_the_golden_sha256(name, image):
    """Catches silent drift: a change of a learned codec's bytes must come with a bump of its code_version."""
    path = GOLDEN / f"{name}.json"
    record = _golden_record(name, image)
    if REGENERATE:
        path.parent.mkdir(exist_ok=True)
        path.write_text(json.dumps(record, indent=2) + "\n")
    if not path.is_file():
        pytest.fail(f"{path} is missing: generate it with BENCH_REGEN_GOLDEN=1 and commit it")
    golden = json.loads(path.read_text())
    if record["bitstream_sha256"] == golden["bitstream_sha256"]:
        assert record["code_version"] == golden["code_version"], \
            f"code_version of {name} changed but its bytes did not: regenerate {path} with BENCH_REGEN_GOLDEN=1"
        return
    if record["code_version"] == golden["code_version"]:
        pytest.fail(f"the bitstreams of {name} changed while its code_version stayed {golden['code_version']}: "
                    f"bump code_version of {name} (on {_code_version_owner(name)}), then regenerate {path} with "
                    f"BENCH_REGEN_GOLDEN=1 (golden made with torch {golden['torch']}, this is {torch.__version__})")
    pytest.fail(f"{name}: code_version is now {record['code_version']} (golden: {golden['code_version']}): "
                f"regenerate {path} with BENCH_REGEN_GOLDEN=1")


@pytest.mark.parametrize("name", SEEDED)
def test_test_variants_never_claim_official_weights(name):
    codec = codecs.get(name)()
    provenance = codec.provenance()
    assert provenance["official"] is False
    assert all("random weights" in entry["path"] and len(entry["sha256"]) == 64
               for entry in provenance["checkpoints"].values())


def _poison(model: torch.nn.Module, value: float, prefix: str = "") -> None:
    with torch.no_grad():
        for key, parameter in model.named_parameters():
            if key.startswith(prefix) and parameter.is_floating_point():
                parameter.fill_(value)


@pytest.mark.parametrize("name", SEEDED)
def test_nan_weights_fail_the_encode_and_the_decode_with_a_clear_message(name, image):
    x = uint8_to_tensor(image)
    codec = codecs.get(name)()
    point = codec.rate_points()[0]
    bitstream = codec.encode(x, point)
    _poison(codec.model(point), float("nan"), prefix="g_s")  # the synthesis only: the decoder's output
    with pytest.raises(NonFiniteError, match=rf"{name}: the reconstruction .* holds \d+ non-finite value\(s\) \(NaN\)"):
        codec.decode(bitstream, codec.decoder_variants()[0])
    _poison(codec.model(point), float("nan"))
    with pytest.raises(NonFiniteError, match=rf"{name}: the .*latent.* \(NaN\) of \d+; nothing was entropy-coded"):
        codec.encode(x, point)


INF_CASES = ["tinylic-tiny", "bmshj2018-hyperprior-tiny"]  # the two encode paths: TransformerCodec, the zoo's hooks


def test_inf_weights_fail_fast_instead_of_hanging_the_entropy_coder(image, tmp_path):
    """compressai's rANS coder loops for ever on infinite latents: the check must stop the encode before it (in a
    child process with a timeout, so that a regression fails instead of hanging the test run)."""
    script = textwrap.dedent(f"""
        import torch
        from bench.codecs import codecs
        from bench.codecs.learned import NonFiniteError
        from bench.tensors import uint8_to_tensor
        from tests.codec_cases import sample_image
        x = uint8_to_tensor(sample_image())
        for name in {INF_CASES!r}:
            codec = codecs.get(name)()
            point = codec.rate_points()[0]
            with torch.no_grad():
                for parameter in codec.model(point).parameters():
                    parameter.fill_(float("inf"))
            try:
                codec.encode(x, point)
            except NonFiniteError as error:
                print(error)
            else:
                raise SystemExit(name + " encoded infinite latents")
        """)
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, done.stdout + done.stderr[-2000:]
    lines = done.stdout.strip().splitlines()
    assert len(lines) == len(INF_CASES)
    assert all("non-finite value(s)" in line and "nothing was entropy-coded" in line for line in lines), lines


# --- command-line codecs -------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", [n for n in NAMES if issubclass(codecs.get(n), SubprocessCodec)])
def test_command_line_codecs_record_versions_and_commands(name):
    try:
        codec = codecs.get(name)()
    except BenchError as error:
        pytest.skip(f"{name} unavailable here: {error}")
    assert all(version.split()[1] != "unknown" for version in codec.versions().values()), codec.versions()
    config = codec.config()
    assert config["encoder_command"].startswith(codec.tools[0].default + " ")
    assert len(config["point_arguments"]) == 2  # the lowest and highest valid points
    json.dumps(config)
