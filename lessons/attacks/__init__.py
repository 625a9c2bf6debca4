"""Adversarial attacks on images in pixel space [0, 1]: one protocol, one file per attack.

Introduced in lesson 00 (``fgsm``, ``pgd``); lesson 01 adds the minimum-distortion attacks
(``lbfgs``, ``cw_l2``, ``smallest_eps``, ``minimum_distortion``); lesson 07 adds the losses an
attack can climb (``losses``: cross-entropy, C&W margin, DLR), Auto-PGD (``apgd``, with
``apgd_path`` to watch one run) and the black-box Square Attack (``square``).

**The attack protocol.** Every attack is a plain function of the model and the images:

- a *budget* attack ``attack(model, x, y, eps, *, targeted=False, ...) -> x_adv`` returns
  images within ``eps`` of ``x`` (``fgsm``, ``pgd``);
- a *minimum-distortion* attack ``attack(model, x, y, *, targeted=False, ...) -> x_adv`` has
  no budget and looks for the smallest change that reaches the goal (``lbfgs``, ``cw_l2``).

Both return the *adversarial images* (never the perturbation): detached, same shape, dtype
and device as ``x``, inside the [0, 1] box. ``y`` holds the true classes (or the targets
when ``targeted``; ``apgd(targeted=True)``, Croce & Hein's APGD-T, is the one exception: it
picks its own targets and ``y`` stays the true classes), and every label must be one of the
model's classes. The model is a
``torch.nn.Module`` returning logits, with its normalisation inside; it keeps its mode
(train/eval) and its parameters' ``.grad``; the caller's tensors are never written to.
Gradients come from ``torch.autograd.grad`` with respect to the input only.

Code that *runs* attacks for you — ``transfer.craft``, ``evaluation.robust_mask``, the
validation inside ``training.adversarial_train`` — takes a **bound attack**: any callable
``attack(model, x, y) -> x_adv``. Bind the budget and options with ``functools.partial``::

    attack = functools.partial(attacks.pgd, eps=0.3, steps=40, alpha=0.01, generator=g)
    x_adv = attack(model, x, y)
"""

from . import losses
from .apgd import apgd, apgd_path
from .common import NORMS, random_targets
from .cw import cw_l2
from .gradient import fgsm, input_gradient, pgd
from .lbfgs import lbfgs
from .minimum import Distortion, measure, minimum_distortion, smallest_eps
from .square import SquareResult, square, square_attack

__all__ = [
    "NORMS",
    "fgsm",
    "pgd",
    "input_gradient",
    "lbfgs",
    "cw_l2",
    "random_targets",
    "smallest_eps",
    "Distortion",
    "measure",
    "minimum_distortion",
    "losses",
    "apgd",
    "apgd_path",
    "square",
    "square_attack",
    "SquareResult",
]
