"""The browser tests' own plumbing, without a browser: skip-or-fail, notebook selection, overrides."""

from __future__ import annotations

import json

import browserlib as B
import pytest


def test_missing_chromium_skips_with_how_to_install(monkeypatch):
    monkeypatch.setattr(B, "CHROMIUM", "/nonexistent/chromium")
    monkeypatch.delenv("BLIND_SPOTS_REQUIRE_BROWSER", raising=False)
    with pytest.raises(pytest.skip.Exception, match="apt-get install -y chromium"):
        B.require_browser()


def test_missing_chromium_fails_when_ci_requires_the_browser(monkeypatch):
    monkeypatch.setattr(B, "CHROMIUM", "/nonexistent/chromium")
    monkeypatch.setenv("BLIND_SPOTS_REQUIRE_BROWSER", "1")
    with pytest.raises(pytest.fail.Exception, match="BLIND_SPOTS_REQUIRE_BROWSER=1 but /nonexistent/chromium is missing"):
        B.require_browser()


def test_notebook_selection(monkeypatch):
    every = B.notebook_paths()
    assert every == sorted(B.NOTEBOOK_DIR.glob("[0-9][0-9]_*.ipynb")) and every
    first = every[0]
    monkeypatch.setenv("BLIND_SPOTS_NOTEBOOKS", f"{first.stem[:2]}, nothing-like-this")
    assert B.notebook_paths() == [first]


def test_overrides_silence_news_and_attach_every_cell():
    overrides = json.loads((B.HERE / "overrides.json").read_text())
    notification = overrides["@jupyterlab/apputils-extension:notification"]
    assert notification["fetchNews"] == "false" and notification["checkForUpdates"] is False
    assert overrides["@jupyterlab/notebook-extension:tracker"]["windowingMode"] == "none"


def test_voila_template_drops_only_external_links():
    template = B.REPO / "share" / "jupyter" / "voila" / "templates" / B.VOILA_TEMPLATE
    assert json.loads((template / "conf.json").read_text())["base_template"] == "lab"
    links = [line for line in (template / "page.html").read_text().splitlines() if "<link" in line]
    assert links and not [line for line in links if "://" in line], links
    config = json.loads((B.REPO / "voila.json").read_text())["VoilaConfiguration"]
    assert "@jupyter/nbgrader" in config["extension_denylist"]  # fails to load outside JupyterLab
