"""The machinery of the bad-input table (``tests/bad_inputs.py``): tiny ingredients, the kinds of bad
value, ``Case`` (a good call and the parameters to spoil) and ``outcome`` (clear / unclear / silent)."""

from __future__ import annotations

import functools
import importlib
import inspect
import math
import re
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

# --------------------------------------------------------------------------- the ingredients


class Tiny(nn.Module):
    """A 10-class model on (1, 8, 8) images: cheap enough to attack in every case."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.conv = nn.Conv2d(1, 4, 3, padding=1)
        self.fc = nn.Linear(4 * 8 * 8, 10)

    def forward(self, x):
        return self.fc(torch.relu(self.conv(x)).flatten(1))


class TinyAE(nn.Module):
    """An autoencoder on (1, 8, 8) images: ``reconstruct`` is all ``manifold.reconstruction_error`` needs."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.fc = nn.Linear(64, 64)

    def reconstruct(self, x):
        return torch.sigmoid(self.fc(x.flatten(1))).view_as(x)

    def forward(self, x):
        return self.fc(x.flatten(1))[:, :10]


@functools.lru_cache(maxsize=1)
def ingredients() -> dict:
    g = torch.Generator().manual_seed(0)
    x = torch.rand(4, 1, 8, 8, generator=g)
    y = torch.tensor([0, 1, 2, 3])
    model = Tiny().eval()
    return {"model": model, "x": x, "y": y, "mnist_x": torch.rand(4, 1, 28, 28, generator=g)}


def X():
    return ingredients()["x"].clone()


def Y():
    return ingredients()["y"].clone()


def M():
    return ingredients()["model"]


def _nan(x):
    x = x.clone()
    x[0, 0, 0, 0] = math.nan
    return x


