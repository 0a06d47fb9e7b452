"""The models' state dicts equal the official schemas (every key and shape) and their parameter counts."""

import json
from pathlib import Path

import pytest
import torch

from bench.codecs.mpa import MPA, MPAEnc
from bench.codecs.tinylic import TinyLIC

SCHEMAS = json.loads((Path(__file__).parent / "assets" / "state_dict_schemas.json").read_text())


@pytest.mark.parametrize(
    "model_class, key, parameters",
    [(MPA, "mpa", 32_124_579), (MPAEnc, "mpa_enc", 29_001_363), (TinyLIC, "tinylic", 28_338_211)],
)
def test_state_dict_equals_the_official_schema(model_class, key, parameters):
    with torch.device("meta"):  # shapes only
        model = model_class()
    schema = SCHEMAS[key]
    actual = {name: list(tensor.shape) for name, tensor in model.state_dict().items()}
    assert actual == schema["state_dict"]
    assert sum(p.numel() for p in model.parameters()) == schema["num_parameters"] == parameters


def test_mpa_adds_exactly_the_decoder_task_paths_to_mpa_enc():
    mpa, mpa_enc = set(SCHEMAS["mpa"]["state_dict"]), set(SCHEMAS["mpa_enc"]["state_dict"])
    assert mpa_enc <= mpa
    extra = mpa - mpa_enc
    assert all(k.startswith(("g_s2.", "g_s4.", "g_s6.")) for k in extra)
    assert all(".fastmlp.mlp_list." in k or ".score_predictor." in k for k in extra)
