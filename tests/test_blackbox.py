"""Lesson 06: the query wrapper, the closed-form linear attack, the tree attack, substitutes and SimBA.

Covers ``lessons.blackbox`` and ``lessons.classic``. Everything runs on small batches with
cheap or untrained models (plus the cached CNN where a real target matters).
"""

import copy

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from lessons import attacks, blackbox, classic, models, panels, queries


@pytest.fixture(scope="module")
def three_vs_seven(mnist):
    """Binary 3-vs-7 digits (label 1 = '7') and a logistic regression fitted on 300 of them."""
    def pick(x, y):
        keep = (y == 3) | (y == 7)
        return x[keep], (y[keep] == 7).long()

    x_tr, y_tr = pick(mnist.x_train, mnist.y_train)
    x_te, y_te = pick(mnist.x_test, mnist.y_test)
    clf = classic.logistic_regression(x_tr[:300], y_tr[:300], C=0.1)
    return clf, x_te[:60], y_te[:60]


@pytest.fixture(scope="module")
def tree(mnist):
    """A depth-10 tree on 1,000 training digits (under a second)."""
    return classic.decision_tree(mnist.x_train[:1000], mnist.y_train[:1000], max_depth=10)


# --------------------------------------------------------------------------- QueryModel


def test_query_model_counts_every_image_and_answers_like_the_model(tiny_cnn, digits):
    x, _ = digits
    api = blackbox.QueryModel(tiny_cnn, output="probs")
    probs = api(x[:5])
    assert api.queries == 5
    api(x[:1])
    api(x[:7])
    assert api.queries == 13 and api.remaining is None
    with torch.no_grad():
        expected = F.softmax(tiny_cnn(x[:5]), 1)
    assert torch.allclose(probs, expected, atol=1e-6)
    labels = blackbox.QueryModel(tiny_cnn, output="label")(x[:5])
    assert labels.dtype == torch.int64 and torch.equal(labels, expected.argmax(1))


def test_query_model_hides_gradients(tiny_cnn, digits):
    x, y = digits
    api = blackbox.QueryModel(tiny_cnn, output="probs")
    x = x[:4].clone().requires_grad_(True)
    out = api(x)
    assert not out.requires_grad and out.grad_fn is None
    with pytest.raises(RuntimeError):
        torch.autograd.grad(out[:, 0].sum(), x)
    with pytest.raises(RuntimeError):
        out[:, 0].sum().backward()
    # the course's gradient attacks refuse it, and it exposes no parameters to differentiate
    with pytest.raises(TypeError):
        attacks.fgsm(api, x.detach(), y[:4], 0.1)
    assert not isinstance(api, nn.Module) and not hasattr(api, "parameters")
    assert all(p.grad is None for p in tiny_cnn.parameters())


def test_query_model_leaves_the_model_as_it_was(tiny_cnn, digits):
    tiny_cnn.train()
    state = copy.deepcopy(tiny_cnn.state_dict())
    blackbox.QueryModel(tiny_cnn)(digits[0][:3])
    assert tiny_cnn.training and all(torch.equal(v, state[k]) for k, v in tiny_cnn.state_dict().items())


def test_query_budget_is_exact_and_no_partial_batch_is_served(tiny_cnn, digits):
    x, _ = digits
    api = blackbox.QueryModel(tiny_cnn, budget=10)
    api(x[:4])
    api(x[:6])  # exactly the budget: allowed
    assert api.queries == 10 and api.remaining == 0
    with pytest.raises(blackbox.QueryBudgetExceeded, match="budget of 10"):
        api(x[:1])
    assert api.queries == 10
    api = blackbox.QueryModel(tiny_cnn, budget=10)
    api(x[:8])
    with pytest.raises(blackbox.QueryBudgetExceeded, match="2 left"):
        api(x[:3])  # would need 11: refused whole
    assert api.queries == 8
    api(x[:2])
    assert api.remaining == 0
    assert blackbox.QueryModel(tiny_cnn, budget=0).remaining == 0


def test_query_model_validates_its_arguments(tiny_cnn, digits):
    with pytest.raises(ValueError, match="output must be one of"):
        blackbox.QueryModel(tiny_cnn, output="logits")
    with pytest.raises(ValueError, match="budget must be an integer"):
        blackbox.QueryModel(tiny_cnn, budget=-1)
    with pytest.raises(TypeError, match="torch.nn.Module or a fitted scikit-learn"):
        blackbox.QueryModel(lambda x: x)
    api = blackbox.QueryModel(tiny_cnn, budget=5)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        api(digits[0][:2] * 255)
    assert api.queries == 0  # a rejected input is not a query


