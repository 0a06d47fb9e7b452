"""Complexity profile: parameters, MACs per pixel with neighborhood attention counted, and latency.

Public API (``python -m bench profile`` is its command line):

- :func:`profile_codecs` (:mod:`bench.complexity.runner`): codecs -> a :class:`ComplexityDocument` with per-codec
  profiles and, when MPA is profiled, Table 4 of the MPA paper (:mod:`bench.complexity.table4`);
  :func:`write_json` / :func:`format_text` (:mod:`bench.complexity.document`) write it.
- :func:`count_macs` and :class:`MacCount` (:mod:`bench.complexity.macs`): FlopCounterMode with the analytic
  neighborhood-attention cost, on meta tensors; :data:`CONVENTIONS`.
- :func:`count_parameters` (:mod:`bench.complexity.params`): total, main path, side paths per task, predictors.
- :func:`time_codec` and the batched model timers (:mod:`bench.complexity.latency`).
"""

from bench.complexity.document import ComplexityDocument as ComplexityDocument
from bench.complexity.document import format_text as format_text
from bench.complexity.document import to_json as to_json
from bench.complexity.document import write_json as write_json
from bench.complexity.latency import Latency as Latency
from bench.complexity.latency import time_codec as time_codec
from bench.complexity.macs import CONVENTIONS as CONVENTIONS
from bench.complexity.macs import DEFAULT_CONVENTION as DEFAULT_CONVENTION
from bench.complexity.macs import MacCount as MacCount
from bench.complexity.macs import count_macs as count_macs
from bench.complexity.macs import neighborhood_attention_macs as neighborhood_attention_macs
from bench.complexity.params import ParameterCount as ParameterCount
from bench.complexity.params import count_parameters as count_parameters
from bench.complexity.profile import ProfileOptions as ProfileOptions
from bench.complexity.runner import profile_codecs as profile_codecs
from bench.complexity.table4 import build_table4 as build_table4
from bench.complexity.table4 import mpa_sweep as mpa_sweep
