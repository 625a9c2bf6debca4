"""One feature within its observed range: the attack changes one column, stays in range, and is
exact — a brute-force search over a fine grid finds no flip it missed and no smaller change."""

from __future__ import annotations

import numpy as np
import pytest

from lessons import tabular


@pytest.fixture(scope="module")
def table():
    return tabular.load_breast_cancer()


@pytest.fixture(scope="module")
def models(table):
    return {"logreg": tabular.logistic_regression(table.x_train, table.y_train),
            "tree": tabular.decision_tree(table.x_train, table.y_train, max_depth=4)}


def test_the_table_ships_offline_and_splits_stratified(table):
    assert table.x_train.shape[1] == table.x_test.shape[1] == len(table.feature_names) == 30
    assert len(table.x_train) + len(table.x_test) == 569
    assert table.class_names == ("malignant", "benign")
    share = [float(np.mean(y == 1)) for y in (table.y_train, table.y_test)]
    assert abs(share[0] - share[1]) < 0.02  # stratified


@pytest.mark.parametrize("kind", ["logreg", "tree"])
def test_one_feature_changes_within_its_range_and_flips(table, models, kind):
    model = models[kind]
    low, high = tabular.feature_ranges(table.x_train)
    res = tabular.one_feature_attack(model, table.x_test, table.y_test, (low, high), grid=21)
    right = model.predict(table.x_test) == table.y_test
    changed = (res.x_adv != table.x_test).sum(1)
    assert (changed <= 1).all() and (changed[res.feature < 0] == 0).all()
    assert ((res.x_adv >= low) & (res.x_adv <= high) | (res.x_adv == table.x_test)).all()
    assert np.array_equal(res.success, model.predict(res.x_adv) != table.y_test)
    assert (res.feature[~right] == -1).all()  # rows already wrong are left alone
    flipped = right & res.success
    assert flipped.sum() > 0 and (res.feature[flipped] >= 0).all()
    expect = np.abs(res.x_adv - table.x_test).sum(1)[flipped] / (high - low)[res.feature[flipped]]
    assert np.allclose(res.change[flipped], expect)


def _brute_force(model, x, y, low, high, values_per_feature=400):
    """The smallest change (fraction of the range) that flips each row, on a fine grid."""
    best = np.full(len(x), np.inf)
    for j in np.flatnonzero(high > low):
        values = np.linspace(low[j], high[j], values_per_feature)
        trial = np.repeat(x[None], len(values), axis=0)  # (V, N, D)
        trial[:, :, j] = values[:, None]
        flips = (model.predict(trial.reshape(-1, x.shape[1])) != np.tile(y, len(values))).reshape(len(values), -1)
        cost = np.abs(values[:, None] - x[None, :, j]) / (high[j] - low[j])  # (V, N)
        best = np.minimum(best, np.where(flips, cost, np.inf).min(0))
    return best


def test_exact_for_a_tree_and_for_which_rows_flip_a_logistic_regression(table, models):
    low, high = tabular.feature_ranges(table.x_train)
    x, y = table.x_test[:40], table.y_test[:40]
    for kind, model in models.items():
        right = model.predict(x) == y
        res = tabular.one_feature_attack(model, x, y, (low, high), grid=11)
        brute = _brute_force(model, x, y, low, high)
        # every row a fine search can flip, the attack flips (and vice versa)
        assert np.array_equal(res.success & right, np.isfinite(brute) & right), kind
        if kind == "tree":  # thresholds are tried exactly: never a bigger change than the grid finds
            assert (res.change[right & res.success] <= brute[right & res.success] + 1e-9).all()


def test_a_range_too_narrow_flips_nothing(table, models):
    x, y = table.x_test, table.y_test
    low, high = x.min(0), x.max(0)
    mid = (low + high) / 2
    res = tabular.one_feature_attack(models["logreg"], x, y, (mid, mid))  # no feature may move
    right = models["logreg"].predict(x) == y
    assert not res.success[right].any() and (res.feature == -1).all()


def test_bad_tables_get_clear_errors(table, models):
    low, high = tabular.feature_ranges(table.x_train)
    with pytest.raises(ValueError, match="features"):
        tabular.one_feature_attack(models["tree"], table.x_test[:, :5], table.y_test, (low, high))
    with pytest.raises(ValueError, match="y"):
        tabular.one_feature_attack(models["tree"], table.x_test, table.y_test + 5, (low, high))
    with pytest.raises(ValueError, match="low <= high"):
        tabular.one_feature_attack(models["tree"], table.x_test, table.y_test, (high, low - 1))
    with pytest.raises(ValueError, match="grid"):
        tabular.one_feature_attack(models["tree"], table.x_test, table.y_test, (low, high), grid=1)


def test_the_sweep_figure_has_a_panel_per_model(table, models):
    from lessons import viz

    bounds = tabular.feature_ranges(table.x_train)
    fig = viz.one_feature_sweep(models, table.x_test[0], {"logreg": 10, "tree": 3}, bounds, int(table.y_test[0]),
                                feature_names=table.feature_names, class_names=table.class_names)
    axes = fig.get_axes()
    assert [ax.get_title() for ax in axes] == ["logreg", "tree"]
    assert table.feature_names[10] in axes[0].get_xlabel() and table.feature_names[3] in axes[1].get_xlabel()
    with pytest.raises(ValueError, match="features"):
        viz.one_feature_sweep(models, table.x_test[0], {"logreg": 10}, bounds, 0)
