"""lessons.widgets: the panel logic, without a browser (the browser test covers the rendering)."""

from __future__ import annotations

import warnings

import ipywidgets as W
import matplotlib
import pytest
from matplotlib.figure import Figure

from lessons import widgets

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def line_render(calls=None):
    """A render whose figure depends on the values, recording each call."""

    def render(a, kind="line"):
        if calls is not None:
            calls.append({"a": a, "kind": kind})
        fig = Figure(figsize=(2, 1))
        ax = fig.subplots()
        ax.plot([0, 1], [0, a]) if kind == "line" else ax.bar([0], [a])
        return fig, f"a = <b>{a:.2f}</b> ({kind})"

    return render


# --------------------------------------------------------------------------- controls


def test_controls_carry_units_and_share_one_label_width():
    s = widgets.slider("ε", 0.1, 0, 0.5, 0.01, unit="L∞")
    i = widgets.int_slider("steps", 10, 1, 40, unit="iterations")
    d = widgets.dropdown("photo", ["chelsea", "coffee"], "coffee")
    d_unit = widgets.dropdown("size", [1, 2], unit="px")
    c = widgets.checkbox("targeted", True)
    assert s.description == "ε (L∞)" and i.description == "steps (iterations)" and d_unit.description == "size (px)"
    assert d.description == "photo" and d.value == "coffee" and c.value is True
    assert {s.style.description_width, i.style.description_width, d.style.description_width} == {widgets._LABEL_WIDTH}
    # released, not dragged: one render per move
    assert s.continuous_update is False and i.continuous_update is False
    assert s.tooltip == "ε (L∞)"  # a label cut short by the fixed width stays readable on hover


def test_sliders_reject_a_default_outside_their_range():
    # ipywidgets would silently clamp it; the lesson's author should hear about it instead.
    with pytest.raises(ValueError, match=r"value must be in \[0, 1\], got 2"):
        widgets.slider("ε", 2, 0, 1, 0.1)
    with pytest.raises(ValueError, match=r"steps.*got 0"):
        widgets.int_slider("steps", 0, 1, 10)


# --------------------------------------------------------------------------- panel


def test_panel_renders_at_once_and_on_every_change():
    calls = []
    a = widgets.slider("a", 0.5, 0, 1, 0.1)
    kind = widgets.dropdown("kind", ["line", "bar"], "line")
    panel = widgets.Panel("demo", {"a": a, "kind": kind}, line_render(calls))
    assert calls == [{"a": 0.5, "kind": "line"}]
    first = panel.image.value
    assert bytes(first).startswith(PNG_MAGIC)
    assert panel.readout.value == "a = <b>0.50</b> (line)"
    assert "updated in" in panel.status.value and panel.error is None
    a.value = 0.9  # in plain Python the observers fire at once
    kind.value = "bar"
    assert calls[-2:] == [{"a": 0.9, "kind": "line"}, {"a": 0.9, "kind": "bar"}]
    assert panel.image.value != first and panel.readout.value == "a = <b>0.90</b> (bar)"
    assert panel.renders == 3 and panel.values() == {"a": 0.9, "kind": "bar"}


def test_panel_has_the_course_layout_and_css_classes():
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # e.g. a Layout trait ipywidgets does not know is dropped with a warning
        panel = widgets.Panel("demo", {"a": widgets.slider("a", 0.5, 0, 1, 0.1)}, line_render(), run_button="Go",
                              auto=False)
    header, controls, status, image, readout = panel.widget.children
    assert "<b" in header.value and "demo" in header.value
    assert "lessons-panel" in panel.widget._dom_classes
    assert "lessons-controls" in controls._dom_classes and panel.button in controls.children
    assert "lessons-status" in status._dom_classes and "lessons-image" in image._dom_classes
    assert "lessons-readout" in readout._dom_classes and "lessons-run" in panel.button._dom_classes
    assert "lessons-busy" not in panel.widget._dom_classes
    bundle = panel._repr_mimebundle_()
    assert bundle["application/vnd.jupyter.widget-view+json"]["model_id"] == panel.widget.model_id


def test_title_is_escaped():
    panel = widgets.Panel("<script>x</script>", {}, lambda: (None, "ok"))
    assert "<script>" not in panel.widget.children[0].value


def test_busy_indicator_is_up_while_rendering_and_down_after():
    seen = []
    holder = []

    def render(a):
        if holder:  # later renders: look at the panel from inside the render
            p = holder[0]
            seen.append(("lessons-busy" in p.widget._dom_classes, p.status.value, p.button.disabled))
        return None, f"{a}"

    a = widgets.slider("a", 0.5, 0, 1, 0.1)
    panel = widgets.Panel("demo", {"a": a}, render, run_button="Run")
    holder.append(panel)
    a.value = 0.7
    busy, status, disabled = seen[-1]
    assert busy and "working" in status and disabled
    assert "lessons-busy" not in panel.widget._dom_classes and not panel.button.disabled
    assert "updated in" in panel.status.value



