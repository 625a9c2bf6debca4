
import pytest
import torch

from lessons import data, models


def test_normalize_matches_formula_and_rejects_zero_std():
    norm = models.Normalize((0.5, 0.25), (0.5, 2.0))
    x = torch.rand(2, 2, 3, 3)
    expected = torch.stack([(x[:, 0] - 0.5) / 0.5, (x[:, 1] - 0.25) / 2.0], dim=1)
    assert torch.allclose(norm(x), expected)
    with pytest.raises(ValueError, match="std must be positive"):
        models.Normalize(0.0, 0.0)


@pytest.mark.parametrize("build, n_params", [
    (models.softmax_regression, 784 * 10 + 10),
    (lambda: models.mlp((100, 100)), 784 * 100 + 100 + 100 * 100 + 100 + 100 * 10 + 10),
    (models.lenet, None),
])
def test_mnist_architectures(build, n_params):
    model = build()
    out = model(torch.rand(5, 1, 28, 28))
    assert out.shape == (5, 10)
    assert isinstance(model[0], models.Normalize)  # normalisation lives inside the model
    if n_params is not None:
        assert sum(p.numel() for p in model.parameters()) == n_params


def test_architecture_arguments_are_validated():
    with pytest.raises(ValueError, match="hidden must be"):
        models.mlp(())
    with pytest.raises(ValueError, match="hidden must be"):
        models.mlp((100, -3))
    with pytest.raises(ValueError, match="num_classes must be an integer >= 1, got 0"):
        models.lenet(num_classes=0)


def test_lenet_layer_names_are_stable():
    names = [n for n, _ in models.lenet().named_children()]
    assert {"conv1", "conv2", "fc1", "fc2"} <= set(names)


def test_train_learns_and_is_reproducible(mnist):
    x, y = mnist.x_train[:600], mnist.y_train[:600]
    torch.manual_seed(0)
    a = models.softmax_regression()
    b = models.softmax_regression()
    b.load_state_dict(a.state_dict())
    before = models.accuracy(a, mnist.x_test, mnist.y_test)
    hist = models.train(a, (x, y), epochs=3, seed=1, device="cpu", progress=False)
    models.train(b, (x, y), epochs=3, seed=1, device="cpu", progress=False)
    after = models.accuracy(a, mnist.x_test, mnist.y_test)
    assert hist["loss"][-1] < hist["loss"][0] and after > before + 0.5 and after > 0.7
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
    assert not a.training  # returned in eval mode


def test_weight_decay_shrinks_weights(mnist):
    x, y = mnist.x_train[:500], mnist.y_train[:500]
    norms = []
    for wd in (0.0, 1.0):
        torch.manual_seed(0)
        m = models.softmax_regression()
        models.train(m, (x, y), epochs=3, weight_decay=wd, device="cpu", progress=False)
        norms.append(float(m.fc.weight.detach().norm()))
    assert norms[1] < 0.7 * norms[0]


def test_train_rejects_bad_arguments(mnist):
    m = models.softmax_regression()
    x, y = mnist.x_train[:10], mnist.y_train[:10]
    with pytest.raises(ValueError, match="epochs must be an integer >= 1, got 0"):
        models.train(m, (x, y), epochs=0, progress=False)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        models.train(m, (x * 255, y), progress=False)
    with pytest.raises(ValueError, match=r"data\[1\] must have shape \(10,\)"):
        models.train(m, (x, y[:5]), progress=False)
    with pytest.raises(ValueError, match="lr must be in"):
        models.train(m, (x, y), lr=-1, progress=False)
    with pytest.raises(TypeError, match="pair"):
        models.train(m, x, progress=False)


def test_pretrained_unknown_name_lists_choices():
    with pytest.raises(ValueError, match="name must be one of .*'cnn'.*got 'resnet'"):
        models.pretrained("resnet")


def test_pretrained_cnn_is_accurate(cnn, mnist):
    assert not cnn.training
    assert models.accuracy(cnn, mnist.x_test, mnist.y_test) > 0.95
    assert cnn.cache_info["test_accuracy"] > 0.95


def test_lite0_key_rename_covers_every_key():
    import timm

    raw = torch.load(models._lite0_weights_path(), map_location="cpu", weights_only=True)
    renamed = {models._rename_lite0_key(k) for k in raw}
    expected = set(timm.create_model("tf_efficientnet_lite0", pretrained=False).state_dict())
    assert renamed == expected


@pytest.fixture(scope="module")
def imagenet():
    return models.imagenet_classifier(device="cpu")


def test_imagenet_classifier_knows_a_cat_and_coffee(imagenet):
    labels = data.imagenet_labels()
    assert not imagenet.training and isinstance(imagenet[0], models.Normalize)
    cat = models.predict(imagenet, data.photo("chelsea"))[0]
    assert labels[int(cat.argmax())] in {"tiger cat", "Egyptian cat", "tabby"}
    coffee = models.predict(imagenet, data.photo("coffee"))[0]
    assert labels[int(coffee.argmax())] == "espresso" and float(coffee.max()) > 0.9


def test_predict_and_accuracy_validate_input(imagenet):
    with pytest.raises(ValueError, match=r"shape \(N, C, H, W\)"):
        models.predict(imagenet, torch.rand(3, 224, 224))
