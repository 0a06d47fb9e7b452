"""Parameter counts: total, per top-level module, and MPA's main path / side paths per task / predictors.

Parameters are counted from the module tree (``named_parameters``), so a model built on the ``meta`` device
(no memory, no initialisation) counts the same as a trained one: the figures come from the architecture. Buffers
(the entropy coder's CDF tables, the masked convolutions' masks) are not parameters and are not counted.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import torch.nn as nn

TASKS = ("mse", "cls", "seg")  # official task_idx 0, 1, 2 of the decoder side paths

_ENCODER_SIDE = re.compile(r"^g_a\d+\..*\.fastmlp\.")
_ENCODER_PREDICTOR = re.compile(r"^g_a\d+\..*\.score_predictor\.")
_DECODER_SIDE = re.compile(r"^g_s\d+\..*\.fastmlp\.mlp_list\.(\d+)\.")
_DECODER_PREDICTOR = re.compile(r"^g_s\d+\..*\.score_predictor\.(\d+)\.")


@dataclass(frozen=True)
class ParameterCount:
    """Parameters of one model.

    Attributes:
        total: every parameter.
        main: the main path: every parameter outside the MPA side paths and predictors (for MPA: TinyLIC plus
            the variable-rate gains and layer scales; for other models: ``total``).
        encoder_side_paths: MPA/MPAEnc FastMlp side paths of g_a1/g_a3/g_a5.
        encoder_predictors: their token predictors.
        decoder_side_paths: MPA decoder side paths per task (``mse``: SlowMlp, ``cls``/``seg``: FastMlp).
        decoder_predictors: MPA decoder predictors per task.
        modules: parameters per top-level module (``g_a1``, ``entropy_bottleneck`` ...).
    """

    total: int
    main: int
    encoder_side_paths: int = 0
    encoder_predictors: int = 0
    decoder_side_paths: dict[str, int] = field(default_factory=dict)
    decoder_predictors: dict[str, int] = field(default_factory=dict)
    modules: dict[str, int] = field(default_factory=dict)

    def task_addon(self, task: str) -> int:
        """What one decoder task adds to a model without decoder side paths: its side paths and predictors."""
        return self.decoder_side_paths.get(task, 0) + self.decoder_predictors.get(task, 0)

    def as_dict(self) -> dict:
        out = {"total": self.total, "main": self.main, "modules": dict(self.modules)}
        if self.encoder_side_paths or self.decoder_side_paths:
            out.update(
                encoder_side_paths=self.encoder_side_paths,
                encoder_predictors=self.encoder_predictors,
                decoder_side_paths=dict(self.decoder_side_paths),
                decoder_predictors=dict(self.decoder_predictors),
                task_addon={task: self.task_addon(task) for task in self.decoder_side_paths},
            )
        return out


def count_parameters(model: nn.Module) -> ParameterCount:
    """Counts ``model``'s parameters by part (see :class:`ParameterCount`)."""
    total = main = encoder_side = encoder_predictors = 0
    decoder_side: dict[str, int] = {}
    decoder_predictors: dict[str, int] = {}
    modules: dict[str, int] = {}
    for name, parameter in model.named_parameters():
        count = parameter.numel()
        total += count
        top = name.split(".")[0]
        modules[top] = modules.get(top, 0) + count
        if _ENCODER_SIDE.match(name):
            encoder_side += count
        elif _ENCODER_PREDICTOR.match(name):
            encoder_predictors += count
        elif match := _DECODER_SIDE.match(name):
            task = _task(match[1])
            decoder_side[task] = decoder_side.get(task, 0) + count
        elif match := _DECODER_PREDICTOR.match(name):
            task = _task(match[1])
            decoder_predictors[task] = decoder_predictors.get(task, 0) + count
        else:
            main += count
    return ParameterCount(total, main, encoder_side, encoder_predictors, decoder_side, decoder_predictors, modules)


def _task(index: str) -> str:
    return TASKS[int(index)] if int(index) < len(TASKS) else f"task{index}"
