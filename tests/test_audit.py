"""Lesson 07's cached records of lesson 05's models: what is read back is what a live run measures."""

from copy import deepcopy

import pytest
import torch

from lessons import audit, checklist, models, recipes

pytestmark = pytest.mark.usefixtures("one_thread")


def test_cached_checklist_is_the_live_one(mnist):
    # The notebook reads lesson 05's checklists from the cache: they must equal a run made here and now.
    cached = audit.sanity05("standard", progress=False)
    again = audit.sanity05("standard", progress=False)
    assert again.cache_info["cached"] or again.cache_info["path"] is None  # the second call reads the first's record
    n = audit.CHECKLIST_DIGITS
    live = checklist.sanity_checks(recipes.robust_model("standard", device="cpu", progress=False),
                                   mnist.x_test[:n], mnist.y_test[:n], audit.EPS,
                                   substitute=models.pretrained("cnn", device="cpu", progress=False),
                                   progress=False, **audit.CHECKLIST)
    assert cached == live and again == live
    assert [c.name for c in cached.checks] == list(checklist.CHECKS)


def test_the_cache_key_changes_with_any_weight():
    # audit's and the course table's cache keys are this digest: one changed weight gives another key, so no stale record is read.
    model = recipes.robust_model("standard", device="cpu", progress=False)
    before = audit.weights_id(model)
    copy = deepcopy(model)
    with torch.no_grad():
        next(copy.parameters()).view(-1)[0] += 1e-3
    assert audit.weights_id(copy) != before and audit.weights_id(model) == before


def test_sanity05_rejects_an_unknown_model():
    with pytest.raises(ValueError, match="name must be one of"):
        audit.sanity05("resnet", progress=False)
