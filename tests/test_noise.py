"""Random perturbations of a given size (lessons 01–02): Szegedy's RMS, Gaussian baselines, magnified rows."""

import math

import pytest
import torch

from lessons import attacks, models, noise


@pytest.fixture(scope="module")
def nets():
    return {"fc100": models.pretrained("fc100", device="cpu", progress=False)}


@pytest.fixture(scope="module")
def batch(mnist):
    return mnist.x_test[:96].clone(), mnist.y_test[:96].clone()


def test_rms_distortion_is_szegedys_measure(batch):
    x, _ = batch
    x_adv = (x + 0.05 * torch.randn(x.shape, generator=torch.Generator().manual_seed(0))).clamp(0, 1)
    expected = torch.tensor([math.sqrt(float(((a - b) ** 2).sum()) / 784) for a, b in zip(x_adv, x)])
    assert torch.allclose(noise.rms_distortion(x, x_adv), expected, atol=1e-6)
    with pytest.raises(ValueError, match="same shape"):
        noise.rms_distortion(x, x_adv[:3])


def test_gaussian_noise_statistics_and_seeding():
    grey = torch.full((64, 1, 28, 28), 0.5)
    g = lambda: torch.Generator().manual_seed(3)  # noqa: E731
    noisy = noise.gaussian_noise(grey, 0.1, generator=g())
    assert noisy.shape == grey.shape and float(noisy.min()) >= 0 and float(noisy.max()) <= 1
    assert torch.equal(noisy, noise.gaussian_noise(grey, 0.1, generator=g()))
    assert not torch.equal(noisy, noise.gaussian_noise(grey, 0.1, generator=torch.Generator().manual_seed(4)))
    # away from the box, the RMS distortion of N(0, σ²) noise is σ
    assert float(noise.rms_distortion(grey, noisy).mean()) == pytest.approx(0.1, rel=0.02)
    assert float((noisy - grey).mean()) == pytest.approx(0.0, abs=3e-3)
    # a per-image σ
    sigma = torch.linspace(0.0, 0.2, 64)
    per_image = noise.rms_distortion(grey, noise.gaussian_noise(grey, sigma, generator=g()))
    assert torch.allclose(per_image, sigma, atol=0.02) and float(per_image[0]) == 0.0


def test_clipping_shrinks_noise_on_digits_unless_exact(batch):
    x, _ = batch
    plain = noise.rms_distortion(x, noise.gaussian_noise(x, 0.1, generator=torch.Generator().manual_seed(0)))
    assert float(plain.mean()) < 0.085  # the black background clips half of the noise away
    exact = noise.rms_distortion(x, noise.gaussian_noise(x, 0.1, exact_rms=True, generator=torch.Generator().manual_seed(0)))
    assert torch.allclose(exact, torch.full_like(exact, 0.1), atol=1e-4)


def test_matched_noise_has_the_adversarial_distortion(nets, batch):
    x, y = batch
    x_adv = attacks.pgd(nets["fc100"], x, y, 1.5, norm="l2", steps=5, generator=torch.Generator().manual_seed(0))
    noisy = noise.matched_noise(x, x_adv, generator=torch.Generator().manual_seed(0))
    assert torch.allclose(noise.rms_distortion(x, noisy), noise.rms_distortion(x, x_adv), atol=1e-4)
    assert float(noisy.min()) >= 0 and float(noisy.max()) <= 1


def test_rescale_perturbation_keeps_the_direction_and_sets_the_size(nets, batch):
    x, y = batch
    x_adv = attacks.fgsm(nets["fc100"], x, y, 0.05)
    big = noise.rescale_perturbation(x, x_adv, 0.1)
    assert torch.allclose(noise.rms_distortion(x, big), torch.full((len(x),), 0.1), atol=1e-4)
    # same direction: every pixel moves the same way (or not at all, where the box stops it)
    d_old, d_new = x_adv - x, big - x
    assert bool(((d_old * d_new) >= 0).all()) and bool((d_new[d_old == 0] == 0).all())
    # away from the box it is an exact rescaling
    grey = torch.full((4, 1, 28, 28), 0.5)
    step = 0.01 * torch.randn(grey.shape, generator=torch.Generator().manual_seed(0))
    assert torch.allclose(noise.rescale_perturbation(grey, grey + step, 0.05) - grey,
                          step * (0.05 / noise.rms_distortion(grey, grey + step)).view(-1, 1, 1, 1), atol=1e-5)
    assert torch.equal(noise.rescale_perturbation(x, x.clone(), 0.1), x)  # nothing to stretch
    assert torch.equal(noise.rescale_perturbation(x, x_adv, 0.0), x)
    with pytest.raises(ValueError, match=r"rms must be in \[0, 1\], got 2"):
        noise.rescale_perturbation(x, x_adv, 2)