def test_query_model_wraps_a_scikit_learn_tree(tree, digits):
    x, _ = digits
    api = blackbox.QueryModel(tree, output="label")
    assert torch.equal(api(x), torch.as_tensor(tree.predict(x.flatten(1).numpy())))
    probs = blackbox.QueryModel(tree, output="probs")(x)
    assert probs.shape == (len(x), 10) and torch.allclose(probs.sum(1), torch.ones(len(x)))


# --------------------------------------------------------------------------- linear


def test_closed_form_matches_fgsm_on_the_same_logistic_regression(three_vs_seven):
    clf, x, y = three_vs_seven
    weight, bias = classic.linear_parameters(clf)
    assert weight.shape == (2, 784) and torch.equal(weight[0], torch.zeros(784))
    # the same model in torch, in float64 so the sigmoid's gradient never underflows to 0
    torch_model = nn.Sequential(nn.Flatten(), nn.Linear(784, 2)).double().eval()
    with torch.no_grad():
        torch_model[1].weight.copy_(weight.double())
        torch_model[1].bias.copy_(bias.double())
    x64 = x.double()
    assert torch.equal(torch_model(x64).argmax(1), torch.as_tensor(clf.predict(x.flatten(1).numpy())))
    for eps in (0.05, 0.25):
        closed = classic.linear_attack(clf, x64, y, eps)
        grad_based = attacks.fgsm(torch_model, x64, y, eps)
        assert torch.allclose(closed, grad_based, atol=1e-6), eps
    # and it really is the closed form x ∓ ε·sign(w)
    sign = torch.as_tensor(np.sign(clf.coef_[0]), dtype=torch.float32).view(1, 1, 28, 28)
    manual = (x + 0.25 * (1 - 2 * y).view(-1, 1, 1, 1) * sign).clamp(0, 1)
    assert torch.allclose(classic.linear_attack(clf, x, y, 0.25), manual, atol=1e-6)


def test_closed_form_is_optimal_on_a_multiclass_linear_model(digits):
    x, y = digits
    torch.manual_seed(0)
    model = models.softmax_regression().eval()  # untrained: any affine map will do
    weight, bias = classic.linear_parameters(model)
    with torch.no_grad():
        assert torch.allclose(x.flatten(1) @ weight.T + bias, model(x), atol=1e-3)

    def best_margin(images):
        with torch.no_grad():
            logits = model(images)
        true = logits.gather(1, y[:, None])
        logits = logits.scatter(1, y[:, None], -torch.inf)
        return (logits.max(1).values - true[:, 0])

    eps = 0.05
    closed = classic.linear_attack(model, x, y, eps)
    strong = attacks.pgd(model, x, y, eps, steps=30, restarts=2, generator=torch.Generator().manual_seed(0))
    assert float((closed - x).abs().max()) <= eps + 1e-6 and 0 <= float(closed.min()) and float(closed.max()) <= 1
    # no image in the ε-box has a larger margin than the closed form's (PGD cannot beat it)
    assert bool((best_margin(closed) >= best_margin(strong) - 1e-3).all())
    assert bool((best_margin(closed) > best_margin(x)).all())


def test_linear_attack_edge_cases_and_errors(three_vs_seven):
    clf, x, y = three_vs_seven
    same = classic.linear_attack(clf, x, y, 0.0)
    assert torch.equal(same, x) and same.data_ptr() != x.data_ptr()
    with pytest.raises(ValueError, match="eps must be in"):
        classic.linear_attack(clf, x, y, 8)
    with pytest.raises(ValueError, match="not affine"):
        classic.linear_parameters(models.mlp((20,)).eval())
    with pytest.raises(TypeError):
        classic.linear_parameters("a model")


# --------------------------------------------------------------------------- tree


def test_tree_attack_flips_every_correct_digit_and_stays_in_the_box(tree, mnist):
    x, y = mnist.x_test[:100], mnist.y_test[:100]
    x_adv = classic.tree_attack(tree, x, y)
    before, after = classic.predict_labels(tree, x), classic.predict_labels(tree, x_adv)
    right = before == y
    assert right.float().mean() > 0.6
    assert bool((after[right] != y[right]).all())  # classified differently
    assert float(x_adv.min()) >= 0 and float(x_adv.max()) <= 1
    assert x_adv.shape == x.shape and x_adv.dtype == x.dtype
    assert torch.equal(x_adv[~right], x[~right])  # already wrong: untouched
    changed = (x_adv != x).flatten(1).sum(1)
    assert int(changed[right].max()) <= 3 and float((changed[right] == 1).float().mean()) > 0.8


