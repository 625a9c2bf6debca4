"""The course's static website (``make site``) in Debian's Chromium: every page, offline.

The site is built once per session by ``tools/build_site.py`` (the code ``make site`` runs)
into a temporary folder, from copies of the notebooks it executes there, and served by
``python -m http.server`` on 127.0.0.1 — the way GitHub Pages serves static files. Then, on
the index, every lesson page and the instructor guide: no JavaScript console error, no
request that leaves 127.0.0.1 or fails, every figure loaded, every widget rendered from the
embedded state (panels with their image and readout, sliders showing the stored value, Font
Awesome icons drawn), math typeset where the notebook has math, every link and anchor
resolving. Screenshots go to ``screenshots/site/``.

``BLIND_SPOTS_SITE=build/site`` tests a site built already (``make site``) instead of
building one; ``BLIND_SPOTS_NOTEBOOKS`` narrows the lessons as for the other browser tests.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urljoin, urlparse

import browserlib as B
import nbformat
import pytest

sys.path.insert(0, str(B.REPO / "tools"))  # tools/ holds scripts, not a package
import build_site

pytestmark = pytest.mark.browser

NOTEBOOKS = B.notebook_paths()
WIDGET_TIMEOUT = 60  # s: the state is in the page, nothing runs
PAGE_TIMEOUT = 60_000  # ms


@pytest.fixture(scope="session")
def site(tmp_path_factory) -> Path:
    """A freshly built site (or the one BLIND_SPOTS_SITE names)."""
    B.require_browser()
    given = os.environ.get("BLIND_SPOTS_SITE", "").strip()
    if given:
        path = Path(given).resolve()
        if not (path / "index.html").is_file():
            pytest.fail(f"BLIND_SPOTS_SITE={given}: no index.html there; run `make site` first", pytrace=False)
        return path
    B.require(None if shutil.which("npm") else
              "npm is missing: the site vendors its widget renderer and MathJax from the npm registry "
              "(`sudo apt-get install -y npm`)")
    out = tmp_path_factory.mktemp("site-build") / "site"
    start = time.monotonic()
    build_site.build(out, notebooks=NOTEBOOKS, jobs=int(os.environ.get("BLIND_SPOTS_SITE_JOBS", "1")),
                     log=lambda line: print(line, flush=True))
    print(f"site built in {time.monotonic() - start:.0f} s ({build_site.folder_size(out) / 1e6:.1f} MB)")
    return out


@pytest.fixture(scope="session")
def server(site, tmp_path_factory) -> B.Server:
    home = tmp_path_factory.mktemp("site-server")
    port = B.free_port()
    argv = [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1", "--directory", str(site)]
    srv = B.start_server("site", argv, root=site, home=home, port=port, token="", ready_path="/index.html")
    yield srv
    B.stop_server(srv)


@pytest.fixture(scope="session")
def site_shots() -> Path:
    d = B.screenshot_dir("site")
    d.mkdir(parents=True, exist_ok=True)
    return d


def open_page(browser_context, server: B.Server, name: str):
    page = browser_context.new_page()
    log = B.PageLog().attach(page)
    page.goto(f"{server.base}/{name}", wait_until="load", timeout=PAGE_TIMEOUT)
    page.wait_for_load_state("networkidle", timeout=PAGE_TIMEOUT)
    return page, log


def check_clean(page, log: B.PageLog, name: str) -> None:
    """Nothing went wrong loading the page, and nothing came from outside 127.0.0.1."""
    assert not log.errors, f"{name}: JavaScript console errors:\n" + "\n".join(log.errors)
    assert not log.external, f"{name}: requests left 127.0.0.1 (the site must work offline): {log.external}"
    assert not log.failed, f"{name}: requests failed: {log.failed}"
    assert not B.icon_problems(page), f"{name}: {B.icon_problems(page)}"


def check_links(page, server: B.Server, name: str) -> list[str]:
    """Every link within the site leads to a page that exists, and every #anchor to an element."""
    hrefs = page.evaluate("() => [...document.querySelectorAll('a[href]')].map(a => a.getAttribute('href'))")
    here = f"{server.base}/{name}"
    problems, fetched = [], {}
    for href in hrefs:
        url = urljoin(here, href)
        parsed = urlparse(url)
        if parsed.hostname != "127.0.0.1":
            continue  # papers and documentation: links for the reader, not loaded by the page
        target = url.split("#")[0]
        if target not in fetched:
            try:
                with urllib.request.urlopen(target, timeout=30) as resp:
                    fetched[target] = resp.read().decode("utf-8", "replace")
            except (urllib.error.URLError, OSError) as err:
                fetched[target] = None
                problems.append(f"{href}: {err}")
        body = fetched[target]
        if parsed.fragment and body is not None and f'id="{parsed.fragment}"' not in body:
            problems.append(f"{href}: no element with id {parsed.fragment!r}")
    return problems


WIDGETS_JS = """() => {
  const text = el => (el.textContent || '').trim();
  const state = document.querySelector('script[type="application/vnd.jupyter.widget-state+json"]');
  const models = state ? Object.values(JSON.parse(state.textContent).state) : [];
  const sliderValues = models.filter(m => /SliderModel$/.test(m.model_name) && typeof m.state.value === 'number')
                             .map(m => m.state.value);
  const containers = [...document.querySelectorAll('div.jupyter-widgets')];
  return {
    containers: containers.length,
    empty: containers.filter(c => !c.querySelector('.lm-Widget, .jupyter-widgets-view, [class*="widget-"]')).length,
    sliders: [...document.querySelectorAll('.widget-slider')].map(s => ({
        readout: text(s.querySelector('.widget-readout') || s), handle: !!s.querySelector('.noUi-handle')})),
    sliderValues,
    images: [...document.images].map(i => ({ok: i.complete && i.naturalWidth > 0, src: (i.getAttribute('src') || '').slice(0, 40)})),
    math: document.querySelectorAll('mjx-container').length,
    mathErrors: document.querySelectorAll('mjx-merror').length,
  };
}"""


