"""Every lesson notebook, as a learner meets it: JupyterLab in a real Chromium.

For each ``notebooks/NN_*.ipynb`` (whatever exists): open it in JupyterLab, wait for the
kernel's first ``kernel_info_reply`` on the websocket, Run All from the menu, wait for every
cell and every widget, then operate one control of the first ``lessons.widgets.Panel`` and
check that its figure or readout really changed. Fails on any error output, on a panel
showing an error, on JavaScript console errors, and on requests that leave 127.0.0.1 (the
course must work offline). Leaves one screenshot per notebook in ``screenshots/browser/``.

Run: ``make browser`` or ``python -m pytest tests/browser -m browser``; pick notebooks with
``BLIND_SPOTS_NOTEBOOKS=00,03``.
"""

from __future__ import annotations

import time

import browserlib as B
import nbformat
import pytest

NOTEBOOKS = B.notebook_paths()
WIDGET_TIMEOUT = 120  # s, for widgets to render once the cells are done
CHANGE_TIMEOUT = 180  # s, for one re-render after operating a control (slow renders, busy CPU)

# What the notebook model says about each code cell, plus the kernel's status. Error outputs
# are read from the model (output_type "error"): in the DOM, JupyterLab renders tracebacks and
# plain stderr text with the same mime type (application/vnd.jupyter.stderr), so only the
# model tells an error from a warning reliably. A traceback printed to stderr counts too.
_STATE_JS = """() => {
  const app = window.jupyterapp;
  const w = app && app.shell.currentWidget;
  if (!w || !w.content || !w.content.model || !w.sessionContext) return null;
  const m = w.content.model, cells = [];
  for (let i = 0; i < m.cells.length; i++) {
    const c = m.cells.get(i);
    if (c.type !== 'code') continue;
    const outs = [];
    for (let j = 0; j < c.outputs.length; j++) outs.push(c.outputs.get(j).toJSON());
    const text = o => [].concat(o.text || '').join('');
    cells.push({
      index: i,
      empty: !c.sharedModel.getSource().trim(),
      count: c.executionCount,
      errors: outs.filter(o => o.output_type === 'error')
                  .map(o => `${o.ename}: ${o.evalue}\\n${(o.traceback || []).join('\\n').slice(-1500)}`),
      stderr_tracebacks: outs.filter(o => o.output_type === 'stream' && o.name === 'stderr'
                                          && /Traceback \\(most recent call last\\)/.test(text(o)))
                             .map(o => text(o).slice(-1500)),
    });
  }
  // Queued and running cells both show [*]; the first of them is the one running.
  const busy = w.content.widgets.map((cell, i) => [cell, i])
      .filter(([cell]) => cell.model.type === 'code'
                          && (cell.node.querySelector('.jp-InputPrompt') || {}).textContent?.includes('*'));
  const first = busy.length ? busy[0] : null;
  const k = w.sessionContext.session && w.sessionContext.session.kernel;
  return {cells, running: busy.length, kernel: k ? k.status : 'none', path: w.context.path,
          current: first ? `cell ${first[1]}: ${first[0].model.sharedModel.getSource().split('\\n')[0].slice(0, 100)}` : null};
}"""


def _strip_ansi(text: str) -> str:
    import re

    return re.sub(r"\x1b\[[0-9;]*m", "", text)


def open_notebook(page, lab: B.Server, name: str, timeout: float = 180) -> float:
    """Open ``name`` in a fresh workspace and wait for the kernel's first kernel_info_reply.

    The toolbar says "idle" before the kernel has answered anything, and a Run All sent then
    can be lost; the first ``kernel_info_reply`` on the kernel's websocket is the real sign.
    Returns the seconds it took.
    """
    replies: list[str] = []

    def on_ws(ws):
        if "/api/kernels/" not in ws.url:
            return

        def on_frame(payload):
            data = payload if isinstance(payload, (bytes, bytearray)) else payload.encode("utf-8", "replace")
            if b"kernel_info_reply" in data:
                replies.append(ws.url)

        ws.on("framereceived", on_frame)

    page.on("websocket", on_ws)
    start = time.monotonic()
    # A workspace per notebook, so JupyterLab does not reopen the previous notebook (and its kernel).
    stem = name.removesuffix(".ipynb")
    page.goto(lab.url(f"/lab/workspaces/test-{stem}/tree/{name}"), wait_until="domcontentloaded", timeout=timeout * 1000)
    page.wait_for_selector(".jp-NotebookPanel .jp-Notebook .jp-Cell", timeout=timeout * 1000)
    while not replies:
        if time.monotonic() - start > timeout:
            raise AssertionError(f"no kernel_info_reply within {timeout:.0f} s for {name}\n{lab.log_tail()}")
        page.wait_for_timeout(250)
    page.remove_listener("websocket", on_ws)
    return time.monotonic() - start


def run_all(page) -> None:
    """Run ▸ Run All Cells, through the menu bar as a learner would."""
    page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
    item = page.locator(".lm-Menu-item:not(.lm-mod-disabled) .lm-Menu-itemLabel").filter(has_text="Run All Cells")
    item.first.click()


