"""Fixtures for the real-browser tests: JupyterLab, Voilà and Debian's Chromium.

Servers run on 127.0.0.1 only, from the same Python environment as the tests, over a
*temporary copy* of ``notebooks/`` (the repository's notebooks are never executed in place or
saved into). The browser is Debian's ``/usr/bin/chromium`` driven by Playwright's Python
package (never ``playwright install``), with a fresh profile per session.

Without ``/usr/bin/chromium`` (or the ``playwright`` package) the tests skip and say how to
install it; with ``BLIND_SPOTS_REQUIRE_BROWSER=1`` (CI sets it) they fail instead.

Environment knobs:
    BLIND_SPOTS_SCREENSHOTS   where screenshots go (default ``<repo>/screenshots/browser``;
                              the static site's go to ``<repo>/screenshots/site``, or its ``site/``)
    BLIND_SPOTS_SITE          test this already built site (``make site``'s build/site) instead of
                              building one from freshly executed notebooks (test_site.py)
    BLIND_SPOTS_SITE_JOBS     notebooks executed at once when test_site.py builds the site
                              (default 1: under ``make test`` the other pytest worker has the other core)
    BLIND_SPOTS_NOTEBOOKS     comma-separated notebooks to test, by stem or number (default: all)
    BLIND_SPOTS_RUN_TIMEOUT   seconds allowed for one notebook's "Run All" (default 600)
"""

from __future__ import annotations

import secrets
import shutil
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))  # for `import browserlib` in any import mode

import browserlib as B  # noqa: E402

_SESSION_START = time.time()


@pytest.fixture(scope="session")
def lab(tmp_path_factory) -> B.Server:
    """JupyterLab on 127.0.0.1 over a temporary copy of the notebooks."""
    B.require_browser()
    home = tmp_path_factory.mktemp("jupyterlab")
    root = B.copy_notebooks(home / "notebooks")
    # Settings every learner gets by default, except: no news pop-up, no update check, and
    # every cell attached to the DOM so the test sees every output (see overrides.json).
    app_settings = home / "app-settings"
    app_settings.mkdir()
    shutil.copy(B.HERE / "overrides.json", app_settings / "overrides.json")
    port, token = B.free_port(), secrets.token_hex(16)
    argv = [
        sys.executable, "-m", "jupyter", "lab",
        "--no-browser",
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",
        f"--ServerApp.root_dir={root}",
        f"--IdentityProvider.token={token}",
        f"--LabApp.app_settings_dir={app_settings}",
        # window.jupyterapp lets the test read the notebook model (execution counts, error
        # outputs) instead of guessing from pixels; it changes nothing the learner sees.
        "--LabApp.expose_app_in_browser=True",
        *B.root_flags(),
    ]
    server = B.start_server("jupyterlab", argv, root=root, home=home, port=port, token=token,
                            ready_path="/api/status")
    yield server
    B.stop_server(server)


@pytest.fixture(scope="session")
def voila(tmp_path_factory) -> B.Server:
    """Voilà as ``make demo`` runs it, over a temporary copy of the notebooks.

    Run from the repository root (so ``voila.json`` applies) with the course's template
    ``blind-spots`` found through ``JUPYTER_PATH=<repo>/share/jupyter``. Voilà has no
    ``--allow-root`` (it is not a Jupyter server app and does not refuse root).
    """
    B.require_browser()
    home = tmp_path_factory.mktemp("voila")
    root = B.copy_notebooks(home / "notebooks")
    port, token = B.free_port(), secrets.token_hex(16)
    argv = [
        sys.executable, "-m", "voila", str(root),
        "--no-browser",
        f"--template={B.VOILA_TEMPLATE}",
        "--Voila.ip=127.0.0.1",
        f"--port={port}",
        "--Voila.port_retries=0",
        f"--Voila.token={token}",
    ]
    server = B.start_server("voila", argv, root=root, home=home, port=port, token=token, ready_path="/",
                            cwd=B.REPO, env={"JUPYTER_PATH": str(B.REPO / "share" / "jupyter")})
    yield server
    B.stop_server(server)


@pytest.fixture(scope="session")
def browser_context(tmp_path_factory):
    """Debian's Chromium with a fresh profile, driven by Playwright."""
    B.require_browser()
    from playwright.sync_api import sync_playwright

    profile = tmp_path_factory.mktemp("chromium-profile")
    with sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            str(profile), executable_path=B.CHROMIUM, headless=True, args=B.CHROMIUM_ARGS,
            viewport=B.VIEWPORT, device_scale_factor=1,
        )
        try:
            yield context
        finally:
            context.close()


@pytest.fixture(scope="session")
def shots() -> Path:
    """The folder screenshots go to (git-ignored ``screenshots/browser`` by default)."""
    d = B.screenshot_dir()
    d.mkdir(parents=True, exist_ok=True)
    return d


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    """Name the screenshots this run wrote, so a person can look at them."""
    for d in (B.screenshot_dir(), B.screenshot_dir("site")):
        if d.is_dir():
            files = sorted(f for f in d.glob("*.png") if f.stat().st_mtime >= _SESSION_START)
            if files:
                terminalreporter.write_sep("-", f"browser screenshots in {d}")
                for f in files:
                    terminalreporter.write_line(f"  {f.name}  {f.stat().st_size / 1024:.0f} KiB")
