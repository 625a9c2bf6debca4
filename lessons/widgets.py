"""Interactive panels with one look across the course.

Introduced in lesson 00. A ``Panel`` is a title, a row of labelled controls (units in the
labels), a status line (busy indicator, timing, errors), the figure as a PNG image and a text
readout. The rendering logic is a plain function ``render(**values) -> (figure, readout_html)``,
so it can be tested without a browser: set ``control.value`` in Python and the observers fire
at once; then read ``panel.image.value``, ``panel.readout.value`` or ``panel.error``.

Every panel looks the same because every part carries a CSS class the browser tests (and
Voilà) rely on: ``lessons-panel`` on the whole, ``lessons-controls``, ``lessons-status``,
``lessons-image``, ``lessons-readout``, ``lessons-run`` (the run button); while a render runs
the panel also has ``lessons-busy``, and after a failed one ``lessons-error``.
"""

from __future__ import annotations

import html
import time
import traceback
from collections.abc import Callable, Mapping

import ipywidgets as W
from matplotlib.figure import Figure

from .viz import figure_png

__all__ = ["Panel", "slider", "dropdown", "int_slider", "button", "checkbox"]

_LABEL_WIDTH = "9em"
_CONTROL_WIDTH = "26em"
# Shown the moment a render starts: it reaches the browser before the work begins, so anything
# slower than about half a second is visibly "working" instead of looking frozen. Plain text:
# an emoji (⏳) shows as an empty box where no emoji font is installed (Debian's Chromium).
_BUSY = '<span style="color:#8a6d3b">working…</span>'


def _label(description: str, unit: str) -> str:
    return f"{description} ({unit})" if unit else description


def _style() -> dict:
    return {"description_width": _LABEL_WIDTH}


def slider(description: str, value: float, lo: float, hi: float, step: float, *, unit: str = "",
           readout_format: str = ".3f") -> W.FloatSlider:
    """A float slider whose label carries its unit, e.g. ``slider("ε", 0.1, 0, 0.5, 0.01, unit="L∞")``.

    It reports a new value when released (``continuous_update=False``), so a slow render runs
    once per move, not once per pixel dragged.
    """
    if not lo <= value <= hi:
        raise ValueError(f"slider {description!r}: value must be in [{lo}, {hi}], got {value}")
    label = _label(description, unit)
    return W.FloatSlider(value=value, min=lo, max=hi, step=step, description=label, tooltip=label,
                         continuous_update=False, readout_format=readout_format, style=_style(),
                         layout=W.Layout(width=_CONTROL_WIDTH))


def int_slider(description: str, value: int, lo: int, hi: int, *, step: int = 1, unit: str = "") -> W.IntSlider:
    """An integer slider with a unit in its label (reports its value when released)."""
    if not lo <= value <= hi:
        raise ValueError(f"int_slider {description!r}: value must be in [{lo}, {hi}], got {value}")
    label = _label(description, unit)
    return W.IntSlider(value=value, min=lo, max=hi, step=step, description=label, tooltip=label,
                       continuous_update=False, style=_style(), layout=W.Layout(width=_CONTROL_WIDTH))


def dropdown(description: str, options, value=None, *, unit: str = "") -> W.Dropdown:
    """A dropdown; ``options`` is a list of values or of ``(label, value)`` pairs."""
    label = _label(description, unit)
    dd = W.Dropdown(options=options, description=label, tooltip=label, style=_style(),
                    layout=W.Layout(width=_CONTROL_WIDTH))
    if value is not None:
        dd.value = value
    return dd


def checkbox(description: str, value: bool = False) -> W.Checkbox:
    """A checkbox in the course's style."""
    return W.Checkbox(value=bool(value), description=description, tooltip=description, indent=False,
                      layout=W.Layout(width=_CONTROL_WIDTH))


def button(description: str, *, icon: str = "play", style: str = "primary") -> W.Button:
    """A button in the course's style."""
    return W.Button(description=description, icon=icon, button_style=style, tooltip=description,
                    layout=W.Layout(width="12em"))


def _error_html(err: BaseException) -> str:
    last = traceback.format_exception_only(type(err), err)[-1].strip()
    full = "".join(traceback.format_exception(type(err), err, err.__traceback__))
    return (f'<span style="color:#b00">⚠ {html.escape(last)}</span>'
            f'<details><summary style="color:#777;cursor:pointer">traceback</summary>'
            f'<pre style="font-size:0.8em;white-space:pre-wrap">{html.escape(full)}</pre></details>')


