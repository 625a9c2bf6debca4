"""A table of bad inputs for every public function of the library a learner calls with data.

``tests/test_bad_inputs.py`` runs it (every bad call must raise a ``TypeError`` or
``ValueError`` whose message names the parameter), and ``benchmarks/errors.py`` prints the
same table per module as clear / unclear / silent. The list of functions is read from each
module's ``__all__``: a new public function without an entry here (or in ``EXEMPT``, with the
reason) fails the test, so it is covered the day it is added.

An entry gives a *good* call (``good``: a function returning the keyword arguments of a call
that works) and, for each parameter to spoil, its kind; kinds come from the parameter's name
(``x`` is images, ``y`` labels, ``eps`` a number in [0, 1], ...) unless the entry says otherwise.
The kinds of bad value, ``Case`` and ``outcome`` live in ``tests/fuzz_kit.py``; lesson 07's entries
in ``tests/bad_inputs_l07.py`` (each file stays under 500 lines).
"""

from __future__ import annotations

import importlib
import inspect

import numpy as np
import torch
from bad_inputs_l07 import CASES as L07_CASES
from fuzz_kit import BAD, NAME_KINDS, A, Case, M, Tiny, TinyAE, X, Y, _pgd_fast, ingredients, outcome  # noqa: F401  (re-exported)
from torch import nn

FUZZED = ("attacks.apgd", "attacks.common", "attacks.cw", "attacks.gradient", "attacks.lbfgs", "attacks.losses",
          "attacks.minimum", "attacks.square", "audit", "blackbox", "bounds", "cache", "certified_training", "certify",
          "checklist", "classic", "data", "decision", "defences", "directions", "encodings", "evaluation", "evolution",
          "fooling", "layers", "manifold", "models", "noise", "pools", "queries", "recipes", "remedies", "schedules",
          "smoothing", "tabular", "training", "transfer", "utils", "verify", "viz")

EXEMPT = {  # public functions that take no input a learner could get wrong, with the reason
    "cache.cache_dir": "no arguments",
    "cache.shared_dirs": "no arguments",
    "blackbox.substitute_net": "no arguments",
    "fooling.imagenet_encoding": "no arguments",
    "fooling.imagenet_cppn_encoding": "no arguments",
    "utils.eval_mode": "a context manager over a model: tested in test_utils",
    "utils.forked_rng": "a context manager: tested in test_utils and test_cache",
    "utils.progress": "its only check is the flag: tested in test_utils",
    "layers.hooks": "the machinery behind layers.capture, which is fuzzed",
    "encodings.take": "an internal helper of evolution (indexes a genome dict)",
    "viz.figure_png": "renders a Figure the library made",
    "viz.message_figure": "shows any text (str() of whatever it is given)",
    "viz.evolution_figure": "draws an evolution.Archive the library made (lesson 03's panel)",
    "utils.check_images": "a validator: tested directly in test_utils",
    "utils.check_labels": "a validator: tested directly in test_utils",
    "utils.check_in_range": "a validator: tested directly in test_utils",
    "utils.check_positive_int": "a validator: tested directly in test_utils",
    "utils.check_bool": "a validator: tested directly in test_utils",
    "utils.check_choice": "a validator: tested directly in test_utils",
    "utils.check_model": "a validator: tested directly in test_utils",
    "utils.check_generator": "a validator: tested directly in test_utils",
    "utils.check_pair": "a validator: tested directly in test_utils",
    "utils.check_model_input": "a validator: tested directly in test_utils",
    "attacks.common.check_attack": "a validator: every attack entry below exercises it",
    "attacks.common.check_attack_output": "a validator: exercised through smallest_eps, craft, robust_mask",
    "evaluation.check_data": "a validator: exercised through robust_accuracy, robustness_curve, training.validate",
    "evaluation.check_attacks": "a validator: exercised through worst_case and defences.with_bpda",
    "directions.check_indices": "a validator: exercised through label_purity, pixel_similarity, strips_figure",
    "encodings.check_shape": "a validator: exercised through make_encoding",
    "noise.check_eps_values": "a validator: exercised through logit_path, logit_path_figure, alignment_figure",
    "attacks.common.reached": "an internal predicate of the attacks (inputs already checked)",
    "attacks.common.margin": "an internal loss of the attacks (inputs already checked)",
    "pools.refresh_pool": "a step of training.adversarial_train, which checks its inputs",
    "remedies.trades_loss": "a loss of training.training_step on logits it computed (inputs already checked)",
    "blackbox.check_oracle": "a validator: exercised through simba, hop_skip_jump, train_substitute, transfer_success",
    "tabular.check_table": "a validator: exercised through every tabular entry below",
    "tabular.check_bounds": "a validator: exercised through one_feature_attack and viz.one_feature_sweep",
}