BAD: dict[str, list[tuple[str, object, type]]] = {
    # kind: [(what, bad value or a function of the good value, expected exception)]
    "model": [("None", None, TypeError), ("a string", "cnn", TypeError)],
    "images": [("a list", [[0.5]], TypeError), ("one image without the batch", lambda v: v[0], ValueError),
               ("0-255 pixels", lambda v: v * 255, ValueError), ("NaN", _nan, ValueError),
               ("float64 for a float32 model", lambda v: v.double(), TypeError),
               ("3 channels for a 1-channel model", lambda v: v.repeat(1, 3, 1, 1), ValueError),
               ("an empty batch", lambda v: v[:0], ValueError), ("None", None, TypeError),
               ("integer pixels", lambda v: (v * 255).byte(), TypeError)],
    "pixels": [("a list", [[0.5]], TypeError), ("one image without the batch", lambda v: v[0], ValueError),
               ("0-255 pixels", lambda v: v * 255, ValueError), ("NaN", _nan, ValueError),
               ("an empty batch", lambda v: v[:0], ValueError), ("None", None, TypeError)],
    "labels": [("a label of 10 on a 10-class model", lambda v: torch.cat([v[:-1], torch.tensor([10])]), ValueError),
               ("a label of -1", lambda v: torch.cat([v[:-1], torch.tensor([-1])]), ValueError),
               ("float labels", lambda v: v.float(), TypeError), ("the wrong length", lambda v: v[:1], ValueError),
               ("None", None, TypeError)],
    "classes": [("a label of -1", lambda v: torch.cat([v[:-1], torch.tensor([-1])]), ValueError),
                ("float labels", lambda v: v.float(), TypeError), ("the wrong length", lambda v: v[:1], ValueError),
                ("None", None, TypeError)],
    "targets": [("a class of 10 on a 10-class model", lambda v: torch.cat([v[:-1], torch.tensor([10])]), ValueError),
                ("a class of -1", lambda v: torch.cat([v[:-1], torch.tensor([-1])]), ValueError),
                ("float classes", lambda v: v.float(), TypeError), ("None", None, TypeError)],
    "widths": [("a zero", (0,), ValueError), ("a float", (1.5,), ValueError), ("a string", "8", TypeError),
               ("an empty tuple", (), ValueError)],
    "recipe": [("a function", lambda v: len, TypeError), ("a set", {1, 2}, TypeError)],
    "encoding_names": [("a bare number", 0.1, TypeError), ("an empty list", [], ValueError), ("an unknown name", ["a"], ValueError)],
    "layer_names": [("an unknown layer", "pgd", ValueError), ("a number", 3, TypeError), ("an empty list", [], TypeError)],
    "count_or_none": [("zero", 0, ValueError), ("a float", 1.5, TypeError), ("a string", "3", TypeError)],
    "bytes": [("None", None, TypeError), ("a number", 3, TypeError)],
    "flag": [("the string 'False'", "False", TypeError), ("None", None, TypeError), ("the number 1", 1, TypeError)],
    "unit": [("a string", "abc", TypeError), ("a negative number", -0.1, ValueError), ("NaN", math.nan, ValueError),
             ("8 (not in [0, 1])", 8, ValueError), ("None", None, TypeError)],
    "positive": [("a string", "abc", TypeError), ("a negative number", -1.0, ValueError), ("NaN", math.nan, ValueError)],
    "count": [("zero", 0, ValueError), ("a float", 1.5, TypeError), ("a string", "3", TypeError), ("None", None, TypeError)],
    "count0": [("a negative number", -1, ValueError), ("a float", 1.5, TypeError), ("a string", "3", TypeError)],
    "generator": [("an int", 0, TypeError), ("a string", "g", TypeError)],
    "choice": [("an unknown name", "nope", ValueError), ("a number", 3, TypeError)],
    "data": [("images alone", lambda v: v[0], TypeError), ("labels of the wrong length", lambda v: (v[0], v[1][:1]), ValueError),
             ("0-255 pixels", lambda v: (v[0] * 255, v[1]), ValueError),
             ("a label of 10", lambda v: (v[0], torch.cat([v[1][:-1], torch.tensor([10])])), ValueError)],
    "models": [("an empty dict", {}, ValueError), ("a list", lambda v: list(v.values()), TypeError),
               ("a string for a model", lambda v: {"m": "cnn"}, TypeError)],
    "attack": [("a string", "pgd", TypeError), ("None", None, TypeError)],
    "eps_list": [("a bare number", 0.1, TypeError), ("an empty list", [], ValueError), ("a string in the list", ["a"], TypeError)],
    "shape": [("two numbers", (28, 28), ValueError), ("a string", "28x28", ValueError), ("2 channels", (2, 8, 8), ValueError)],
    "device": [("an unknown device", "tpu", ValueError), ("cpu with an index", "cpu:1", ValueError), ("a number", 3, TypeError)],
    "name": [("a path", "../x", ValueError), ("a number", 3, TypeError)],
    "indices": [("floats", lambda v: v.float(), TypeError), ("one row", lambda v: v[0], ValueError),
                ("an index past the end", lambda v: v + 1000, ValueError)],
    "direction_rows": [("the wrong width", lambda v: v[:, :-1], ValueError), ("a vector", lambda v: v[0], ValueError),
                       ("a list", lambda v: v.tolist(), TypeError)],
    "scores": [("a NaN score", lambda v: v.index_put((torch.tensor([0]), torch.tensor([0])), torch.tensor(math.nan)), ValueError),
               ("a vector", lambda v: v[:, 0], ValueError), ("a list", lambda v: v.tolist(), TypeError)],
    "acts": [("a vector", lambda v: v[0], ValueError), ("a list", lambda v: v.tolist(), TypeError)],
    "probs": [("a batch", lambda v: v[None], ValueError), ("a list", lambda v: v.tolist(), TypeError)],
    "names": [("too few names", lambda v: v[:1], ValueError), ("a string", "abc", TypeError)],
    "oracle": [("a model", lambda v: M(), TypeError), ("None", None, TypeError)],
    "rows": [("a list", [[0.5]], TypeError), ("one row without the batch", lambda v: v[0], ValueError),
             ("NaN", lambda v: np.where(np.arange(v.size).reshape(v.shape) == 0, np.nan, v), ValueError),
             ("an empty table", lambda v: v[:0], ValueError), ("a torch tensor", lambda v: torch.from_numpy(v), TypeError),
             ("strings", lambda v: v.astype(str), TypeError), ("None", None, TypeError)],
    "row_labels": [("float labels", lambda v: v.astype(float), TypeError), ("the wrong length", lambda v: v[:1], ValueError),
                   ("a class the model does not know", lambda v: v + 5, ValueError),
                   ("a torch tensor", lambda v: torch.from_numpy(v), TypeError), ("None", None, TypeError)],
    "row_classes": [("float labels", lambda v: v.astype(float), TypeError), ("the wrong length", lambda v: v[:1], ValueError),
                    ("a label of -1", lambda v: v - 1, ValueError), ("None", None, TypeError)],
    "row": [("a list", [0.5, 0.5, 0.5], TypeError), ("a table", lambda v: v[None], TypeError),
            ("NaN", lambda v: np.where(np.arange(v.size) == 0, np.nan, v), ValueError), ("None", None, TypeError)],
    "bounds": [("one array", lambda v: v[0], TypeError), ("the wrong length", lambda v: (v[0][:-1], v[1][:-1]), ValueError),
               ("low above high", lambda v: (v[1] + 1, v[0]), ValueError), ("lists", lambda v: (list(v[0]), list(v[1])), TypeError),
               ("NaN", lambda v: (v[0] * np.nan, v[1]), ValueError), ("None", None, TypeError)],
    "classifiers": [("an empty dict", {}, ValueError), ("a list", lambda v: list(v.values()), TypeError),
                    ("a string for a model", lambda v: {"m": "cnn"}, TypeError)],
    "curves": [("an empty dict", {}, ValueError), ("a list", lambda v: list(v.values()), TypeError),
               ("a bare tensor", lambda v: {"a": torch.zeros(3)}, TypeError),
               ("lengths that differ", lambda v: {"a": (torch.ones(3, dtype=torch.long), torch.ones(2, dtype=torch.bool))},
                ValueError)],
    "rates": [("a rate of 2", {"r": 2.0}, ValueError), ("a string", {"r": "high"}, TypeError), ("a list", [0.5], TypeError)],
    "result": [("a tuple", (1, 2), TypeError), ("None", None, TypeError)],
    "columns": [("a list", [1], TypeError), ("a column past the end", {"tree": 9}, ValueError),
                ("a float column", {"tree": 1.5}, TypeError), ("another model's name", {"other": 1}, ValueError)],
    "measures": [("a list", lambda v: list(v.values()), TypeError), ("an empty dict", {}, ValueError),
                 ("a list of values", lambda v: {"d": {"a": [0.1, 0.2]}}, TypeError),
                 ("a NaN value", lambda v: {"d": {"a": torch.tensor([math.nan])}}, ValueError)],
    # lesson 07
    "logits": [("a list", [[0.5, 0.5]], TypeError), ("a vector", lambda v: v[0], ValueError),
               ("NaN", lambda v: v.index_put((torch.tensor([0]), torch.tensor([0])), torch.tensor(math.nan)), ValueError),
               ("integer logits", lambda v: v.long(), TypeError), ("None", None, TypeError)],
    "attack_dict": [("an empty dict", {}, ValueError), ("a list", lambda v: list(v.values()), TypeError),
                    ("a string for an attack", {"a": "pgd"}, TypeError), ("None", None, TypeError)],
    "subset": [("a bare string", "pgd", TypeError), ("an unknown name", ("nope",), ValueError), ("a number", 3, TypeError)],
    "paths": [("an empty dict", {}, ValueError), ("a list", lambda v: list(v.values()), TypeError),
              ("a tensor for a path", {"a": torch.zeros(3)}, TypeError)],
    "cumulatives": [("an empty dict", {}, ValueError), ("a list", lambda v: list(v.values()), TypeError),
                    ("a bare number", {"m": 0.5}, TypeError), ("a share of 2", {"m": {"clean": 2.0}}, ValueError)],
    "reports": [("an empty dict", {}, ValueError), ("a list", lambda v: list(v.values()), TypeError),
                ("a string for a report", {"m": "ok"}, TypeError)],
}