def _single_pixel_flip_exists(tree, x, y, eps):
    """Brute force: can moving one pixel, by at most eps, just across one threshold, flip the tree?"""
    t = tree.tree_
    splits = [(int(f), float(v)) for f, v in zip(t.feature, t.threshold) if f >= 0]
    base = x.flatten().numpy().astype(np.float32)
    candidates = []
    for f, thr in splits:
        for v in (np.float32(thr), np.nextafter(np.float32(thr), np.float32(2)), np.nextafter(np.float32(thr), np.float32(-1))):
            if 0 <= v <= 1 and abs(float(v) - float(base[f])) <= eps:
                row = base.copy()
                row[f] = v
                candidates.append(row)
    if not candidates:
        return False
    return bool((tree.predict(np.stack(candidates)) != int(y)).any())


def test_tree_attack_finds_every_single_pixel_flip_within_eps(tree, mnist):
    x, y = mnist.x_test[:25], mnist.y_test[:25]
    eps = 0.03
    x_adv = classic.tree_attack(tree, x, y, eps)
    flipped = classic.predict_labels(tree, x_adv) != y
    assert float((x_adv - x).abs().max()) <= eps + 1e-7
    right = classic.predict_labels(tree, x) == y
    found_by_brute_force = 0
    for i in np.flatnonzero(right.numpy()):
        if _single_pixel_flip_exists(tree, x[i], y[i], eps):
            found_by_brute_force += 1
            assert bool(flipped[i]) and int((x_adv[i] != x[i]).sum()) == 1, i
        elif not flipped[i]:
            assert torch.equal(x_adv[i], x[i])  # failure leaves the image unchanged
    assert found_by_brute_force > 0  # the comparison was not vacuous


def test_tree_attack_on_the_8bit_grid(tree, mnist):
    x, y = mnist.x_test[:40], mnist.y_test[:40]
    x_adv = classic.tree_attack(tree, x, y, levels=255)
    assert torch.equal(x_adv, (x_adv * 255).round() / 255)
    right = classic.predict_labels(tree, x) == y
    assert bool((classic.predict_labels(tree, x_adv)[right] != y[right]).all())
    with pytest.raises(ValueError, match="levels=16 needs images on that grid"):
        classic.tree_attack(tree, x, y, levels=16)


def test_tree_leaves_cover_the_training_digits(tree, mnist):
    leaves = classic.tree_leaves(tree)
    assert len(leaves) == tree.get_n_leaves()
    x = mnist.x_train[:50].flatten(1).numpy()
    # each digit lies in exactly one leaf's box, and that leaf's label is the tree's prediction
    for row, pred in zip(x, tree.predict(x)):
        inside = [lab for lab, f, lo, hi in leaves if np.all((row[f] > lo) & (row[f] <= hi))]
        assert inside == [pred]


# --------------------------------------------------------------------------- substitute


def test_train_substitute_spends_exactly_the_budget(tiny_cnn, mnist):
    oracle = blackbox.QueryModel(tiny_cnn, output="label", budget=150)
    sub = blackbox.train_substitute(oracle, mnist.x_train[:500], 120, build=models.softmax_regression, steps=4,
                                    progress=False, device="cpu")
    assert oracle.queries == 120 and sub.cache_info["queries_spent"] == 120
    assert not sub.training and isinstance(sub, nn.Module)
    with pytest.raises(blackbox.QueryBudgetExceeded):
        blackbox.train_substitute(oracle, mnist.x_train[:500], 100, build=models.softmax_regression, steps=4,
                                  progress=False, device="cpu")
    assert oracle.queries == 120
    with pytest.raises(ValueError, match="at most the pool size"):
        blackbox.train_substitute(blackbox.QueryModel(tiny_cnn), mnist.x_train[:10], 20, progress=False)
    with pytest.raises(TypeError, match="QueryModel"):
        blackbox.train_substitute(tiny_cnn, mnist.x_train[:10], 5, progress=False)


def test_substitute_learns_the_target_labels_not_the_true_ones(mnist):
    # a target that answers (true digit + 1) mod 10: a substitute that agrees with it learned from queries
    class Shifted(nn.Module):
        def __init__(self, labels_of):
            super().__init__()
            self.scale = nn.Parameter(torch.ones(()))
            self.labels_of = labels_of

        def forward(self, x):
            return F.one_hot(self.labels_of(x), 10).float() * 10 * self.scale

    lookup = {x.numpy().tobytes(): int(y) for x, y in zip(mnist.x_train[:400], mnist.y_train[:400])}
    target = Shifted(lambda x: torch.tensor([(lookup[row.numpy().tobytes()] + 1) % 10 for row in x]))
    sub = blackbox.train_substitute(blackbox.QueryModel(target), mnist.x_train[:400], 400,
                                    build=models.softmax_regression, steps=40, lr=1e-2, progress=False, device="cpu")
    pred = models.predict(sub, mnist.x_train[:400]).argmax(1)
    assert float((pred == (mnist.y_train[:400] + 1) % 10).float().mean()) > 0.8


