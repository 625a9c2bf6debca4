"""HopSkipJump through a label-only API: it sees labels only, counts every query, and gets
close to the true minimum distortion, which we know in closed form for a linear model."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from lessons import blackbox, decision

pytestmark = pytest.mark.usefixtures("one_thread")


def _linear(seed: int = 0) -> nn.Module:
    """A binary linear classifier on (1, 8, 8) images: logits (0, w·x + b)."""
    g = torch.Generator().manual_seed(seed)
    w = torch.randn(64, generator=g)
    layer = nn.Linear(64, 2)
    with torch.no_grad():
        layer.weight.copy_(torch.stack([torch.zeros(64), w]))
        layer.bias.copy_(torch.tensor([0.0, -0.5 * float(w.sum())]))  # boundary through the grey image
    return nn.Sequential(nn.Flatten(), layer).eval()


def _digits(model: nn.Module, n: int = 6, seed: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    """Images near mid-grey (so the [0, 1] box never binds) and the model's own labels."""
    g = torch.Generator().manual_seed(seed)
    x = 0.5 + 0.1 * (torch.rand(n, 1, 8, 8, generator=g) * 2 - 1)
    with torch.no_grad():
        y = model(x).argmax(1)
    return x, y


def _exact(model: nn.Module, x: torch.Tensor, norm: str) -> torch.Tensor:
    """The smallest distance to the boundary w·x + b = 0 (no box): |s| / ‖w‖_dual."""
    layer = model[1]
    w, b = layer.weight[1] - layer.weight[0], layer.bias[1] - layer.bias[0]
    s = (x.flatten(1) @ w + b).abs()
    return (s / (w.abs().sum() if norm == "linf" else w.norm())).detach()


@pytest.mark.parametrize("norm", decision.NORMS)
def test_close_to_the_exact_minimum_on_a_linear_model(norm):
    model = _linear()
    x, y = _digits(model)
    api = blackbox.QueryModel(model, output="label")
    res = decision.hop_skip_jump(api, x, y, norm=norm, max_queries=1500, generator=torch.Generator().manual_seed(0))
    exact = _exact(model, x, norm)
    assert res.success.all()
    with torch.no_grad():
        assert (model(res.x_adv).argmax(1) != y).all()  # really misclassified, on the model itself
    assert (res.distance >= exact - 1e-5).all()  # no attack beats the exact minimum
    assert (res.distance <= 1.5 * exact).all(), (res.distance / exact)  # and this one gets near it
    measured = (res.x_adv - x).flatten(1)
    measured = measured.abs().amax(1) if norm == "linf" else measured.norm(dim=1)
    assert torch.allclose(measured, res.distance, atol=1e-5)


def test_every_query_is_counted_and_within_the_budget():
    model = _linear()
    x, y = _digits(model)
    api = blackbox.QueryModel(model, output="label")
    res = decision.hop_skip_jump(api, x, y, max_queries=300, generator=torch.Generator().manual_seed(0))
    assert int(res.queries.sum()) == api.queries
    assert int(res.queries.max()) <= 300
    # the trace: queries grow, the best distance never grows, and distance_at reads it off
    assert (res.trace_queries[1:] >= res.trace_queries[:-1]).all()
    assert (res.trace_distance[1:] <= res.trace_distance[:-1]).all()
    assert torch.equal(decision.distance_at(res, 300), res.distance)
    assert (decision.distance_at(res, 100) >= res.distance).all()
    assert torch.isinf(decision.distance_at(res, 1)).all()  # one query only tells the label


def test_eps_stops_each_image_once_it_is_within_eps():
    model = _linear()
    x, y = _digits(model)
    exact = _exact(model, x, "linf")
    eps = float(exact.max()) * 2
    api = blackbox.QueryModel(model, output="label")
    res = decision.hop_skip_jump(api, x, y, eps=eps, max_queries=1500, generator=torch.Generator().manual_seed(0))
    assert res.success.all() and (res.distance <= eps).all()
    full = decision.hop_skip_jump(blackbox.QueryModel(model, output="label"), x, y, max_queries=1500,
                                  generator=torch.Generator().manual_seed(0))
    assert int(res.queries.sum()) == api.queries < int(full.queries.sum())  # stopping early saves queries
    tight = decision.hop_skip_jump(blackbox.QueryModel(model, output="label"), x, y, eps=float(exact.min()) / 2,
                                   max_queries=200, generator=torch.Generator().manual_seed(0))
    assert not tight.success.any()  # below the exact minimum nothing can succeed


def test_inputs_already_wrong_cost_one_query_and_come_back_unchanged():
    model = _linear()
    x, y = _digits(model)
    y_wrong = 1 - y
    api = blackbox.QueryModel(model, output="label")
    res = decision.hop_skip_jump(api, x, y_wrong, max_queries=200)
    assert api.queries == len(x) and torch.equal(res.x_adv, x)
    assert res.success.all() and (res.distance == 0).all()


def test_it_sees_labels_only_and_stops_quietly_when_the_api_budget_runs_out():
    model = _linear()
    x, y = _digits(model)
    with pytest.raises(ValueError, match="labels only"):
        decision.hop_skip_jump(blackbox.QueryModel(model, output="probs"), x, y)
    with pytest.raises(TypeError, match="oracle"):
        decision.hop_skip_jump(model, x, y)
    api = blackbox.QueryModel(model, output="label", budget=150)
    res = decision.hop_skip_jump(api, x, y, max_queries=1000, generator=torch.Generator().manual_seed(0))
    assert api.queries <= 150 and int(res.queries.sum()) == api.queries
    with torch.no_grad():  # whatever it found is still misclassified
        found = torch.isfinite(res.distance)
        assert (model(res.x_adv[found]).argmax(1) != y[found]).all()


def test_same_generator_same_result_and_the_model_is_left_alone():
    model = _linear()
    model.train()
    x, y = _digits(model)
    runs = [decision.hop_skip_jump(blackbox.QueryModel(model, output="label"), x, y, max_queries=200,
                                   generator=torch.Generator().manual_seed(3)) for _ in range(2)]
    assert torch.equal(runs[0].x_adv, runs[1].x_adv) and torch.equal(runs[0].queries, runs[1].queries)
    assert model.training and all(p.grad is None for p in model.parameters())


def test_a_budget_too_small_to_start_is_refused():
    model = _linear()
    x, y = _digits(model)
    with pytest.raises(ValueError, match="max_queries"):
        decision.hop_skip_jump(blackbox.QueryModel(model, output="label"), x, y, max_queries=20)


def test_the_queries_figure_draws_a_line_per_attack():
    from lessons import viz

    queries, success = torch.tensor([3, 10, 40, 1000]), torch.tensor([True, True, False, True])
    fig = viz.queries_to_success({"a": (queries, success), "b": (queries, ~success)}, max_queries=1000,
                                 lines={"white-box": 1.0})
    lines = fig.get_axes()[0].get_lines()
    assert [line.get_label() for line in lines] == ["a", "b", "white-box"]
    x, y = lines[0].get_data()
    assert y[x >= 1000][-1] == 75.0 and y[x < 3].max() == 0.0  # 3 of 4 by the end, none before 3 queries