def _linear():
    from lessons import classic

    return classic.logistic_regression(torch.rand(20, 1, 8, 8, generator=torch.Generator().manual_seed(1)),
                                       torch.arange(20) % 2, max_iter=50)


def _tree():
    from lessons import classic

    return classic.decision_tree(torch.rand(20, 1, 8, 8, generator=torch.Generator().manual_seed(1)), torch.arange(20) % 4)


def _oracle(output="probs"):
    from lessons import blackbox

    return blackbox.QueryModel(M(), output=output)


def _acts():
    return torch.rand(6, 5, generator=torch.Generator().manual_seed(2))


def _history():
    return {"val_pgd": [0.5, 0.6], "val_fgsm": [0.6, 0.7]}


def _matrix():
    from lessons import transfer

    return transfer.error_matrix({"clean": X()}, {"m": M()}, X(), Y())



CASES = [
    # attacks
    Case("attacks.gradient.fgsm", lambda: A(eps=0.1), {"targeted": "flag"}),
    Case("attacks.gradient.pgd", lambda: A(eps=0.1, steps=1, restarts=1, generator=torch.Generator()),
         {"alpha": "positive", "random_start": "flag", "targeted": "flag", "norm": "choice"}),
    Case("attacks.gradient.input_gradient", lambda: A(), {"targeted": "flag"}),
    Case("attacks.lbfgs.lbfgs", lambda: A(search_steps=1, max_iter=1, progress=False), {"solver": "choice", "targeted": "flag"}),
    Case("attacks.cw.cw_l2", lambda: A(search_steps=1, steps=1, progress=False), {"targeted": "flag"}),
    Case("attacks.minimum.smallest_eps", lambda: A(search_steps=1, progress=False), {"eps_max": "positive", "targeted": "flag"}),
    Case("attacks.minimum.measure", lambda: dict(model=M(), x=X(), x_adv=X(), y=Y()), {"targeted": "flag"},
         skip=("eps",)),  # eps: optional per-image budgets (a tensor), tested in test_attacks_distortion
    Case("attacks.minimum.minimum_distortion", lambda: A(attack="fgsm", search_steps=1, progress=False),
         {"attack": "choice", "targeted": "flag"}),
    Case("attacks.common.random_targets", lambda: dict(y=Y(), num_classes=10), {"y": "targets"}),
    # data and models
    Case("data.load_mnist", lambda: dict(), {"full": "flag", "download": "flag"}),
    Case("data.split_validation", lambda: dict(x=X(), y=Y(), n_val=2), {"x": "pixels", "y": "classes"}),
    Case("data.photo", lambda: dict(name="chelsea", size=32), {"name": "choice"}),
    Case("data.round_trip", lambda: dict(x=X(), codec="jpeg", quality=75), {"x": "pixels", "codec": "choice", "quality": "count"}),
    Case("models.softmax_regression", lambda: dict()),
    Case("models.mlp", lambda: dict(hidden=(4,)), {"hidden": "widths"}),
    Case("models.autoencoder_softmax", lambda: dict(hidden=4), {"hidden": "count"}),
    Case("models.lenet", lambda: dict(), {"width": "count"}),
    Case("models.small_cnn", lambda: dict()),
    Case("models.train", lambda: dict(model=Tiny(), data=(X(), Y()), epochs=1, progress=False),
         {"weight_decay": "positive", "seed": "count0"}),
    Case("models.accuracy", lambda: A()),
    Case("models.predict", lambda: dict(model=M(), x=X())),
    Case("models.pretrained", lambda: dict(name="cnn", progress=False), {"name": "choice"}, run_good=False),
    Case("models.imagenet_classifier", lambda: dict(device="cpu"), run_good=False),
    # cache
    Case("cache.fingerprint", lambda: dict(recipe={"a": 1}), {"recipe": "recipe"}),
    Case("cache.check_name", lambda: dict(name="ok"), {"name": "name"}),
    Case("cache.load", lambda: dict(kind="models", name="ok", version="1"), {"kind": "name", "name": "name", "version": "name"}),
    Case("cache.save", lambda: dict(kind="models", name="ok", version="1", blob={}), {"kind": "name", "name": "name",
                                                                                     "version": "name"}, run_good=False),
    Case("cache.cached", lambda: dict(name="tiny", build=Tiny, fit=lambda m: None, recipe="fuzz", device="cpu"),
         {"name": "name", "build": "attack", "fit": "attack"}, run_good=False),
    # evaluation and training
    Case("evaluation.correct", lambda: A()),
    Case("evaluation.robust_mask", lambda: A(attack=_pgd_fast()), {"alive": "labels"}, skip=("alive",)),
    Case("evaluation.robust_accuracy", lambda: dict(model=M(), data=(X(), Y()), attack=_pgd_fast())),
    Case("evaluation.robustness_curve", lambda: dict(model=M(), data=(X(), Y()), eps_values=[0.0, 0.1], steps=1)),
    Case("schedules.ramp", lambda: dict(epoch=1.0, eps=0.3, ramp_epochs=2.0), {"epoch": "positive", "ramp_epochs": "positive"}),
    Case("schedules.learning_rate", lambda: dict(step=1, total_steps=10, lr=1e-3),
         {"step": "count0", "total_steps": "count", "anneal": "unit", "peak": "unit"}),
    Case("training.adversarial_examples", lambda: dict(method="pgd", model=M(), x=X(), y=Y(), eps=0.1, steps=1),
         {"fast_step": "positive", "clip_start": "flag"}),
    Case("training.training_step", lambda: dict(model=Tiny(), optimizer=torch.optim.SGD(Tiny().parameters(), lr=0.1),
                                                x=X(), y=Y(), method="standard", eps=0.1),
         {"clean_weight": "unit", "optimizer": "attack", "beta": "positive", "clip_start": "flag"}, skip=("model",)),
    Case("training.validate", lambda: dict(model=M(), val=(X(), Y()), eps=0.1, steps=1), {"val": "data", "clean_only": "flag"}),
    Case("training.adversarial_train", lambda: dict(model=Tiny(), data=(X(), Y()), method="standard", epochs=1,
                                                    batch_size=4, progress=False),
         {"ramp_epochs": "positive", "anneal": "unit", "select": "choice", "val_every_epoch": "flag", "seed": "count0",
          "pool_size": "count", "val_steps": "count", "val_every": "count", "beta": "positive", "shift": "count0",
          "ema": "unit", "clip_start": "flag", "pool_layer": "choice", "pool_rel_eps": "unit"}, skip=("model",)),
    Case("training.catastrophic_overfitting", lambda: dict(history=_history()), {"drop": "unit", "gap": "unit"}),
    Case("recipes.fit_recipe", lambda: dict(name="pgd", model=_lenet()), {"name": "choice", "recipe": "recipe"},
         run_good=False),
    Case("recipes.robust_model", lambda: dict(name="pgd", progress=False), {"name": "choice"}, run_good=False),
    Case("recipes.build_model", lambda: dict(name="fast_fgsm"), {"name": "choice"}),
    Case("recipes.study_model", lambda: dict(variant="relu1", seed=1, progress=False), {"variant": "choice"},
         run_good=False),
    Case("recipes.study_errors", lambda: dict(progress=False), run_good=False),
    Case("recipes.mean_interval", lambda: dict(values=[0.1, 0.2, 0.4]), {"values": "eps_list", "level": "unit"}),
    # lesson 05: pools and remedies
    Case("pools.split_model", lambda: dict(model=_mlp(), layer="relu1"), {"layer": "choice", "name": "name"},
         skip=("name",)),
    Case("pools.layer_examples", lambda: dict(model=_mlp(), x=MX(), y=Y(), rel_eps=0.1, layer="relu1", steps=1),
         {"rel_eps": "unit", "layer": "choice"}),
    Case("remedies.trades_examples", lambda: dict(model=M(), x=X(), eps=0.1, steps=1, generator=torch.Generator())),
    Case("remedies.random_shift", lambda: dict(x=X(), max_shift=1, generator=torch.Generator()),
         {"x": "pixels", "max_shift": "count0"}),
    Case("remedies.average_weights", lambda: dict(average=Tiny(), model=Tiny(), decay=0.9),
         {"average": "model", "decay": "unit"}),
    # lesson 02
    Case("noise.rms_distortion", lambda: dict(x=X(), x_adv=X()), {"x": "pixels", "x_adv": "pixels"}),
    Case("noise.gaussian_noise", lambda: dict(x=X(), sigma=0.1), {"x": "pixels"}),
    Case("noise.matched_noise", lambda: dict(x=X(), x_adv=X()), {"x": "pixels", "x_adv": "pixels"}),
    Case("noise.rescale_perturbation", lambda: dict(x=X(), x_adv=X(), rms=0.1), {"x": "pixels", "x_adv": "pixels"}),
    Case("noise.sign_alignment", lambda: dict(w=X().flatten(1), eps=0.1, draws=2, generator=torch.Generator()),
         {"w": "acts", "draws": "count"}),
    Case("noise.logit_path", lambda: dict(model=M(), x=X(), direction=X() - 0.5, eps_values=[-0.1, 0.1]),
         {"direction": "acts", "clip": "flag"}),
    Case("transfer.halves", lambda: dict(x=X(), y=Y()), {"x": "pixels", "y": "classes"}),
    Case("transfer.half_model", lambda: dict(name="p1-fc100", progress=False), {"name": "choice"}, run_good=False),
    Case("transfer.boundary_walk", lambda: A(eps=0.5, step=0.5), {"eps": "positive", "step": "positive"}),
    Case("transfer.craft", lambda: dict(source_models={"m": M()}, x=X(), y=Y(), attack=_pgd_fast(), progress=False),
         {"x": "pixels"}),
    Case("transfer.error_matrix", lambda: dict(example_sets={"clean": X()}, target_models={"m": M()}, x=X(), y=Y()),
         {"example_sets": "models"}),
    Case("transfer.transfer_matrix", lambda: dict(source_models={"m": M()}, target_models={"m": M()}, x=X(), y=Y(),
                                                  attack=_pgd_fast(), progress=False)),
    Case("transfer.transfer_report", lambda: dict(source=M(), target=M(), x=X(), y=Y(), x_adv=X())),
    # lesson 03
    Case("encodings.make_encoding", lambda: dict(name="direct", shape=(1, 8, 8)), {"name": "choice"}),
    Case("encodings.mutate_direct", lambda: dict(pixels=X(), rate=0.1), {"pixels": "pixels"}),
    Case("evolution.class_confidence", lambda: dict(model=M(), images=X()), {"images": "images"}),
    Case("evolution.map_elites_steps", lambda: dict(model=M(), encoding=_encoding(), batch_size=2),
         {"encoding": "attack", "classes": "eps_list", "init_size": "count"}),
    Case("evolution.map_elites", lambda: dict(model=M(), encoding=_encoding(), generations=1, batch_size=2, progress=False),
         {"encoding": "attack", "until": "unit", "time_limit": "positive", "stop": "attack"}),
    Case("fooling.gradient_ascent", lambda: dict(model=M(), targets=Y(), shape=(1, 8, 8), steps=1),
         {"targets": "targets", "shape": "shape", "l2": "positive", "blur_every": "count0", "blur_sigma": "positive"}),
    Case("fooling.cppn_ascent", lambda: dict(model=M(), targets=Y(), encoding=_cppn(), steps=1),
         {"targets": "targets", "encoding": "attack", "time_limit": "positive"}),
    Case("fooling.fooling_images", lambda: dict(model=M(), runs=1, shape=(1, 8, 8), generations=1, batch_size=2,
                                                progress=False),
         {"shape": "shape", "until": "unit", "encodings": "encoding_names"}),
    Case("fooling.fooling_class_model", lambda: dict(progress=False), run_good=False),
    Case("fooling.imagenet_evolution", lambda: dict(progress=False), run_good=False),
    Case("fooling.imagenet_cppn", lambda: dict(progress=False), run_good=False),
    Case("manifold.nearest_distance", lambda: dict(x=X(), reference=X()), {"x": "pixels", "reference": "pixels"}),
    Case("manifold.reconstruction_error", lambda: dict(autoencoder=TinyAE(), x=X()), {"autoencoder": "model", "x": "pixels"}),
    Case("manifold.noise_confidence", lambda: dict(model=M(), n=3, shape=(1, 8, 8)), {"shape": "shape"}),
    # lesson 04
    Case("layers.names", lambda: dict(model=M())),
    Case("layers.resolve", lambda: dict(model=M(), layers="fc"), {"layers": "layer_names"}),
    Case("layers.capture", lambda: dict(model=M(), layers="fc"), {"layers": "layer_names"}),
    Case("layers.activations", lambda: dict(model=M(), x=X(), layers="fc", progress=False), {"layers": "layer_names"}),
    Case("directions.unit_directions", lambda: dict(dim=5)),
    Case("directions.random_directions", lambda: dict(n=3, dim=5)),
    Case("directions.project", lambda: dict(acts=_acts(), directions=torch.eye(5)),
         {"acts": "acts", "directions": "direction_rows"}),
    Case("directions.top_k", lambda: dict(scores=_acts(), k=2), {"scores": "scores"}),
    Case("directions.label_purity", lambda: dict(indices=torch.tensor([[0, 1], [2, 3]]), labels=Y()),
         {"indices": "indices", "labels": "classes"}),
    Case("directions.pixel_similarity", lambda: dict(indices=torch.tensor([[0, 1], [2, 3]]), x=X()),
         {"indices": "indices", "x": "pixels"}),
    Case("directions.compare", lambda: dict(units=torch.rand(5), random=torch.rand(6), n_permutations=10),
         {"units": "probs", "random": "probs"}),
    Case("directions.unit_vs_random", lambda: dict(acts=_acts()[:4], x=X(), labels=Y(), k=2, n_random=3),
         {"acts": "acts", "x": "pixels", "labels": "classes", "reduce": "choice"}),
    Case("directions.maximize", lambda: dict(model=M(), layer="conv", directions=torch.eye(4)[:1], shape=(1, 8, 8), steps=1,
                                             progress=False),
         {"layer": "choice", "directions": "direction_rows", "shape": "shape", "decay": "positive", "l2": "positive"}),
    Case("directions.replicate_cnn", lambda: dict(seed=1, progress=False), {"seed": "count"}, run_good=False),
    # lesson 06
    Case("blackbox.train_substitute", lambda: dict(oracle=_oracle("label"), pool=X(), budget=2, steps=1, progress=False,
                                                   build=Tiny),
         {"oracle": "oracle", "pool": "pixels", "build": "attack"}),
    Case("blackbox.transfer_success", lambda: dict(oracle=_oracle(), x_adv=X(), y=Y()), {"oracle": "oracle"}),
    Case("blackbox.cached_substitute", lambda: dict(target="cnn", budget=1000, progress=False),
         {"target": "choice"}, run_good=False),
    Case("queries.block_directions", lambda: dict(shape=(1, 8, 8), sizes=(4,)), {"shape": "shape", "sizes": "widths"}),
    Case("queries.simba", lambda: dict(oracle=_oracle(), x=X(), y=Y(), eps=0.1, max_queries=3, progress=False),
         {"oracle": "oracle", "sizes": "widths"}),
    Case("queries.attack_with_knowledge", lambda: dict(kind="linear", knowledge="white-box", model=_linear(), x=X(),
                                                       y=Y() % 2, eps=0.1),
         {"kind": "choice", "knowledge": "choice", "x": "pixels", "y": "labels"}, skip=("model",)),
    Case("classic.logistic_regression", lambda: dict(x=X(), y=Y() % 2, max_iter=20), {"x": "pixels", "y": "classes",
                                                                                       "C": "positive"}),
    Case("classic.decision_tree", lambda: dict(x=X(), y=Y()), {"x": "pixels", "y": "classes", "max_depth": "count_or_none"}),
    Case("classic.linear_parameters", lambda: dict(model=_linear(), shape=(1, 8, 8)), {"model": "model", "shape": "shape"}),
    Case("classic.linear_attack", lambda: dict(model=_linear(), x=X(), y=Y() % 2, eps=0.1), {"x": "pixels"}),
    Case("classic.tree_attack", lambda: dict(tree=_tree(), x=X(), y=Y(), eps=0.5), {"tree": "model", "x": "pixels",
                                                                                    "levels": "count"}),
    Case("classic.tree_leaves", lambda: dict(tree=_tree()), {"tree": "model"}),
    Case("classic.predict_labels", lambda: dict(model=_tree(), x=X()), {"x": "pixels"}),
    Case("decision.hop_skip_jump", lambda: dict(oracle=_oracle("label"), x=X(), y=Y(), max_queries=120, progress=False),
         {"oracle": "oracle", "init_evals": "count", "max_evals": "count", "gamma": "positive"}),
    Case("decision.distance_at", lambda: dict(result=_hsja(), budget=50), {"result": "result"}),
    Case("tabular.load_breast_cancer", lambda: dict(test_size=0.3, seed=0), {"test_size": "unit"}),
    Case("tabular.logistic_regression", lambda: dict(x=_rows(), y=_row_labels()),
         {"x": "rows", "y": "row_classes", "C": "positive"}),
    Case("tabular.decision_tree", lambda: dict(x=_rows(), y=_row_labels()),
         {"x": "rows", "y": "row_classes", "max_depth": "count_or_none"}),
    Case("tabular.feature_ranges", lambda: dict(x=_rows()), {"x": "rows"}),
    Case("tabular.one_feature_attack", lambda: dict(model=_table_tree(), x=_rows(), y=_row_labels(), bounds=_bounds(), grid=3),
         {"x": "rows", "y": "row_labels", "bounds": "bounds", "grid": "count"}),
    # figures and tables
    Case("viz.triptych", lambda: dict(x=X()[:2], x_adv=X()[:2], model=M(), labels=[str(i) for i in range(10)]),
         {"x": "pixels", "x_adv": "pixels", "labels": "names"}),
    Case("viz.image_grid", lambda: dict(images=X(), titles=list("abcd")), {"images": "pixels", "titles": "names"}),
    Case("viz.confidence_bars", lambda: dict(probs=torch.full((10,), 0.1), labels=[str(i) for i in range(10)]),
         {"probs": "probs", "labels": "names"}),
    Case("viz.to_numpy_image", lambda: dict(x=X()[:1]), {"x": "pixels"}, skip=("x",)),
    Case("viz.paper_table", lambda: dict(rows=[("a", 0.1, 0.2, "s")]), {"rows": "eps_list"}),
    Case("viz.transfer_heatmap", lambda: dict(m=_matrix()), {"m": "attack"}),
    Case("viz.attack_summary", lambda: dict(x0=X()[:1], x1=X()[:1], p0=torch.full((10,), 0.1), p1=torch.full((10,), 0.1)),
         {"x0": "pixels", "x1": "pixels", "p0": "probs", "p1": "probs", "names": "names"}),
    Case("viz.strips_figure", lambda: dict(x=X(), indices=torch.tensor([[0, 1], [2, 3]]), titles=["a", "b"]),
         {"x": "pixels", "indices": "indices", "titles": "names"}),
    Case("viz.round_trip_figure", lambda: dict(probs={"png": torch.tensor([0.5, 0.2])}, names=["a", "b"], target_name="ostrich"),
         {"probs": "attack", "names": "names"}),
    Case("viz.logit_path_figure", lambda: dict(eps_values=[-0.1, 0.1], logits=torch.zeros(2, 10), true_class=3,
                                               labels=[str(i) for i in range(10)]),
         {"logits": "acts", "true_class": "count0", "labels": "names"}),
    Case("viz.alignment_figure", lambda: dict(ns=[10, 100], aligned=[1.0, 10.0], random=[0.3, 1.0]),
         {"ns": "eps_list", "aligned": "eps_list", "random": "eps_list"}),
    Case("viz.distance_figure", lambda: dict(measures={"d": {"a": torch.rand(3), "b": torch.rand(2)}}),
         {"measures": "measures"}),
    Case("viz.attacked_digits", lambda: dict(x=X(), x_adv=X(), y=Y(), pred=Y(), fooled=Y() > 1),
         {"x": "pixels", "x_adv": "pixels", "y": "classes", "pred": "classes"}),
    # lesson 08
    Case("bounds.input_box", lambda: dict(x=X(), eps=0.1), {"x": "pixels"}),
    Case("bounds.interval_forward", lambda: dict(layer=nn.ReLU(), lo=X() - 0.1, hi=X()),
         {"layer": "model", "lo": "acts", "hi": "acts"}),
    Case("bounds.layer_bounds", lambda: dict(model=SEQ(), x=X(), eps=0.1)),
    Case("bounds.interval_bounds", lambda: dict(model=SEQ(), x=X(), eps=0.1)),
    Case("bounds.margin_bounds", lambda: dict(model=SEQ(), x=X(), y=Y(), eps=0.1)),
    Case("bounds.worst_case_logits", lambda: dict(model=SEQ(), x=X(), y=Y(), eps=0.1)),
    Case("bounds.verified", lambda: dict(model=SEQ(), x=X(), y=Y(), eps=0.1)),
    Case("verify.supports", lambda: dict(model=SEQ())),
    Case("verify.verify", lambda: dict(model=SEQ(), x=X()[:1], y=0, eps=0.001, time_limit=5.0),
         {"y": "count0", "time_limit": "positive", "tighten": "flag"}),
    Case("verify.verify_all", lambda: dict(model=SEQ(), x=X()[:2], y=Y()[:2], eps=0.001, time_limit=5.0, progress=False),
         {"time_limit": "positive", "tighten": "flag"}),
    Case("smoothing.lower_confidence_bound", lambda: dict(k=5, n=10, alpha=0.01), {"k": "count0", "alpha": "unit"}),
    Case("smoothing.radius", lambda: dict(p_lower=0.9, sigma=0.25), {"p_lower": "unit", "sigma": "positive"}),
    Case("smoothing.sample_counts", lambda: dict(model=M(), x=X()[:1], sigma=0.25, num=4), {"sigma": "positive",
                                                                                             "num": "count"}),
    Case("smoothing.smoothed_predict", lambda: dict(model=M(), x=X()[:1], sigma=0.25, n=4),
         {"sigma": "positive", "alpha": "unit"}),
    Case("smoothing.certify", lambda: dict(model=M(), x=X()[:1], sigma=0.25, n0=4, n=4),
         {"sigma": "positive", "alpha": "unit", "n0": "count"}),
    Case("smoothing.certify_all", lambda: dict(model=M(), x=X()[:2], y=Y()[:2], sigma=0.25, n0=4, n=4, progress=False),
         {"sigma": "positive", "alpha": "unit", "n0": "count"}),
    Case("smoothing.smoothed_attack", lambda: dict(model=M(), x=X()[:2], y=Y()[:2], eps=0.5, sigma=0.25, steps=1, samples=2),
         {"eps": "positive", "sigma": "positive", "samples": "count"}),
    Case("certified_training.ibp_schedule", lambda: dict(epoch=1.0, eps=0.1, warmup=1.0, ramp=2.0),
         {"epoch": "positive", "warmup": "positive", "ramp": "positive", "kappa_final": "unit"}),
    Case("certified_training.ibp_loss", lambda: dict(eps=0.1, warmup=1.0, ramp=2.0),
         {"warmup": "positive", "ramp": "positive", "kappa_final": "unit"}),
    Case("certified_training.gaussian_loss", lambda: dict(sigma=0.25), {"sigma": "positive"}),
    Case("certified_training.fit", lambda: dict(model=SEQ(), data=(X(), Y()), loss=_gauss_loss(), epochs=1, progress=False),
         {"loss": "attack", "drop_at": "unit", "seed": "count0"}, skip=("model",)),
    Case("certify.small_cnn", lambda: dict()),
    Case("certify.fit_recipe", lambda: dict(name="mlp", model=_mnist_mlp()), {"name": "choice"}, run_good=False),
    Case("certify.certified_model", lambda: dict(name="mlp", progress=False), {"name": "choice"}, run_good=False),
    Case("certify.exact_verdicts", lambda: dict(model=M()), run_good=False),
    Case("certify.certificates", lambda: dict(model=M()), run_good=False),
    Case("certify.best_attack_mask", lambda: dict(model=M(), x=X(), y=Y(), eps=0.1), {"seed": "count0"},
         skip=("alive",)),
    Case("certify.contradictions", lambda: dict(verdicts=_verdicts(), robust=torch.tensor([True])),
         {"verdicts": "attack", "robust": "probs"}),
    Case("certify.course_table", lambda: dict(progress=False), run_good=False),
    Case("viz.interval_bars", lambda: dict(lo=torch.zeros(10), hi=torch.ones(10), label=3),
         {"lo": "probs", "hi": "probs", "label": "count0"}),
    Case("viz.box_widths", lambda: dict(widths={"a": [1.0, 2.0]}, layers=["l1", "l2"]), {"widths": "models",
                                                                                         "layers": "names"}),
    Case("viz.sandwich_bars", lambda: dict(rows={"m": {"clean": 0.9, "attack": 0.5}}), {"rows": "models"}),
    Case("viz.certified_curves", lambda: dict(curves={"s": ([0.0, 0.5], [0.9, 0.5])}), {"curves": "models"}),
    Case("viz.queries_to_success", lambda: dict(curves={"a": (torch.tensor([1, 5, 9]), torch.tensor([True, True, False]))},
                                                max_queries=10, lines={"b": 0.5}),
         {"curves": "curves", "max_queries": "count", "lines": "rates"}),
    Case("viz.one_feature_sweep", lambda: dict(models={"tree": _table_tree()}, row=_rows()[0], features={"tree": 1},
                                               bounds=_bounds(), label=0),
         {"models": "classifiers", "row": "row", "features": "columns", "bounds": "bounds", "label": "count0"}),
    # utils
    Case("utils.get_device", lambda: dict(device="cpu")),
    Case("utils.set_seed", lambda: dict(seed=0), {"seed": "count0"}),
    Case("utils.model_device", lambda: dict(model=M()), skip=("model",)),
    Case("utils.atomic_write", lambda: dict(path="/dev/null/never", data=b""), {"data": "bytes"}, run_good=False,
         skip=("path",)),
    Case("utils.atomic_save", lambda: dict(obj={}, path="/dev/null/never"), run_good=False, skip=("path", "obj")),
]
CASES += L07_CASES