class Panel:
    """A titled, self-updating panel: controls → ``render`` → figure + readout.

    Args:
        title: shown in bold above the controls.
        controls: name → ipywidgets control; ``render`` receives ``name=control.value``.
        render: ``render(**values)`` returns ``(figure or None, readout_html)``. Exceptions
            are shown in the panel's status line with their traceback (and kept in
            ``panel.error`` / ``panel.traceback``), never swallowed.
        auto: re-render whenever a control changes (else only through ``run_button``).
        run_button: label of a button that triggers ``update`` (for slow renders). With
            ``auto=False`` a changed control says "press <run_button>" until it is pressed.
        dpi: resolution of the figure image.
        strict: raise if the *first* render (at construction) fails, so a broken panel
            fails the notebook's tests instead of only showing a red line nobody reads.
            Later failures (a learner's unlucky choice of values) are shown in the panel.

    Attributes:
        widget: the ``ipywidgets.VBox`` to display (``display(panel)`` works too).
        image, readout, status: the output widgets, readable in tests.
        button: the run button, or ``None``.
        error: the last exception as ``"Type: message"``, or ``None``.
        traceback: the last exception's full traceback text, or ``None``.
        seconds: how long the last render took.
        renders: how many renders have run (successful or not).
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
        strict: bool = True,
    ) -> None:
        if not callable(render):
            raise TypeError(f"render must be callable, got {type(render).__name__}")
        if not isinstance(controls, Mapping):
            raise TypeError(f"controls must be a mapping name -> widget, got {type(controls).__name__}")
        self.controls = dict(controls)
        for name, control in self.controls.items():
            if not hasattr(control, "value") or not hasattr(control, "observe"):
                raise TypeError(f"control {name!r} must be an ipywidgets value widget, got {type(control).__name__}")
        if not auto and not run_button:
            raise ValueError("a panel with auto=False needs a run_button, or it could never update")
        self.render = render
        self.dpi = dpi
        self.auto = auto
        self.error: str | None = None
        self.traceback: str | None = None
        self.seconds = 0.0
        self.renders = 0
        self._exception: Exception | None = None
        # flex-start: a VBox stretches its children, which would blow a small figure up to the
        # full width (blurry); keep its own size, shrunk only when the page is narrower.
        self.image = W.Image(format="png", layout=W.Layout(max_width="100%", align_self="flex-start"))
        self.image.add_class("lessons-image")
        self.readout = W.HTML()
        self.readout.add_class("lessons-readout")
        self.status = W.HTML()
        self.status.add_class("lessons-status")
        self.button = button(run_button) if run_button else None
        header = W.HTML(f"<b style='font-size:1.1em'>{html.escape(title)}</b>")
        rows = list(self.controls.values()) + ([self.button] if self.button else [])
        controls_box = W.Box(rows, layout=W.Layout(display="flex", flex_flow="row wrap", grid_gap="0.2em 1.5em"))
        controls_box.add_class("lessons-controls")
        self.widget = W.VBox([header, controls_box, self.status, self.image, self.readout],
                             layout=W.Layout(border="1px solid #ddd", padding="0.6em", width="100%"))
        self.widget.add_class("lessons-panel")
        if self.button:
            self.button.add_class("lessons-run")
            self.button.on_click(lambda _: self.update())
        for control in self.controls.values():
            control.observe(self._changed, names="value")
        self.update()
        if strict and self.error is not None:
            raise RuntimeError(f"the panel {title!r} failed to render its first view: {self.error}") from self._exception

    def values(self) -> dict:
        """The controls' current values, by name."""
        return {name: control.value for name, control in self.controls.items()}

    def _changed(self, _change) -> None:
        if self.auto:
            self.update()
        else:
            label = html.escape(self.button.description)
            self.status.value = f'<span style="color:#8a6d3b">controls changed: press “{label}” to update</span>'

    def update(self) -> None:
        """Render with the current values; show the figure, the readout, or the error."""
        self.status.value = _BUSY
        self.widget.add_class("lessons-busy")
        if self.button:
            self.button.disabled = True
        start = time.perf_counter()
        try:
            result = self.render(**self.values())
            if not (isinstance(result, tuple) and len(result) == 2):
                raise TypeError(f"render must return (figure or None, readout_html), got {type(result).__name__}")
            fig, text = result
            if fig is not None and not isinstance(fig, Figure):
                raise TypeError(f"render must return a matplotlib Figure or None first, got {type(fig).__name__}")
            png = figure_png(fig, dpi=self.dpi) if fig is not None else None
            _close_if_pyplot(fig)
        except Exception as err:  # shown to the learner in the panel, and kept for tests
            self._exception = err
            self.error = f"{type(err).__name__}: {err}"
            self.traceback = "".join(traceback.format_exception(type(err), err, err.__traceback__))
            self.seconds = time.perf_counter() - start
            self.status.value = _error_html(err)
            self.widget.add_class("lessons-error")
        else:
            self.error = self.traceback = self._exception = None
            if png is not None:
                self.image.value = png
            self.readout.value = text or ""
            self.seconds = time.perf_counter() - start
            self.status.value = f'<span style="color:#777">updated in {self.seconds:.2f} s</span>'
            self.widget.remove_class("lessons-error")
        finally:
            self.renders += 1
            self.widget.remove_class("lessons-busy")
            if self.button:
                self.button.disabled = False

    def _repr_mimebundle_(self, **kwargs):
        return self.widget._repr_mimebundle_(**kwargs)


def _close_if_pyplot(fig) -> None:
    """Close a figure that pyplot is tracking (``plt.figure()``), so renders don't pile up."""
    if fig is None or getattr(fig, "number", None) is None:
        return
    import matplotlib.pyplot as plt

    if plt.fignum_exists(fig.number):
        plt.close(fig)
