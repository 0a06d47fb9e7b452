"""The plugin registry: lazy entries checked on load, and plugins of other packages through entry points.

The plugin used here is the example codec of the README (its code block is read from README.md), installed the
way pip installs a package: a module and a ``*.dist-info`` folder with ``entry_points.txt`` on ``sys.path``.
"""

import logging
import re
from pathlib import Path

import numpy as np
import pytest

from bench.codecs.base import Codec
from bench.registry import PluginError, Registry, UnknownName
from bench.tensors import tensor_to_uint8, uint8_to_tensor

README = Path(__file__).resolve().parents[1] / "README.md"


def readme_example() -> str:
    block = re.search(r"<!-- plugin-example:begin -->\n```python\n(.*?)```\n<!-- plugin-example:end -->",
                      README.read_text(), re.S)
    assert block, "README.md has no plugin example block"
    return block.group(1)


@pytest.fixture
def installed(tmp_path, monkeypatch):
    """Installs packages made of modules and entry points, as pip would; returns the installer."""
    monkeypatch.syspath_prepend(str(tmp_path))

    def install(distribution: str, modules: dict[str, str], entry_points: dict[str, dict[str, str]]):
        for name, source in modules.items():
            (tmp_path / f"{name}.py").write_text(source)
        info = tmp_path / f"{distribution}-1.0.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {distribution}\nVersion: 1.0\n")
        lines = [f"[{group}]\n" + "".join(f"{k} = {v}\n" for k, v in entries.items())
                 for group, entries in entry_points.items()]
        (info / "entry_points.txt").write_text("\n".join(lines))

    return install


def codec_registry() -> Registry:
    registry = Registry("codec", base="bench.codecs.base:Codec", name_attribute="name",
                        entry_point_group="mpa_bench.codecs")
    registry.add("jpeg", "bench.codecs.classical:JPEG")
    return registry


def test_the_readme_example_is_a_working_plugin(installed, kodak_crop):
    installed("my-codecs", {"my_posterize": readme_example()},
              {"mpa_bench.codecs": {"posterize": "my_posterize:Posterize"}})
    registry = codec_registry()
    assert registry.names() == ["jpeg", "posterize"]
    codec = registry.get("posterize")()
    x = uint8_to_tensor(kodak_crop)
    rates = [codec.encode(x, point).bpp for point in codec.rate_points()]
    assert rates == sorted(rates)
    decoded = tensor_to_uint8(codec.decode(codec.encode(x, 6)))
    assert np.abs(decoded.astype(int) - kodak_crop).max() <= 2  # 6 bits kept: the middle of a 4-level bin


def test_plugins_of_the_wrong_kind_or_name_are_refused(installed):
    installed("bad-codecs", {"bad_codecs": "class NotACodec:\n    name = 'not-a-codec'\n"
                                           "from bench.codecs.classical import JPEG as Renamed\n"},
              {"mpa_bench.codecs": {"not-a-codec": "bad_codecs:NotACodec", "renamed": "bad_codecs:Renamed",
                                    "missing": "bad_codecs:Nothing"}})
    registry = codec_registry()
    with pytest.raises(PluginError, match=r"codec 'not-a-codec' \(bad_codecs:NotACodec\) is not a bench.codecs.base"):
        registry.get("not-a-codec")
    with pytest.raises(PluginError, match="declares name = 'jpeg', not 'renamed'"):
        registry.get("renamed")
    with pytest.raises(PluginError, match="cannot be imported"):
        registry.get("missing")


def test_a_plugin_cannot_replace_a_built_in(installed, caplog):
    installed("shadow", {"shadow_codec": "from bench.codecs.classical import WebP as Shadow\n"},
              {"mpa_bench.codecs": {"jpeg": "shadow_codec:Shadow", "no-colon": "shadow_codec"}})
    registry = codec_registry()
    with caplog.at_level(logging.WARNING, logger="bench.registry"):
        assert registry.names() == ["jpeg"]
    assert "ignoring codec plugin 'jpeg'" in caplog.text and "does not name 'module:attr'" in caplog.text
    assert registry.get("jpeg").__name__ == "JPEG"


def test_metric_and_dataset_groups(installed):
    installed("more", {"more_plugins": "from bench.metrics.fidelity import PSNR\n"
                                       "from bench.data.images import SampleDataset\n"},
              {"mpa_bench.metrics": {"psnr-rgb-again": "more_plugins:PSNR"},
               "mpa_bench.datasets": {"sample": "more_plugins:SampleDataset"}})
    metrics = Registry("metric", base="bench.metrics.base:Metric", name_attribute="spec.key",
                       entry_point_group="mpa_bench.metrics")
    with pytest.raises(PluginError, match="declares spec.key = 'psnr-rgb', not 'psnr-rgb-again'"):
        metrics.get("psnr-rgb-again")
    datasets = Registry("dataset", base="bench.data.base:Dataset", name_attribute="name",
                        entry_point_group="mpa_bench.datasets")
    assert datasets.get("sample").name == "sample"


def test_unknown_names_suggest_close_ones():
    with pytest.raises(UnknownName, match="did you mean jpeg"):
        codec_registry().get("jpg")
    assert issubclass(codec_registry().get("jpeg"), Codec)