def test_noise_arguments_are_checked(batch):
    x, _ = batch
    with pytest.raises(ValueError, match=r"sigma must be in \[0, 1\], got -0.1"):
        noise.gaussian_noise(x, -0.1)
    with pytest.raises(ValueError, match=r"sigma must be a number or a float tensor of shape \(96,\)"):
        noise.gaussian_noise(x, torch.ones(3))
    with pytest.raises(TypeError, match="generator must be a torch.Generator"):
        noise.gaussian_noise(x, 0.1, generator=0)


def test_sign_alignment_grows_like_n_and_random_like_sqrt_n():
    g = torch.Generator().manual_seed(0)
    ns = [100, 10_000]
    rows = [torch.randn(1, n, generator=g) for n in ns]
    out = [noise.sign_alignment(w, 0.01, draws=400, generator=g) for w in rows]
    for w, (aligned, random) in zip(rows, out):
        assert float(aligned) == pytest.approx(0.01 * float(w.abs().sum()), rel=1e-5)  # exactly ε‖w‖₁
        assert float(random) == pytest.approx(0.01 * float(w.norm()), rel=0.15)  # RMS of ε·sᵀw is ε‖w‖₂
    growth_aligned = float(out[1][0] / out[0][0])
    growth_random = float(out[1][1] / out[0][1])
    assert 80 < growth_aligned < 120  # 100× the dimension: ~100× the change
    assert 8 < growth_random < 12  # ... but only ~10× for random signs


def test_sign_alignment_is_seeded_and_checks_inputs():
    w = torch.randn(2, 3, 4, 4)
    a = noise.sign_alignment(w, 0.1, draws=5, generator=torch.Generator().manual_seed(1))
    b = noise.sign_alignment(w, 0.1, draws=5, generator=torch.Generator().manual_seed(1))
    assert torch.equal(a[1], b[1]) and a[0].shape == (2,)
    with pytest.raises(ValueError, match=r"\(N, n\)"):
        noise.sign_alignment(torch.randn(5))
    with pytest.raises(TypeError, match="float tensor"):
        noise.sign_alignment([1.0, 2.0])
    with pytest.raises(ValueError, match="finite"):
        noise.sign_alignment(torch.tensor([[1.0, math.nan]]))


def test_logit_path_is_linear_for_softmax_regression_and_matches_the_model(batch):
    x, y = batch[0][:4], batch[1][:4]
    model = models.pretrained("softmax-wd1e-4", device="cpu", progress=False)
    direction = attacks.input_gradient(model, x, y).sign()
    eps = [-0.2, -0.1, 0.0, 0.1, 0.2]
    path = noise.logit_path(model, x, direction, eps)
    assert path.shape == (4, 5, 10)
    with torch.no_grad():
        assert torch.allclose(path[:, 2], model(x), atol=1e-5)
        assert torch.allclose(path[:, 4], model(x + 0.2 * direction), atol=1e-5)
        assert torch.allclose(noise.logit_path(model, x, direction, [0.2], clip=True)[:, 0],
                              model((x + 0.2 * direction).clamp(0, 1)), atol=1e-5)
    second = path[:, 2:] - 2 * path[:, 1:-1] + path[:, :-2]
    assert float(second.abs().max()) < 1e-3  # a linear model: logits exactly linear in ε
    assert bool((path[:, 4].argmax(1) != y).all())  # and the loss went up: wrong at ε = 0.2
    with pytest.raises(ValueError, match="shape"):
        noise.logit_path(model, x, direction[:1], eps)
    with pytest.raises(TypeError, match="eps_values"):
        noise.logit_path(model, x, direction, 0.1)
    with pytest.raises(ValueError, match="empty"):
        noise.logit_path(model, x, direction, [])
