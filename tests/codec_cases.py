"""How the registry-generated codec tests build each codec and which image they code.

Shared by ``tests/test_codecs.py`` and the fresh process it starts, so both build the very same codec.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from bench.codecs import codecs
from bench.codecs.base import Codec
from bench.codecs.learned import LearnedCodec
from bench.data.imagefile import load_rgb8

ASSETS = Path(__file__).parent / "assets"
SEED = 0


def sample_image() -> np.ndarray:
    """A 66x100 crop of Kodak image 20: not a multiple of any codec's block or padding size, and at least one
    64x64 coding tree unit (x265's minimum picture size)."""
    return np.ascontiguousarray(load_rgb8(ASSETS / "kodim20.png")[200:266, 300:400])


def build_codec(name: str) -> Codec:
    """The codec under test: as registered (test-only variants, classical and command-line codecs), or, for a
    learned codec whose real weights are not here, its architecture at its smallest quality with seeded random
    weights.

    Raises:
        bench.errors.BenchError: the codec is unavailable here (e.g. a command-line codec whose binary is missing).
    """
    factory = codecs.get(name)
    if issubclass(factory, LearnedCodec) and not factory.test_only:
        return random_weights_codec(factory)
    return factory()


def random_weights_codec(factory: type[LearnedCodec]) -> LearnedCodec:
    points, qualities, _ = factory.profile_points((1.0,), None)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(SEED)
        model = factory.build_model(qualities[0])
    key = None if factory.one_model_for_all_points else points[0]
    return factory.from_models({key: model}, f"random weights (seed {SEED}), test only")
