"""Plumbing for the real-browser tests: servers we start, and what we do in the page.

Servers: JupyterLab or Voilà from this same Python (``sys.executable -m ...``) on 127.0.0.1 at
a free port, over a temporary copy of ``notebooks/``, with Jupyter's per-user folders moved
into a temporary home. Page: console errors, widget rendering, operating a
``lessons.widgets.Panel`` control and reading what the panel shows.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

import pytest

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
NOTEBOOK_DIR = REPO / "notebooks"
CHROMIUM = "/usr/bin/chromium"
# The flags DESIGN.md settled on: headless, no sandbox (we may be root in a container), no GPU,
# and nothing that phones home (updates, sync, first-run pages).
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
VOILA_TEMPLATE = "blind-spots"  # share/jupyter/voila/templates/blind-spots
VIEWPORT = {"width": 1280, "height": 900}
SERVER_START_TIMEOUT = 180  # s; a cold JupyterLab on a busy 2-core machine can take a minute
INSTALL_HINT = (
    "install Debian's Chromium with `sudo apt-get install -y chromium` "
    "(the tests drive /usr/bin/chromium through Playwright; never `playwright install`)"
)


def notebook_paths() -> list[Path]:
    """The lesson notebooks that exist now (``notebooks/NN_*.ipynb``), optionally filtered."""
    paths = sorted(NOTEBOOK_DIR.glob("[0-9][0-9]_*.ipynb"))
    wanted = os.environ.get("BLIND_SPOTS_NOTEBOOKS", "").strip()
    if wanted:
        keep = {w.strip().removesuffix(".ipynb") for w in wanted.split(",") if w.strip()}
        paths = [p for p in paths if p.stem in keep or p.stem[:2] in keep]
    return paths


def run_timeout() -> float:
    return float(os.environ.get("BLIND_SPOTS_RUN_TIMEOUT", "600"))


def screenshot_dir(kind: str = "browser") -> Path:
    """Where screenshots go: ``screenshots/browser`` (JupyterLab, Voilà) or ``screenshots/site``.

    ``BLIND_SPOTS_SCREENSHOTS`` replaces the browser folder; the site's go into its ``site/``.
    """
    custom = os.environ.get("BLIND_SPOTS_SCREENSHOTS")
    if custom:
        return Path(custom) if kind == "browser" else Path(custom) / kind
    return REPO / "screenshots" / kind


# --------------------------------------------------------------------------- browser availability


def browser_problem() -> str | None:
    """Why the browser tests cannot run here, or ``None`` when they can."""
    if not os.access(CHROMIUM, os.X_OK):
        return f"{CHROMIUM} is missing: {INSTALL_HINT}"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the Python package `playwright` is missing: pip install -c constraints.txt -e '.[test]'"
    return None


def require_browser() -> None:
    """Skip (or, with BLIND_SPOTS_REQUIRE_BROWSER=1, fail) when no browser is available."""
    require(browser_problem())


def require(problem: str | None) -> None:
    """Skip the test because of ``problem``, or fail under BLIND_SPOTS_REQUIRE_BROWSER=1 (CI)."""
    if problem is None:
        return
    if os.environ.get("BLIND_SPOTS_REQUIRE_BROWSER") == "1":
        pytest.fail(f"BLIND_SPOTS_REQUIRE_BROWSER=1 but {problem}", pytrace=False)
    pytest.skip(problem)


# --------------------------------------------------------------------------- servers


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Server:
    """A Jupyter server process we started: base URL, token, root folder and its log."""

    name: str
    proc: subprocess.Popen
    base: str
    token: str
    root: Path
    log: Path
    started_in: float = 0.0
    extra: dict = field(default_factory=dict)

    def url(self, path: str = "") -> str:
        sep = "&" if "?" in path else "?"
        return f"{self.base}{path}{sep}token={self.token}"

    def api(self, method: str, path: str, timeout: float = 30) -> object:
        req = urllib.request.Request(f"{self.base}{path}", method=method,
                                     headers={"Authorization": f"token {self.token}"})
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            body = resp.read()
        return json.loads(body) if body else None

    def log_tail(self, n: int = 60) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return "(no log)"

    def shutdown_kernels(self) -> None:
        """Delete every session (and so its kernel): a finished notebook frees its memory."""
        try:
            for session in self.api("GET", "/api/sessions"):
                self.api("DELETE", f"/api/sessions/{session['id']}")
        except (urllib.error.URLError, OSError, ValueError):
            pass


def _isolated_env(home: Path) -> dict[str, str]:
    """The test's environment, with Jupyter's per-user folders moved into ``home``.

    A learner's own settings, workspaces or kernels must not change what the test sees, and
    the test must not leave anything in theirs. ``LESSONS_CACHE`` and ``LESSONS_DEVICE`` pass
    through to the kernels on purpose (warm cache, chosen device).
    """
    env = dict(os.environ)
    for var, sub in [
        ("JUPYTER_CONFIG_DIR", "config"),
        ("JUPYTER_DATA_DIR", "data"),
        ("JUPYTER_RUNTIME_DIR", "runtime"),
        ("JUPYTERLAB_SETTINGS_DIR", "lab-user-settings"),
        ("JUPYTERLAB_WORKSPACES_DIR", "lab-workspaces"),
        ("IPYTHONDIR", "ipython"),
    ]:
        path = home / sub
        path.mkdir(parents=True, exist_ok=True)
        env[var] = str(path)
    env.pop("JUPYTER_PATH", None)
    env.pop("JUPYTER_TOKEN", None)
    env["PYTHONUNBUFFERED"] = "1"
    # Matplotlib must not try to open windows from the server process; kernels use inline.
    env.pop("MPLBACKEND", None)
    return env


def copy_notebooks(dest: Path) -> Path:
    """Copy ``notebooks/`` (the lesson files and anything beside them) to ``dest``."""
    shutil.copytree(NOTEBOOK_DIR, dest, ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"))
    return dest


def start_server(name: str, argv: list[str], *, root: Path, home: Path, port: int, token: str,
                 ready_path: str, cwd: Path | None = None, env: dict[str, str] | None = None) -> Server:
    """Start a Jupyter-family server and wait until ``ready_path`` answers 200.

    It runs in ``cwd`` (default: ``root``) with the isolated environment plus ``env``.
    """
    log = home / f"{name}.log"
    fh = open(log, "wb")
    full_env = {**_isolated_env(home), **(env or {})}
    proc = subprocess.Popen(argv, cwd=cwd or root, env=full_env, stdout=fh, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL, start_new_session=True)
    fh.close()
    server = Server(name, proc, f"http://127.0.0.1:{port}", token, root, log)
    start = time.monotonic()
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"{name} exited with code {proc.returncode} before answering:\n{server.log_tail()}")
        try:
            req = urllib.request.Request(f"{server.base}{ready_path}", headers={"Authorization": f"token {token}"})
            with urllib.request.urlopen(req, timeout=10) as resp:
                if resp.status == 200:
                    break
        except (urllib.error.URLError, OSError):
            pass
        if time.monotonic() - start > SERVER_START_TIMEOUT:
            stop_server(server)
            raise RuntimeError(f"{name} did not answer within {SERVER_START_TIMEOUT} s:\n{server.log_tail()}")
        time.sleep(0.5)
    server.started_in = time.monotonic() - start
    return server


def stop_server(server: Server) -> None:
    """Stop the server we started (its whole process group: kernels included)."""
    if server.proc.poll() is None:
        server.shutdown_kernels()
        try:
            os.killpg(server.proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        try:
            server.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(server.proc.pid, signal.SIGKILL)
            server.proc.wait(timeout=10)


def root_flags() -> list[str]:
    # Jupyter refuses to run as root unless told; containers and CI are often root.
    return ["--allow-root"] if hasattr(os, "geteuid") and os.geteuid() == 0 else []




# --------------------------------------------------------------------------- in the page

# Console errors we accept, each with the reason. Keep this list short: every entry hides a
# class of real failures. (Empty so far: nothing in JupyterLab or Voilà logs an error when
# the notebooks run correctly offline.)
ALLOWED_CONSOLE_ERRORS: list[tuple[re.Pattern, str]] = []

WIDGET_MIME = "application/vnd.jupyter.widget-view+json"


@dataclass
class PageLog:
    """Console errors, uncaught exceptions and requests that left 127.0.0.1."""

    errors: list[str] = field(default_factory=list)
    allowed: list[str] = field(default_factory=list)
    external: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)

    def attach(self, page) -> PageLog:
        page.on("console", self._on_console)
        page.on("pageerror", lambda exc: self.errors.append(f"uncaught exception: {exc}"))
        page.on("request", self._on_request)
        page.on("requestfailed", lambda req: self.failed.append(f"{req.url} ({req.failure})"))
        return self

    def _on_console(self, msg) -> None:
        if msg.type != "error":
            return
        loc = msg.location or {}
        text = f"{msg.text}  [{loc.get('url', '?')}:{loc.get('lineNumber', '?')}]"
        for pattern, _why in ALLOWED_CONSOLE_ERRORS:
            if pattern.search(text):
                self.allowed.append(text)
                return
        self.errors.append(text)

    def _on_request(self, req) -> None:
        host = urlparse(req.url).hostname
        if req.url.startswith(("data:", "blob:", "about:")) or host in ("127.0.0.1", "localhost"):
            return
        self.external.append(req.url)


def wait_for_widgets(page, timeout: float, root: str = "body") -> dict:
    """Wait until every widget output under ``root`` has rendered; return what was found.

    ipywidgets' renderer writes "Loading widget..." while it waits for the model and
    "Error displaying widget" when it gives up; a ``lessons.widgets.Panel`` is done when it
    is not busy and shows an image or a readout.
    """
    js = """([root, mime]) => {
      const outs = [...document.querySelectorAll(`${root} [data-mime-type="${mime}"]`)];
      const views = [...document.querySelectorAll(`${root} .widget-vbox, ${root} .widget-hbox, ${root} .widget-box`)];
      const text = el => (el.textContent || '').trim();
      const panels = [...document.querySelectorAll(`${root} .lessons-panel`)].map(p => {
        const img = p.querySelector('.lessons-image');
        const readout = p.querySelector('.lessons-readout');
        return {busy: p.classList.contains('lessons-busy'), error: p.classList.contains('lessons-error'),
                status: text(p.querySelector('.lessons-status') || p),
                image: !!(img && img.complete && img.naturalWidth > 0),
                readout: readout ? text(readout) : ''};
      });
      return {
        outputs: outs.length,
        views: views.length,
        loading: outs.filter(o => text(o).startsWith('Loading widget')).length,
        failed: outs.filter(o => text(o).includes('Error displaying widget')).map(text),
        panels,
      };
    }"""
    deadline = time.monotonic() + timeout
    while True:
        state = page.evaluate(js, [root, WIDGET_MIME])
        ready = (state["loading"] == 0 and not state["failed"]
                 and all(not p["busy"] and (p["image"] or p["readout"] or p["error"]) for p in state["panels"]))
        if ready or state["failed"] or time.monotonic() > deadline:
            state["ready"] = ready
            return state
        time.sleep(0.5)


def panel_signature(panel) -> dict:
    """What a panel shows: its image ``src`` (a fresh blob URL on every new figure) and readout."""
    return panel.evaluate("""p => {
      const img = p.querySelector('.lessons-image');
      const readout = p.querySelector('.lessons-readout');
      return {src: img ? img.getAttribute('src') : null,
              readout: readout ? (readout.textContent || '').trim() : '',
              busy: p.classList.contains('lessons-busy'),
              error: p.classList.contains('lessons-error'),
              status: (p.querySelector('.lessons-status') || p).textContent.trim()};
    }""")


def operate_first_control(panel) -> str:
    """Change the first control of a panel the way a learner would; say what was done.

    Sliders: focus the handle and press an arrow key (noUiSlider's keyboard support, which
    sends the value like a release does). Dropdowns: pick the next option. Checkboxes:
    click. Toggle buttons: click one that is not selected. A panel whose controls need a run
    button (``lessons-run``) gets it clicked afterwards.
    """
    controls = panel.locator(".lessons-controls").first
    candidates = controls.locator(
        ".widget-slider, .widget-dropdown, .widget-checkbox, .widget-toggle-buttons, .widget-radio"
    )
    if candidates.count() == 0:
        run = panel.locator(".lessons-run")
        if run.count():
            run.first.click()
            return "clicked the run button"
        raise AssertionError("the first panel has no slider, dropdown, checkbox or button to operate")
    first = candidates.first
    classes = first.get_attribute("class") or ""
    label = (first.locator(".widget-label").first.text_content() or "").strip() if first.locator(".widget-label").count() else "?"
    if "widget-slider" in classes:
        readout = first.locator(".widget-readout").first
        before = (readout.text_content() or "").strip()
        handle = first.locator(".noUi-handle").first
        handle.focus()
        handle.press("ArrowRight")
        if (readout.text_content() or "").strip() == before:  # at its maximum: go the other way
            handle.press("ArrowLeft")
            handle.press("ArrowLeft")
        after = (readout.text_content() or "").strip()
        assert after != before, f"slider {label!r} did not move from {before}"
        done = f"moved slider {label!r} from {before} to {after}"
    elif "widget-dropdown" in classes:
        select = first.locator("select").first
        options = select.locator("option").all_text_contents()
        current = select.evaluate("s => s.selectedIndex")
        assert len(options) > 1, f"dropdown {label!r} has only {options}"
        target = (current + 1) % len(options)
        select.select_option(index=target)
        done = f"chose {options[target]!r} in dropdown {label!r} (was {options[current]!r})"
    elif "widget-checkbox" in classes:
        first.locator("input").first.click()
        done = f"toggled checkbox {label!r}"
    else:
        buttons = first.locator("button:not(.mod-active)")
        buttons.first.click()
        done = f"clicked {buttons.first.text_content()!r} in {label!r}"
    run = panel.locator(".lessons-run")
    if run.count():
        run.first.click()
        done += ", then clicked the run button"
    return done


def wait_for_change(panel, before: dict, timeout: float) -> dict:
    """Wait until the panel finished a render that changed its image or readout."""
    deadline = time.monotonic() + timeout
    while True:
        now = panel_signature(panel)
        changed = now["src"] != before["src"] or now["readout"] != before["readout"]
        if (changed and not now["busy"]) or now["error"] or time.monotonic() > deadline:
            return now
        time.sleep(0.3)


def icon_problems(page) -> list[str]:
    """Font Awesome icons (``<i class="fa ...">``) whose glyph has no font: offline CSS breakage."""
    return page.evaluate("""async () => {
      await document.fonts.ready;
      const bad = [];
      for (const i of document.querySelectorAll('i.fa, .fa')) {
        const before = getComputedStyle(i, '::before');
        const family = before.fontFamily || '';
        if (!before.content || before.content === 'none' || !/Font Awesome/i.test(family)) {
          bad.push(`${i.className}: no icon glyph (content ${before.content}, font ${family})`);
        } else if (!document.fonts.check(`${before.fontWeight} 16px ${family.split(',')[0]}`)) {
          bad.push(`${i.className}: font ${family} not loaded`);
        }
      }
      return bad;
    }""")