NAME_KINDS = {  # a parameter's kind from its name, unless an entry overrides it
    "model": "model", "source": "model", "target": "model", "x": "images", "x_adv": "images", "y": "labels",
    "eps": "unit", "generator": "generator", "progress": "flag", "targeted": "flag", "random_start": "flag",
    "exact_rms": "flag", "detach": "flag", "steps": "count", "restarts": "count", "batch_size": "count",
    "search_steps": "count", "max_iter": "count", "epochs": "count", "k": "count", "n": "count", "dim": "count",
    "n_permutations": "count", "n_random": "count", "budget": "count", "max_queries": "count", "pgd_steps": "count",
    "generations": "count", "runs": "count", "data": "data", "device": "device", "norm": "choice", "reduce": "choice",
    "method": "choice", "schedule": "choice", "lr": "positive", "kappa": "positive", "c": "positive", "sigma": "unit",
    "rms": "unit", "rate": "unit", "eta": "positive", "num_classes": "count", "seed": "count0", "jitter": "count0",
    "ncols": "count", "magnify": "positive", "digits": "count0", "size": "count", "n_val": "count",
    "eps_values": "eps_list", "source_models": "models", "target_models": "models", "attack": "attack",
}


@dataclass
class Case:
    """One public function: a good call, and the parameters to spoil (name → kind)."""

    name: str  # "attacks.gradient.fgsm"
    good: callable  # () -> kwargs of a call that works
    kinds: dict = field(default_factory=dict)  # overrides and additions to NAME_KINDS
    skip: tuple = ()  # parameters of the good call not to spoil
    run_good: bool = True  # run the good call too (False for slow cached loaders)

    @property
    def fn(self):
        module, _, attr = self.name.rpartition(".")
        return getattr(importlib.import_module(f"lessons.{module}"), attr)

    def spoiled(self):
        """(parameter, what, bad value, expected exception) for every bad input."""
        good = self.good()
        params = inspect.signature(self.fn).parameters
        for p in params:
            if p in self.skip:
                continue
            kind = self.kinds.get(p, NAME_KINDS.get(p))
            if kind is None or (p not in good and params[p].default is inspect.Parameter.empty):
                continue
            base = good.get(p, params[p].default)
            for what, bad, exc in BAD[kind]:
                if callable(bad) and base is None:
                    continue  # a spoiled version of "nothing given" is not a bad input
                if bad is None and params[p].default is None:
                    continue  # None is this parameter's own default: a good input
                value = bad(base) if callable(bad) else bad
                yield p, what, value, exc


