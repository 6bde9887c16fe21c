"""Token Distance Cross-Entropy (paper Eq. 1)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from genie_gym.models.tdce import tdce_loss, token_distance_table

pytestmark = pytest.mark.usefixtures("one_thread")


def test_distance_table_is_cosine_distance():
    torch.manual_seed(0)
    codebook = torch.randn(16, 8)
    table = token_distance_table(codebook)
    unit = F.normalize(codebook, dim=-1)
    assert table.shape == (16, 16)
    assert torch.allclose(table, (1 - unit @ unit.t()).clamp_min(0).fill_diagonal_(0), atol=1e-6)
    assert torch.equal(table.diagonal(), torch.zeros(16))
    assert torch.allclose(table, table.t(), atol=1e-6)
    assert float(table.min()) >= 0.0 and float(table.max()) <= 2.0
    # scaling a code does not change cosine distances
    scaled = codebook.clone()
    scaled[3] *= 5.0
    assert torch.allclose(token_distance_table(scaled), table, atol=1e-5)


def test_equals_cross_entropy_when_the_table_is_zero_or_lambda_is_zero():
    torch.manual_seed(0)
    logits = torch.randn(32, 16)
    targets = torch.randint(0, 16, (32,))
    expected = F.cross_entropy(logits, targets)
    loss, ce, term = tdce_loss(logits, targets, torch.zeros(16, 16), lam=3.0)
    assert torch.allclose(loss, expected) and torch.allclose(ce, expected) and float(term) == 0.0
    loss, _, term = tdce_loss(logits, targets, token_distance_table(torch.randn(16, 8)), lam=0.0)
    assert torch.allclose(loss, expected) and float(term) == 0.0


def test_matches_the_formula_and_its_gradient():
    torch.manual_seed(0)
    logits = torch.randn(10, 6, requires_grad=True)
    targets = torch.randint(0, 6, (10,))
    table = token_distance_table(torch.randn(6, 4))
    loss, _, _ = tdce_loss(logits, targets, table, lam=3.0)
    one_hot = F.one_hot(targets, 6).float()
    manual = F.cross_entropy(logits, targets) + 3.0 * ((one_hot @ table) * logits.softmax(-1)).sum(-1).mean()
    assert torch.allclose(loss, manual)
    (grad,) = torch.autograd.grad(loss, logits)
    (manual_grad,) = torch.autograd.grad(manual, logits)
    assert torch.allclose(grad, manual_grad, atol=1e-6)


def test_penalises_far_tokens_more_than_near_ones():
    # code 0 is the truth, code 1 points almost the same way, code 2 the opposite way
    codebook = torch.tensor([[1.0, 0.0], [0.95, 0.3], [-1.0, 0.05]])
    table = token_distance_table(codebook)
    targets = torch.tensor([0])
    near_mistake = torch.tensor([[2.0, 1.5, -5.0]])  # spare mass on the near code
    far_mistake = torch.tensor([[2.0, -5.0, 1.5]])  # the same mass on the far code
    near_loss, near_ce, _ = tdce_loss(near_mistake, targets, table, lam=3.0)
    far_loss, far_ce, _ = tdce_loss(far_mistake, targets, table, lam=3.0)
    assert torch.allclose(near_ce, far_ce), "plain cross-entropy cannot tell the two mistakes apart"
    assert float(far_loss) > float(near_loss) + 0.5



def test_weights_give_the_weighted_mean_and_unit_weights_the_plain_loss():
    torch.manual_seed(0)
    logits = torch.randn(12, 6)
    targets = torch.randint(0, 6, (12,))
    table = token_distance_table(torch.randn(6, 4))
    plain = tdce_loss(logits, targets, table, lam=3.0)
    unit = tdce_loss(logits, targets, table, lam=3.0, weights=torch.ones(12))
    assert all(torch.allclose(a, b) for a, b in zip(plain, unit, strict=True))
    weights = torch.tensor([4.0] * 3 + [1.0] * 9)
    loss, ce, term = tdce_loss(logits, targets, table, lam=3.0, weights=weights)
    per_ce = F.cross_entropy(logits, targets, reduction="none")
    per_term = (table[targets] * logits.softmax(-1)).sum(-1)
    assert torch.allclose(ce, (per_ce * weights).sum() / weights.sum())
    assert torch.allclose(term, (per_term * weights).sum() / weights.sum())
    assert torch.allclose(loss, ce + 3.0 * term)
    assert not torch.allclose(loss, plain[0])
