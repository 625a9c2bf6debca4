"""Szegedy's AE400-10 builder (lesson 01): a sparse autoencoder's code read by a softmax."""

import pytest
import torch

from lessons import models


def test_shapes_and_ranges():
    torch.manual_seed(0)
    model = models.autoencoder_softmax(hidden=32)
    x = torch.rand(5, 1, 28, 28)
    with torch.no_grad():
        logits, code, rec = model(x), model.encode(x), model.reconstruct(x)
    assert logits.shape == (5, 10)
    assert code.shape == (5, 32) and float(code.min()) > 0 and float(code.max()) < 1
    assert rec.shape == x.shape and float(rec.min()) >= 0 and float(rec.max()) <= 1


def test_fit_pretrains_the_code_then_trains_only_the_softmax(mnist):
    torch.manual_seed(0)
    model = models.autoencoder_softmax(hidden=64)
    x, y = mnist.x_train[:1000], mnist.y_train[:1000]

    def rec_error() -> float:
        with torch.no_grad():
            return float(((model.reconstruct(x) - x) ** 2).mean())

    rec_before = rec_error()
    calls = []
    original_train = models.train

    def spy(m, data, **kw):  # snapshot the encoder when the softmax stage starts
        calls.append(m.encoder.weight.detach().clone())
        return original_train(m, data, **kw)

    models.train = spy
    try:
        info = model.fit(x, y, ae_epochs=3, epochs=5, progress=False)
    finally:
        models.train = original_train
    assert len(calls) == 1 and torch.equal(calls[0], model.encoder.weight), "the encoder moved in the softmax stage"
    assert rec_error() < rec_before  # the autoencoder learnt something
    assert info["train_accuracy"] > 0.3 and not model.training  # chance: 0.1 (a short fit on 1,000 digits)
    assert all(p.requires_grad for p in model.parameters())  # frozen only during the fit


def test_bad_arguments():
    with pytest.raises(ValueError, match="hidden"):
        models.autoencoder_softmax(hidden=0)
    model = models.autoencoder_softmax(hidden=8)
    with pytest.raises(ValueError, match="sparsity"):
        model.fit(torch.rand(4, 1, 28, 28), torch.zeros(4, dtype=torch.long), sparsity=-1, progress=False)