def test_index_lists_every_lesson(server, browser_context, site_shots):
    page, log = open_page(browser_context, server, "index.html")
    try:
        links = page.evaluate("() => [...document.querySelectorAll('table a')].map(a => a.getAttribute('href'))")
        expected = [f"{p.stem}.html" for p in NOTEBOOKS]
        # In order; a site from BLIND_SPOTS_SITE may hold more lessons than BLIND_SPOTS_NOTEBOOKS picks.
        assert [link for link in links if link in expected] == expected, f"the lessons table links {links}"
        assert len(links) == len(set(links)), f"a lesson is listed twice: {links}"
        for p in NOTEBOOKS:  # titled as the notebook is
            title = build_site.notebook_title(nbformat.read(p, as_version=4))
            assert page.locator("table a", has_text=title).count() == 1, f"no row titled {title!r}"
        assert page.locator("a[href='instructors.html']").count() >= 1, "no link to the instructor guide"
        problems = check_links(page, server, "index.html")
        assert not problems, problems
        page.screenshot(path=str(site_shots / "index.png"), full_page=True)
        check_clean(page, log, "index.html")
    finally:
        page.close()


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_lesson_page(path, site, server, browser_context, site_shots):
    name = f"{path.stem}.html"
    page, log = open_page(browser_context, server, name)
    try:
        widgets = B.wait_for_widgets(page, WIDGET_TIMEOUT)
        state = page.evaluate(WIDGETS_JS)
        assert state["containers"] and not state["empty"], f"{name}: widgets did not render from the embedded state: {state}"
        panels = widgets["panels"]
        assert panels, f"{name}: no lessons.widgets.Panel rendered"
        for p in panels:
            assert not p["busy"] and not p["error"], f"{name}: a panel shows {p['status']!r}"
            assert p["image"] or p["readout"], f"{name}: a panel has neither figure nor readout: {p}"

        # Sliders show the values stored in the widget state (what the notebook had at the end).
        stored = state["sliderValues"]
        for s in state["sliders"]:
            assert s["handle"] and s["readout"], f"{name}: a slider without handle or readout: {s}"
            shown = float(re.sub(r"[^0-9eE.+-]", "", s["readout"]))
            assert any(abs(shown - v) <= 1e-3 * max(1.0, abs(v)) for v in stored), (
                f"{name}: a slider shows {s['readout']} but the stored values are {stored}")

        bad = [i["src"] for i in state["images"] if not i["ok"]]
        assert state["images"] and not bad, f"{name}: figures not loaded: {bad} (of {len(state['images'])})"

        source = "\n".join(c.source for c in nbformat.read(path, as_version=4).cells if c.cell_type == "markdown")
        if re.search(r"\$[^$\n]+\$", source):
            assert state["math"] > 0 and not state["mathErrors"], \
                f"{name}: math not typeset: {state['math']} / errors {state['mathErrors']}"

        # Previous and next lesson: neighbours among the lesson pages this site has.
        lessons = sorted(p.name for p in site.glob("[0-9][0-9]_*.html"))
        i = lessons.index(name)
        nav = page.locator("nav.bs-top")
        assert nav.locator("a.bs-next").count() == (i + 1 < len(lessons)) and nav.locator("a.bs-prev").count() == (i > 0)
        if i + 1 < len(lessons):
            assert nav.locator("a.bs-next").get_attribute("href") == lessons[i + 1]
        if i > 0:
            assert nav.locator("a.bs-prev").get_attribute("href") == lessons[i - 1]
        problems = check_links(page, server, name)
        assert not problems, f"{name}: broken links: {problems}"

        page.screenshot(path=str(site_shots / f"{path.stem}.png"))
        page.locator(".lessons-panel").first.evaluate("p => p.scrollIntoView({block: 'start'})")
        page.wait_for_timeout(300)
        page.screenshot(path=str(site_shots / f"{path.stem}-panel.png"))
        print(f"{name}: {len(state['images'])} images, {len(panels)} panels, {len(state['sliders'])} sliders, "
              f"{state['math']} formulas; screenshots {path.stem}.png, {path.stem}-panel.png")
        check_clean(page, log, name)
    finally:
        page.close()


def test_instructor_guide_and_its_anchors(server, browser_context, site_shots):
    page, log = open_page(browser_context, server, "instructors.html")
    try:
        toc = page.evaluate("() => [...document.querySelectorAll('a[href^=\"#\"]:not(.anchor-link)')].map(a => a.getAttribute('href'))")
        assert len(toc) >= 5, f"the guide's table of contents links {toc}"
        missing = [h for h in toc if page.locator(f"[id='{h[1:]}']").count() == 0]
        assert not missing, f"anchors without a heading (GitHub-style ids expected): {missing}"
        assert page.locator("nav.bs-top a.bs-home").get_attribute("href") == "index.html"
        problems = check_links(page, server, "instructors.html")
        assert not problems, problems
        page.screenshot(path=str(site_shots / "instructors.png"))
        check_clean(page, log, "instructors.html")
    finally:
        page.close()