def wait_until_executed(page, timeout: float) -> dict:
    """Poll the notebook model until every cell ran, or a cell failed and the run stopped."""
    deadline = time.monotonic() + timeout
    seen_busy = False
    while True:
        state = page.evaluate(_STATE_JS)
        if state is not None:
            code = [c for c in state["cells"] if not c["empty"]]
            executed = sum(c["count"] is not None for c in code)
            # A short notebook can run and fail between two polls, so the kernel is never seen
            # busy; an execution count is proof too (notebooks are opened with outputs cleared).
            seen_busy |= state["running"] > 0 or state["kernel"] == "busy" or executed > 0
            failed = any(c["errors"] for c in code)
            settled = state["running"] == 0 and state["kernel"] == "idle"
            if settled and (executed == len(code) or (failed and seen_busy)):
                state["executed"], state["code_cells"] = executed, len(code)
                return state
        if time.monotonic() > deadline:
            if state is None:
                raise AssertionError(f"the notebook never appeared in JupyterLab within {timeout:.0f} s")
            done = sum(c["count"] is not None for c in state["cells"] if not c["empty"])
            total = sum(not c["empty"] for c in state["cells"])
            raise AssertionError(
                f"Run All did not finish within {timeout:.0f} s (BLIND_SPOTS_RUN_TIMEOUT): {done} of {total} code "
                f"cells done, {state['running']} queued, kernel {state['kernel']}, still at {state['current']!r}. "
                "A cold model cache makes notebooks train first: run `make warm` (python -m lessons.warm) before.")
        time.sleep(1.0)


def check_no_errors(state: dict, name: str) -> None:
    problems = []
    for c in state["cells"]:
        for e in c["errors"] + c["stderr_tracebacks"]:
            problems.append(f"cell {c['index']}: {_strip_ansi(e)}")
    assert not problems, f"{name}: error output in JupyterLab:\n" + "\n\n".join(problems)
    missing = [c["index"] for c in state["cells"] if not c["empty"] and c["count"] is None]
    assert not missing, f"{name}: cells never ran: {missing}"


@pytest.mark.browser
def test_error_output_is_detected(lab, browser_context):
    """The detector can fail: a notebook whose cell raises is reported, with the error's name."""
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("print('before')"),
        nbformat.v4.new_code_cell("raise ValueError('deliberate failure for the browser test')"),
        nbformat.v4.new_code_cell("print('never runs')"),
    ], metadata={"kernelspec": {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}})
    name = "zz_deliberate_error.ipynb"
    nbformat.write(nb, lab.root / name)
    page = browser_context.new_page()
    try:
        open_notebook(page, lab, name)
        run_all(page)
        state = wait_until_executed(page, timeout=120)
        with pytest.raises(AssertionError, match="ValueError: deliberate failure"):
            check_no_errors(state, name)
        # ... and what the DOM shows for it: stderr mime type, with the traceback's text.
        shown = page.locator('.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]')
        assert "deliberate failure" in shown.first.inner_text()
    finally:
        page.close()
        lab.shutdown_kernels()


@pytest.mark.browser
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_in_jupyterlab(path, lab, browser_context, shots):
    name = path.name
    page = browser_context.new_page()
    log = B.PageLog().attach(page)
    timings = {}
    try:
        timings["open+kernel"] = open_notebook(page, lab, name)
        t = time.monotonic()
        run_all(page)
        state = wait_until_executed(page, timeout=B.run_timeout())
        timings["run all"] = time.monotonic() - t
        check_no_errors(state, name)

        t = time.monotonic()
        widgets = B.wait_for_widgets(page, WIDGET_TIMEOUT, root=".jp-NotebookPanel")
        timings["widgets"] = time.monotonic() - t
        assert not widgets["failed"], f"{name}: widgets failed to display: {widgets['failed']}"
        assert widgets["ready"], f"{name}: widgets still not rendered after {WIDGET_TIMEOUT} s: {widgets}"
        panels = widgets["panels"]
        assert panels, f"{name}: no lessons.widgets.Panel (.lessons-panel) on the page"
        errors = [p["status"] for p in panels if p["error"]]
        assert not errors, f"{name}: a panel shows an error: {errors}"

        panel = page.locator(".lessons-panel").first
        panel.evaluate("p => p.scrollIntoView({block: 'start'})")
        before = B.panel_signature(panel)
        t = time.monotonic()
        action = B.operate_first_control(panel)
        after = B.wait_for_change(panel, before, CHANGE_TIMEOUT)
        timings["operate"] = time.monotonic() - t
        assert not after["error"], f"{name}: after '{action}' the panel shows an error: {after['status']}"
        assert after["src"] != before["src"] or after["readout"] != before["readout"], (
            f"{name}: '{action}' did not change the figure or the readout within {CHANGE_TIMEOUT} s")
        assert not after["busy"], f"{name}: the panel is still busy after {CHANGE_TIMEOUT} s"

        panel.evaluate("p => p.scrollIntoView({block: 'start'})")
        page.wait_for_timeout(300)  # let the new image paint before the screenshot
        shot = shots / f"{path.stem}.png"
        page.screenshot(path=str(shot))
        print(f"{name}: {action}; screenshot {shot}; " + ", ".join(f"{k} {v:.1f} s" for k, v in timings.items()))
        if log.allowed:
            print(f"{name}: allowed console errors: {log.allowed}")

        assert not log.errors, f"{name}: JavaScript console errors:\n" + "\n".join(log.errors)
        assert not log.external, f"{name}: requests left 127.0.0.1 (the course must work offline): {log.external}"
    finally:
        page.close()
        lab.shutdown_kernels()
