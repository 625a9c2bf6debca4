"""The notebooks as apps for a lecture-hall projector: Voilà, code hidden, widgets live, offline.

Voilà runs as ``make demo`` runs it: from the repository root (``voila.json`` applies: no
JupyterLab-only extensions, tracebacks shown) with the course's template ``blind-spots``
(``share/jupyter/voila/templates/blind-spots``: Voilà's "lab" template minus the Font Awesome
stylesheets it would fetch from cdn.jsdelivr.net; Voilà's own bundle carries the icons).

Fails on console errors and on any request that leaves 127.0.0.1, so a CDN link creeping
back in is caught here rather than in a lecture hall without network.
"""

from __future__ import annotations

import time

import browserlib as B
import nbformat
import pytest

NOTEBOOKS = B.notebook_paths()
# One notebook is enough to prove the app mode; the first lesson is the one always present.
VOILA_NOTEBOOK = NOTEBOOKS[0] if NOTEBOOKS else None
CHANGE_TIMEOUT = 180


def code_lines(path) -> list[str]:
    """Distinctive source lines of the notebook's code cells (long enough not to occur by chance)."""
    nb = nbformat.read(path, as_version=4)
    lines = []
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        for line in cell.source.splitlines():
            line = line.strip()
            if len(line) >= 25 and not line.startswith("#") and ("=" in line or "(" in line):
                lines.append(line)
    return lines


@pytest.mark.browser
def test_voila_notebook_list_is_offline_clean(voila, browser_context):
    page = browser_context.new_page()
    log = B.PageLog().attach(page)
    try:
        page.goto(voila.url("/"), wait_until="load", timeout=120_000)
        page.wait_for_load_state("networkidle", timeout=60_000)
        text = page.inner_text("body")
        for path in NOTEBOOKS:
            page.get_by_text(path.name).first.wait_for(timeout=60_000)
        assert not log.external, f"the notebook list fetched from outside 127.0.0.1: {log.external}"
        assert not log.errors, "JavaScript console errors on the notebook list:\n" + "\n".join(log.errors)
        assert not B.icon_problems(page), B.icon_problems(page)
        assert "Voilà requires JavaScript" not in text
    finally:
        page.close()


@pytest.mark.browser
@pytest.mark.skipif(VOILA_NOTEBOOK is None, reason="no notebooks/NN_*.ipynb yet")
def test_voila_app_hides_code_and_keeps_widgets_live(voila, browser_context, shots):
    path = VOILA_NOTEBOOK
    page = browser_context.new_page()
    log = B.PageLog().attach(page)
    try:
        start = time.monotonic()
        # Voilà runs the whole notebook before it sends the page (no progressive rendering).
        page.goto(voila.url(f"/voila/render/{path.name}"), wait_until="load", timeout=(B.run_timeout() + 60) * 1000)
        page.wait_for_selector(".lessons-panel", timeout=120_000)
        widgets = B.wait_for_widgets(page, 120)
        loaded = time.monotonic() - start
        assert widgets["ready"] and not widgets["failed"], f"widgets did not render in Voilà: {widgets}"
        assert not any(p["error"] for p in widgets["panels"]), widgets["panels"]
        assert all(p["image"] or p["readout"] for p in widgets["panels"]), widgets["panels"]

        # Code hidden: no code inputs, and no line of the notebook's code anywhere on the page.
        assert page.locator(".jp-CodeCell .jp-InputArea, .jp-InputArea-editor, .cm-editor").count() == 0
        body = page.inner_text("body")
        shown = [line for line in code_lines(path) if line in body]
        assert not shown, f"Voilà shows source code: {shown[:5]}"
        title = nbformat.read(path, as_version=4).cells[0].source.splitlines()[0].lstrip("# ").strip()
        assert title and title in body, f"the notebook's title {title!r} is not on the page"

        # Widgets live: a control still reaches the kernel and comes back with a new view.
        panel = page.locator(".lessons-panel").first
        panel.evaluate("p => p.scrollIntoView({block: 'start'})")
        before = B.panel_signature(panel)
        action = B.operate_first_control(panel)
        after = B.wait_for_change(panel, before, CHANGE_TIMEOUT)
        assert not after["error"], f"after '{action}' the panel shows an error: {after['status']}"
        assert after["src"] != before["src"] or after["readout"] != before["readout"], (
            f"'{action}' did not change the figure or readout in Voilà within {CHANGE_TIMEOUT} s")

        page.wait_for_timeout(300)
        shot = shots / f"voila-{path.stem}.png"
        page.screenshot(path=str(shot))
        print(f"Voilà {path.name}: page with live widgets in {loaded:.1f} s; {action}; screenshot {shot}")
        assert not B.icon_problems(page), B.icon_problems(page)
        assert not log.external, f"Voilà fetched from outside 127.0.0.1 (breaks offline): {log.external}"
        assert not log.errors, "JavaScript console errors in Voilà:\n" + "\n".join(log.errors)
    finally:
        page.close()
