"""MPA's decoder without q_task follows the official predictor: it falls back to the encoder's main-path ratio of
the quality, (5^((q-1)/7) - 1) / 4 (NJUVISION/MPA, ``Predictor.forward`` at inference). At q = 1 that ratio is 0,
which q_task = 8 also gives; at q = 8 it is 1, which q_task = 1 gives: the outputs must be identical."""

import torch

from tests.test_mpa import random_mpa


def test_synthesis_without_q_task_uses_the_encoder_formula_of_the_quality():
    model = random_mpa()
    torch.manual_seed(3)
    y_hat = torch.randn(1, model.M, 7, 7)  # the 7x7 neighbourhood attention needs 7 tokens at the latent stage
    with torch.no_grad():
        low = model.synthesize(y_hat, 1.0, None, 1)
        assert torch.equal(low, model.synthesize(y_hat, 1.0, 8.0, 1))
        # not the all-main-path ratio (q_task = 1) it used before, where the formula gives 0
        assert not torch.equal(low, model.synthesize(y_hat, 1.0, 1.0, 1))
        assert torch.equal(model.synthesize(y_hat, 8.0, None, 1), model.synthesize(y_hat, 8.0, 1.0, 1))