def SEQ():
    """A tiny ReLU network as nn.Sequential (what interval bounds and the MILP take)."""
    torch.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Linear(64, 6), nn.ReLU(), nn.Linear(6, 10)).eval()


def _verdicts():
    from lessons import verify

    return verify.verify_all(SEQ(), X()[:1], SEQ()(X()[:1]).argmax(1), 0.001, time_limit=5, progress=False)
def _rows():
    return np.random.default_rng(0).normal(size=(20, 3))


def _row_labels():
    return np.arange(20, dtype=np.int64) % 2


def _bounds():
    return (_rows().min(0), _rows().max(0))


def _table_tree():
    from lessons import tabular

    return tabular.decision_tree(_rows(), _row_labels(), max_depth=3)


def _hsja():
    from lessons import decision

    return decision.hop_skip_jump(_oracle("label"), X(), Y(), max_queries=120, generator=torch.Generator().manual_seed(0))


def _mnist_mlp():
    """The network recipe "mlp" trains (on 28×28 digits: SEQ takes 8×8 images, so it is no good call)."""
    from lessons import models

    return models.mlp((20, 20))


def _lenet():
    from lessons import models

    return models.lenet()


def _mlp():
    from lessons import models

    torch.manual_seed(0)
    return models.mlp((8, 8))


def MX():
    return ingredients()["mnist_x"].clone()


def _gauss_loss():
    from lessons import certified_training

    return certified_training.gaussian_loss(0.25)


def _encoding():
    from lessons import encodings

    return encodings.DirectEncoding((1, 8, 8))


def _cppn():
    from lessons import encodings

    return encodings.CPPNEncoding((1, 8, 8), hidden=(3,))


def public_functions() -> list[str]:
    """``module.function`` for every public function of the fuzzed modules.

    Classes and constants in ``__all__`` are not functions and are left out; a package (``viz``)
    counts the functions its modules define and it re-exports, so splitting a module changes nothing.
    """
    out = []
    for module in FUZZED:
        mod = importlib.import_module(f"lessons.{module}")
        for attr in getattr(mod, "__all__", []):
            value = getattr(mod, attr)
            home = value.__module__ if inspect.isfunction(value) else None
            if home == mod.__name__ or (hasattr(mod, "__path__") and str(home).startswith(mod.__name__ + ".")):
                out.append(f"{module}.{attr}")
    return out

