"""Lesson 04's panels: the blind quiz (unit or random direction?) and the direction explorer."""

from __future__ import annotations

from collections.abc import Sequence

import ipywidgets as W
import torch
from matplotlib.figure import Figure

from .. import directions, viz, widgets
from ..directions import check_indices
from ..utils import check_choice, check_images

__all__ = ["Quiz", "quiz", "direction_explorer"]


class Quiz:
    """The blind quiz of lesson 04: is each grid a unit's top-k or a random direction's?

    The logic is plain Python (testable without a browser); ``panel()`` wraps it in a
    ``widgets.Panel`` with one dropdown per grid and a "reveal" toggle.

    Args:
        x: the images (N, C, H, W) in [0, 1].
        grids: (G, k) image indices, one row per grid (e.g. ``top_k`` rows).
        truths: G answers, each ``"unit"`` or ``"random"``.
        generator: seeds the shuffle, so the order is reproducible but not the input order.

    Attributes:
        guesses: the learner's answer per shown grid (``None`` = not answered yet).
        revealed: whether the answers are shown.
    """

    ANSWERS = ("unit", "random")
    UNANSWERED = "?"

    def __init__(self, x: torch.Tensor, grids: torch.Tensor, truths: Sequence[str], *,
                 generator: torch.Generator | None = None) -> None:
        check_images(x, "x")
        check_indices(grids, x.shape[0], "grids")
        truths = list(truths)
        if len(truths) != grids.shape[0]:
            raise ValueError(f"truths must have one answer per grid ({grids.shape[0]}), got {len(truths)}")
        for t in truths:
            check_choice("truth", t, self.ANSWERS)
        order = torch.randperm(len(truths), generator=generator)
        self.x = x
        self.grids = grids[order]
        self._truths = [truths[int(i)] for i in order]
        self.names = [chr(ord("A") + i) if i < 26 else f"G{i}" for i in range(len(truths))]
        self.guesses: list[str | None] = [None] * len(truths)
        self.revealed = False
        self._figure_state: tuple | None = None

    def __len__(self) -> int:
        return len(self._truths)

    def guess(self, i: int, answer: str | None) -> None:
        """Record the answer for grid ``i`` (0-based): ``"unit"``, ``"random"`` or ``None``/``"?"``."""
        if isinstance(i, bool) or not isinstance(i, int) or not 0 <= i < len(self):
            raise ValueError(f"grid index must be in [0, {len(self) - 1}], got {i!r}")
        if answer == self.UNANSWERED:
            answer = None
        if answer is not None:
            check_choice("answer", answer, self.ANSWERS)
        self.guesses[i] = answer

    def reveal(self, show: bool = True) -> None:
        """Show (or hide again) the answers and the score."""
        self.revealed = bool(show)

    @property
    def answered(self) -> int:
        """How many grids have a guess."""
        return sum(g is not None for g in self.guesses)

    @property
    def score(self) -> int:
        """Correct guesses so far (an unanswered grid counts as wrong)."""
        return sum(g == t for g, t in zip(self.guesses, self._truths))

    @property
    def answers(self) -> list[str]:
        """The true answers, in display order — only once revealed."""
        if not self.revealed:
            raise RuntimeError("the answers are hidden until quiz.reveal() is called")
        return list(self._truths)

    def figure(self) -> Figure:
        """The grids, labelled A, B, …; after ``reveal`` each title gives the truth and ✓/✗."""
        titles, colors = [], []
        for name, g, t in zip(self.names, self.guesses, self._truths):
            if self.revealed:
                ok = g == t
                titles.append(f"{name}: {t}  —  you said {g or '?'} {'✓' if ok else '✗'}")
                colors.append("#1a7f37" if ok else "#b00020")
            else:
                titles.append(f"{name}: unit or random?")
                colors.append("black")
        return viz.strips_figure(self.x, self.grids, titles, colors=colors, scale=0.55)

    def readout(self) -> str:
        """HTML for the panel: progress before the reveal, the score after it."""
        n = len(self)
        if not self.revealed:
            return (f"Answered <b>{self.answered} of {n}</b> grids. "
                    "Toggle <i>reveal answers</i> when you are done.")
        chance = sum(t == "unit" for t in self._truths)  # what always answering "unit" would score
        return (f"Score: <b>{self.score} / {n}</b> "
                f"(always answering “unit” would score {chance} / {n}; guessing at random {n / 2:g} on average)")

    def render(self, reveal: bool = False, **guesses: str) -> tuple[Figure | None, str]:
        """``widgets.Panel`` render function: controls ``A``, ``B``, … and ``reveal``.

        The figure is redrawn only when what it shows changes (the titles carry the guesses
        only once revealed), so choosing an answer updates the readout instantly.
        """
        for i, name in enumerate(self.names):
            if name in guesses:
                self.guess(i, guesses[name])
        self.reveal(reveal)
        state = (self.revealed, tuple(self.guesses) if self.revealed else None)
        fig = None
        if state != self._figure_state:
            fig = self.figure()
            self._figure_state = state
        return fig, self.readout()

    def panel(self, title: str = "Blind quiz: which grids are single units?"):
        """A ``widgets.Panel`` with one dropdown per grid and a reveal toggle."""
        self._figure_state = None
        controls = {name: widgets.dropdown(f"grid {name}", [self.UNANSWERED, *self.ANSWERS], self.UNANSWERED)
                    for name in self.names}
        for control in controls.values():
            control.layout.width = "13em"  # several per row
            control.style.description_width = "4em"
        controls["reveal"] = W.ToggleButton(value=False, description="reveal answers", icon="eye",
                                            layout=W.Layout(width="12em"))
        return widgets.Panel(title, controls, self.render)