def test_transfer_success_counts_queries(tiny_cnn, digits):
    x, y = digits
    api = blackbox.QueryModel(tiny_cnn)
    ok = blackbox.transfer_success(api, x, y)
    assert api.queries == len(x) and ok.dtype == torch.bool
    assert torch.equal(ok, models.predict(tiny_cnn, x).argmax(1) != y)


# --------------------------------------------------------------------------- SimBA


def test_block_directions_tile_each_scale_once():
    masks = queries.block_directions((1, 28, 28), (7, 4), generator=torch.Generator().manual_seed(0))
    assert masks.shape == (16 + 49, 1, 28, 28) and masks.dtype == torch.bool
    assert torch.equal(masks[:16].sum(0), torch.ones(1, 28, 28, dtype=torch.long))
    assert torch.equal(masks[16:].sum(0), torch.ones(1, 28, 28, dtype=torch.long))
    assert int(masks[0].sum()) == 49
    with pytest.raises(ValueError, match="sizes"):
        queries.block_directions(sizes=(0,))


def test_simba_fools_the_cnn_within_eps_and_counts_its_queries(cnn, digits):
    x, y = digits[0][:8], digits[1][:8]
    api = blackbox.QueryModel(cnn, output="probs")
    res = queries.simba(api, x, y, 0.25, max_queries=100, generator=torch.Generator().manual_seed(0))
    assert int(res.queries.sum()) == api.queries  # every query is accounted to one image
    assert int(res.queries.max()) <= 100 and int(res.queries.min()) >= 1
    assert float((res.x_adv - x).abs().max()) <= 0.25 + 1e-6
    assert 0 <= float(res.x_adv.min()) and float(res.x_adv.max()) <= 1
    pred = models.predict(cnn, res.x_adv).argmax(1)
    assert torch.equal(res.success, pred != y)  # success is what the model really says
    assert float(res.success.float().mean()) >= 0.75


def test_simba_lowers_the_true_score_and_never_raises_it(tiny_cnn, digits):
    x, y = digits[0][:6], digits[1][:6]
    res = queries.simba(blackbox.QueryModel(tiny_cnn, output="probs"), x, y, 0.1, max_queries=30,
                         generator=torch.Generator().manual_seed(1))
    p0 = models.predict(tiny_cnn, x).gather(1, y[:, None])
    p1 = models.predict(tiny_cnn, res.x_adv).gather(1, y[:, None])
    assert bool((p1 <= p0 + 1e-7).all()) and bool((p1 < p0).any())


def test_simba_stops_at_the_oracle_budget_without_raising(cnn, digits):
    x, y = digits[0][:8], digits[1][:8]
    api = blackbox.QueryModel(cnn, output="probs", budget=30)
    res = queries.simba(api, x, y, 0.05, max_queries=1000, generator=torch.Generator().manual_seed(0))
    assert api.queries <= 30 and int(res.queries.sum()) == api.queries
    assert float((res.x_adv - x).abs().max()) <= 0.05 + 1e-6


def test_simba_needs_scores_and_a_query_model(cnn, digits):
    x, y = digits
    with pytest.raises(ValueError, match="output='probs'"):
        queries.simba(blackbox.QueryModel(cnn, output="label"), x, y, 0.1)
    with pytest.raises(TypeError, match="QueryModel"):
        queries.simba(cnn, x, y, 0.1)


# --------------------------------------------------------------------------- the panel


def test_knowledge_panel_renders_every_combination(tree, digits):
    x, y = digits[0][:6], digits[1][:6]
    torch.manual_seed(0)
    # cheap stand-ins: the panel's logic, not the models, is under test here
    targets = {"linear": models.softmax_regression().eval(), "tree": tree, "cnn": models.mlp((16,)).eval()}
    subs = {k: models.softmax_regression().eval() for k in queries.KINDS}
    panel = panels.knowledge(targets, subs, x, y, eps=0.2, max_queries=8, pgd_steps=2, n_show=3)
    assert panel.error is None and "%" in panel.readout.value
    seen = set()
    for kind in queries.KINDS:
        for knowledge in queries.KNOWLEDGE:
            panel.controls["kind"].value = kind
            panel.controls["knowledge"].value = knowledge
            panel.update()
            assert panel.error is None, (kind, knowledge, panel.error)
            assert panel.image.value[:4] == b"\x89PNG"
            seen.add(panel.readout.value)
    assert len(seen) == 9
    with pytest.raises(ValueError, match="missing"):
        panels.knowledge({"cnn": targets["cnn"]}, subs, x, y)


def test_cached_models_are_declared_for_warm():
    assert set(blackbox.CACHED_MODELS) == {f"substitute-{k}-q1000" for k in ("cnn", "linear", "tree")}
    assert all(callable(load) for load in blackbox.CACHED_MODELS.values())