def _pgd_fast(**kw):
    from lessons import attacks

    return functools.partial(attacks.pgd, eps=0.1, steps=1, **kw)



A = lambda **kw: dict(model=M(), x=X(), y=Y(), **kw)  # noqa: E731  the common (model, x, y) call



def outcome(case: Case, param: str, value, expected: type) -> tuple[str, str]:
    """``("clear" | "unclear" | "silent", detail)`` of one bad call."""
    kwargs = case.good()
    kwargs[param] = value
    try:
        result = case.fn(**kwargs)
        if inspect.isgenerator(result) or hasattr(result, "__enter__"):  # generators / context managers check lazily
            with result if hasattr(result, "__enter__") else _first(result):
                pass
    except (TypeError, ValueError) as err:
        named = re.search(rf"(?<![\w.]){re.escape(param)}(?![\w])", str(err)) is not None
        if named and isinstance(err, expected):
            return "clear", f"{type(err).__name__}: {err}"
        why = "does not name the parameter" if not named else f"expected {expected.__name__}"
        return "unclear", f"{type(err).__name__} ({why}): {err}"
    except Exception as err:  # noqa: BLE001  anything else is an unclear error by definition
        return "unclear", f"{type(err).__name__}: {err}"
    return "silent", "no error"


class _first:
    def __init__(self, gen):
        self.gen = gen

    def __enter__(self):
        next(self.gen)

    def __exit__(self, *exc):
        return False