def quiz(x: torch.Tensor, grids: torch.Tensor, truths: Sequence[str], *,
         generator: torch.Generator | None = None, title: str = "Blind quiz: which grids are single units?") -> widgets.Panel:
    """Lesson 04's blind quiz as a panel; the ``Quiz`` behind it is ``panel.quiz``."""
    q = Quiz(x, grids, truths, generator=generator)
    panel = q.panel(title)
    panel.quiz = q
    return panel


def direction_explorer(acts: dict[str, torch.Tensor], x: torch.Tensor, y: torch.Tensor, *, k: int = 8) -> widgets.Panel:
    """Pick a layer, a unit or a random direction (the slider is its index or seed) and the conv reduction.

    Args:
        acts: layer name → activations of ``x`` ((N, D) or (N, C, H, W)).
        x, y: the held-out digits and their labels.
        k: how many top digits to draw.
    """

    def render(layer: str, kind: str, index: int, reduce: str):
        width = acts[layer].shape[1]
        if kind == "unit":
            v, name = directions.unit_directions(width)[[index % width]], f"unit {index % width}"
        else:
            v = directions.random_directions(1, width, generator=torch.Generator().manual_seed(index))
            name = f"random direction (seed {index})"
        idx = directions.top_k(directions.project(acts[layer], v, reduce=reduce), k)
        purity = float(directions.label_purity(idx, y)[0])
        fig = viz.strips_figure(x, idx, [f"{layer} · {name} · labels {' '.join(map(str, y[idx[0]].tolist()))}"])
        similarity = float(directions.pixel_similarity(idx, x)[0])
        return fig, f"label purity <b>{purity:.2f}</b> · pixel similarity {similarity:.3f}"

    return widgets.Panel(
        f"Top-{k} held-out digits of a direction",
        {"layer": widgets.dropdown("layer", list(acts), next(iter(acts))),
         "kind": widgets.dropdown("direction", ["unit", "random"], "unit"),
         "index": widgets.int_slider("unit / seed", 0, 0, 127),
         "reduce": widgets.dropdown("conv reduction", list(directions.REDUCTIONS), "mean")},
        render)