def test_busy_line_is_plain_text_without_emoji():
    """Emoji (category "So", e.g. ⏳) render as empty boxes in a browser without an emoji font."""
    import re
    import unicodedata

    text = re.sub(r"<[^>]+>", "", widgets._BUSY)
    assert "working" in text
    symbols = [f"U+{ord(c):04X} {unicodedata.name(c, '?')}" for c in text if unicodedata.category(c) == "So"]
    assert not symbols, f"the busy line needs a font Debian's Chromium lacks: {symbols}"

def test_run_button_panel_waits_for_the_button_and_says_so():
    calls = []
    a = widgets.slider("a", 0.5, 0, 1, 0.1)
    panel = widgets.Panel("slow", {"a": a}, line_render(calls), auto=False, run_button="Run")
    assert len(calls) == 1  # the first view is drawn at once
    a.value = 0.2
    assert len(calls) == 1 and "press" in panel.status.value and "Run" in panel.status.value
    panel.button.click()
    assert len(calls) == 2 and calls[-1]["a"] == 0.2 and "updated in" in panel.status.value


def test_errors_are_shown_in_the_panel_then_cleared():
    def render(a):
        if a > 0.8:
            raise ValueError(f"a too large: {a}")
        return None, f"a = {a}"

    a = widgets.slider("a", 0.5, 0, 1, 0.1)
    panel = widgets.Panel("demo", {"a": a}, render)
    a.value = 0.9
    assert panel.error == "ValueError: a too large: 0.9"
    assert "ValueError: a too large: 0.9" in panel.status.value and "⚠" in panel.status.value
    assert "Traceback" in panel.traceback and "a too large" in panel.traceback
    assert "<details>" in panel.status.value  # the traceback is one click away, not swallowed
    assert "lessons-error" in panel.widget._dom_classes
    assert panel.readout.value == "a = 0.5"  # the last good view stays
    a.value = 0.3
    assert panel.error is None and panel.traceback is None
    assert "lessons-error" not in panel.widget._dom_classes and panel.readout.value == "a = 0.3"


def test_error_message_is_html_escaped():
    def render(a):
        if a > 0.5:
            raise ValueError("<b>bad</b>")
        return None, ""

    a = widgets.slider("a", 0.1, 0, 1, 0.1)
    panel = widgets.Panel("demo", {"a": a}, render)
    a.value = 0.9
    assert "<b>bad</b>" not in panel.status.value and "&lt;b&gt;bad&lt;/b&gt;" in panel.status.value


def test_a_broken_first_render_raises_unless_strict_is_off():
    def broken(a):
        raise KeyError("no such photo")

    with pytest.raises(RuntimeError, match="failed to render its first view: KeyError") as info:
        widgets.Panel("demo", {"a": widgets.slider("a", 0.1, 0, 1, 0.1)}, broken)
    assert isinstance(info.value.__cause__, KeyError)
    panel = widgets.Panel("demo", {"a": widgets.slider("a", 0.1, 0, 1, 0.1)}, broken, strict=False)
    assert panel.error.startswith("KeyError") and "lessons-error" in panel.widget._dom_classes


@pytest.mark.parametrize("result, message", [
    ("just text", "render must return \\(figure or None, readout_html\\), got str"),
    (("not a figure", "text"), "must return a matplotlib Figure or None first, got str"),
])
def test_render_returning_the_wrong_thing_is_reported(result, message):
    with pytest.raises(RuntimeError, match=message):
        widgets.Panel("demo", {}, lambda: result)


def test_bad_arguments_are_rejected():
    with pytest.raises(TypeError, match="render must be callable"):
        widgets.Panel("demo", {}, "not callable")
    with pytest.raises(TypeError, match="control 'a' must be an ipywidgets value widget, got int"):
        widgets.Panel("demo", {"a": 3}, lambda a: (None, ""))
    with pytest.raises(TypeError, match="controls must be a mapping"):
        widgets.Panel("demo", [widgets.slider("a", 0.1, 0, 1, 0.1)], lambda a: (None, ""))
    with pytest.raises(ValueError, match="auto=False needs a run_button"):
        widgets.Panel("demo", {}, lambda: (None, ""), auto=False)


def test_pyplot_figures_are_closed_after_rendering():
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    def render(a):
        fig = plt.figure(figsize=(1, 1))
        fig.gca().plot([0, a])
        return fig, ""

    before = set(plt.get_fignums())
    a = widgets.slider("a", 0.1, 0, 1, 0.1)
    widgets.Panel("demo", {"a": a}, render)
    a.value = 0.5
    assert set(plt.get_fignums()) == before


def test_existing_call_style_of_lesson_00_still_works():
    """The API the lessons were written against: positional title/controls/render, W widgets."""
    toggle = W.ToggleButtons(options=["a", "b"], value="a")
    panel = widgets.Panel("t", {"which": toggle}, lambda which: (None, which), auto=True, run_button=None, dpi=60)
    toggle.value = "b"
    assert panel.readout.value == "b" and panel.dpi == 60 and panel.button is None
