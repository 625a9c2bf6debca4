"""Lesson 03's panel: evolve a fooling image for one class, live, with a stop button."""

from __future__ import annotations

import html
import threading
from collections.abc import Iterator, Sequence

import ipywidgets as W
import torch
from torch import nn

from .. import viz, widgets
from ..encodings import check_shape, make_encoding
from ..evolution import Archive, map_elites_steps
from ..utils import check_model, check_positive_int, eval_mode, model_device

__all__ = ["LiveEvolution", "evolution"]


class LiveEvolution:
    """Lesson 03's live panel: evolve a fooling image for one class and watch it improve.

    Pick the encoding, the target class and the number of generations, press **run**: the
    evolution runs in a background thread (so the kernel stays free to receive the **stop**
    click), and every ``every`` generations the panel redraws the elite image and its
    confidence curve and moves the progress bar. Without a browser: set
    ``live.controls[name].value``, call ``live.run()`` (or ``live.run_button.click()``),
    ``live.join()``, then read ``live.archive``, ``live.progress.value`` or
    ``live.panel.image.value``; ``live.stop()`` ends a run between two generations.

    Args:
        model: the classifier to fool (e.g. ``models.pretrained("cnn")``).
        shape: its input shape (C, H, W).
        class_names: names of the classes to offer (default "0", "1", ...).
        max_generations: the generations slider's maximum.
        every: redraw every this many generations.
        batch_size: children per generation.
        seed: seeds each run (the same settings give the same run).
        background: run in a thread (``False``: run inside ``run()``, for tests).
    """

    def __init__(self, model: nn.Module, *, shape: tuple[int, int, int] = (1, 28, 28),
                 class_names: Sequence[str] | None = None, max_generations: int = 500, every: int = 5,
                 batch_size: int = 64, seed: int = 0, background: bool = True) -> None:
        self.model = check_model(model)
        self.shape = check_shape(shape)
        self.every = check_positive_int("every", every)
        self.batch_size = check_positive_int("batch_size", batch_size)
        self.seed = check_positive_int("seed", seed, allow_zero=True)
        max_generations = check_positive_int("max_generations", max_generations)
        self.background = bool(background)
        with torch.no_grad(), eval_mode(model):
            num_classes = model(torch.zeros((1, *self.shape), device=model_device(model))).shape[1]
        names = list(class_names) if class_names is not None else [str(i) for i in range(num_classes)]
        if len(names) > num_classes:
            raise ValueError(f"class_names has {len(names)} names but the model has {num_classes} classes")
        self.class_names = names
        self.controls = {
            "encoding": widgets.dropdown("encoding", [("CPPN (patterns)", "cppn"), ("direct (pixels)", "direct")], "cppn"),
            "target": widgets.dropdown("target class", [(n, i) for i, n in enumerate(names)], 0),
            "generations": widgets.int_slider("generations", min(100, max_generations), 1, max_generations),
        }
        self.run_button = widgets.button("run")
        self.run_button.add_class("lessons-run")  # what the browser test clicks after changing a control
        self.stop_button = widgets.button("stop", icon="stop", style="danger")
        self.stop_button.disabled = True
        self.progress = W.IntProgress(value=0, min=0, max=1, description="generation",
                                      style={"description_width": "9em"}, layout=W.Layout(width="26em"))
        self.archive: Archive | None = None
        self.error: str | None = None
        self.stopped = False
        self._settings: tuple | None = None
        self._running = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()  # one render at a time (worker thread and UI callbacks)
        self.panel = widgets.Panel("Evolve a fooling image, live", self.controls, self._render)
        row = W.HBox([self.run_button, self.stop_button, self.progress], layout=W.Layout(align_items="center"))
        children = list(self.panel.widget.children)
        self.panel.widget.children = tuple(children[:2] + [row] + children[2:])
        self.widget = self.panel.widget
        self.run_button.on_click(lambda _b: self.run())
        self.stop_button.on_click(lambda _b: self.stop())

    # -- the plain logic, usable without a browser

    def _start(self, encoding: str, target: int) -> Iterator[Archive]:
        enc = make_encoding(encoding, self.shape)
        steps = map_elites_steps(self.model, enc, classes=[target], batch_size=self.batch_size,
                                 generator=torch.Generator().manual_seed(self.seed))
        self.archive = next(steps)
        self._settings = (encoding, target)
        return steps

    def run(self, *, wait: bool = False) -> None:
        """Start a run with the controls' values (ignored while one is running)."""
        if self._running:
            return
        values = self.panel.values()
        self._stop.clear()
        self._running, self.stopped, self.error = True, False, None
        for control in self.controls.values():
            control.disabled = True
        self.run_button.disabled, self.stop_button.disabled = True, False
        self.progress.max, self.progress.value = values["generations"], 0
        if self.background:
            self._thread = threading.Thread(target=self._loop, args=(values,), daemon=True, name="lessons-live-evolution")
            self._thread.start()
            if wait:
                self.join()
        else:
            self._loop(values)

    def stop(self) -> None:
        """Ask a running evolution to stop after the current generation."""
        self._stop.set()

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the current run; ``True`` if none is running any more."""
        if self._thread is not None:
            self._thread.join(timeout)
        return not self._running

    @property
    def running(self) -> bool:
        return self._running

    def _loop(self, values: dict) -> None:
        try:
            steps = self._start(values["encoding"], values["target"])
            for generation in range(1, values["generations"] + 1):
                if self._stop.is_set():
                    self.stopped = True
                    break
                self.archive = next(steps)
                if generation % self.every == 0 or generation == values["generations"]:
                    self.progress.value = generation
                    if generation < values["generations"]:  # the last view is drawn once, below
                        self.panel.update()
        except Exception as err:  # shown in the panel; kept for tests
            self.error = f"{type(err).__name__}: {err}"
        finally:
            self._running = False
            for control in self.controls.values():
                control.disabled = False
            self.run_button.disabled, self.stop_button.disabled = False, True
            self.panel.update()
            if self.error:
                self.panel.status.value = f'<span style="color:#b00">⚠ {html.escape(self.error)}</span>'

    def _render(self, encoding: str, target: int, generations: int):
        with self._lock:
            if not self._running and self._settings != (encoding, target):
                self._start(encoding, target)  # a preview: generation 0 of the run these settings give
            return viz.evolution_figure(self.archive, self.class_names, running=self._running,
                                stopped=self.stopped, planned=generations)

    def _repr_mimebundle_(self, **kwargs):
        return self.widget._repr_mimebundle_(**kwargs)


def evolution(model: nn.Module, **options) -> LiveEvolution:
    """Lesson 03's live panel for ``model``; ``options`` as for ``LiveEvolution``."""
    return LiveEvolution(model, **options)
