"""Interactive panels with one look across the course.

Introduced in lesson 00. A ``Panel`` is a title, a row of labelled controls, a status line
(busy indicator and errors), the figure as a PNG image and a text readout. The rendering
logic is a plain function ``render(**values) -> (figure, readout_html)``, so it can be
tested without a browser: set ``control.value`` in Python and the observers fire at once;
then read ``panel.image.value``, ``panel.readout.value`` or ``panel.error``.
"""

from __future__ import annotations

import html
import time
import traceback
from collections.abc import Callable, Mapping

import ipywidgets as W
from matplotlib.figure import Figure

from .viz import figure_png

__all__ = ["Panel", "slider", "dropdown", "int_slider", "button"]

_LABEL_WIDTH = "9em"
_BUSY = '<span style="color:#8a6d3b">⏳ working…</span>'


def slider(description: str, value: float, lo: float, hi: float, step: float, *, unit: str = "", readout_format: str = ".3f") -> W.FloatSlider:
    """A float slider whose label carries its unit, e.g. ``slider("ε", 0.1, 0, 0.5, 0.01, unit="L∞")``."""
    label = f"{description} ({unit})" if unit else description
    return W.FloatSlider(value=value, min=lo, max=hi, step=step, description=label, continuous_update=False,
                         readout_format=readout_format, style={"description_width": _LABEL_WIDTH},
                         layout=W.Layout(width="26em"))


def int_slider(description: str, value: int, lo: int, hi: int, *, step: int = 1, unit: str = "") -> W.IntSlider:
    """An integer slider with a unit in its label."""
    label = f"{description} ({unit})" if unit else description
    return W.IntSlider(value=value, min=lo, max=hi, step=step, description=label, continuous_update=False,
                       style={"description_width": _LABEL_WIDTH}, layout=W.Layout(width="26em"))


def dropdown(description: str, options, value=None) -> W.Dropdown:
    """A dropdown; ``options`` is a list of values or of ``(label, value)`` pairs."""
    dd = W.Dropdown(options=options, description=description, style={"description_width": _LABEL_WIDTH},
                    layout=W.Layout(width="26em"))
    if value is not None:
        dd.value = value
    return dd


def button(description: str, *, icon: str = "play", style: str = "primary") -> W.Button:
    """A button in the course's style."""
    return W.Button(description=description, icon=icon, button_style=style, layout=W.Layout(width="12em"))


class Panel:
    """A titled, self-updating panel: controls → ``render`` → figure + readout.

    Args:
        title: shown in bold above the controls.
        controls: name → ipywidgets control; ``render`` receives ``name=control.value``.
        render: ``render(**values)`` returns ``(figure or None, readout_html)``. Exceptions
            are shown in the panel's status line (and kept in ``panel.error``), never swallowed.
        auto: re-render whenever a control changes (else only through ``run_button``).
        run_button: label of a button that triggers ``update`` (for slow renders).
        dpi: resolution of the figure image.

    Attributes:
        widget: the ``ipywidgets.VBox`` to display (``display(panel)`` works too).
        image, readout, status: the output widgets, readable in tests.
        error: the last exception's message, or ``None``.
        seconds: how long the last render took.
    """

    def __init__(
        self,
        title: str,
        controls: Mapping[str, W.ValueWidget],
        render: Callable[..., tuple[Figure | None, str]],
        *,
        auto: bool = True,
        run_button: str | None = None,
        dpi: int = 80,
    ) -> None:
        if not callable(render):
            raise TypeError(f"render must be callable, got {type(render).__name__}")
        self.controls = dict(controls)
        for name, control in self.controls.items():
            if not hasattr(control, "value"):
                raise TypeError(f"control {name!r} must be an ipywidgets value widget, got {type(control).__name__}")
        self.render = render
        self.dpi = dpi
        self.error: str | None = None
        self.seconds = 0.0
        self.image = W.Image(format="png", layout=W.Layout(max_width="100%"))
        self.readout = W.HTML()
        self.status = W.HTML()
        self.button = button(run_button) if run_button else None
        header = W.HTML(f"<b style='font-size:1.1em'>{html.escape(title)}</b>")
        rows = list(self.controls.values()) + ([self.button] if self.button else [])
        controls_box = W.Box(rows, layout=W.Layout(display="flex", flex_flow="row wrap", gap="0.2em 1.5em"))
        self.widget = W.VBox([header, controls_box, self.status, self.image, self.readout],
                             layout=W.Layout(border="1px solid #ddd", padding="0.6em", width="100%"))
        self.widget.add_class("lessons-panel")
        if self.button:
            self.button.on_click(lambda _: self.update())
        if auto:
            for control in self.controls.values():
                control.observe(lambda _change: self.update(), names="value")
        self.update()

    def values(self) -> dict:
        """The controls' current values, by name."""
        return {name: control.value for name, control in self.controls.items()}

    def update(self) -> None:
        """Render with the current values; show the figure, the readout, or the error."""
        self.status.value = _BUSY
        if self.button:
            self.button.disabled = True
        start = time.perf_counter()
        try:
            fig, text = self.render(**self.values())
        except Exception as err:  # shown to the learner in the panel, and kept for tests
            self.error = f"{type(err).__name__}: {err}"
            last = traceback.format_exception_only(type(err), err)[-1].strip()
            self.status.value = f'<span style="color:#b00">⚠ {html.escape(last)}</span>'
        else:
            self.error = None
            if fig is not None:
                self.image.value = figure_png(fig, dpi=self.dpi)
            self.readout.value = text or ""
            self.seconds = time.perf_counter() - start
            self.status.value = f'<span style="color:#777">updated in {self.seconds:.2f} s</span>'
        finally:
            if self.button:
                self.button.disabled = False

    def _repr_mimebundle_(self, **kwargs):
        return self.widget._repr_mimebundle_(**kwargs)
