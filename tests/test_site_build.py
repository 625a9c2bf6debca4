"""The static site's builder (tools/build_site.py) without executing anything or a browser.

The browser test (tests/browser/test_site.py) builds and opens the real site; these check the
parts that decide what is on it: the lessons table, links and anchors, and that a page names
no CDN.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import nbformat
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))  # tools/ holds scripts, not a package

import build_site as bs  # noqa: E402  (after the sys.path line above)

README = (ROOT / "README.md").read_text(encoding="utf-8")
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def test_notebooks_are_found_by_glob_and_filtered_by_number():
    assert bs.lesson_notebooks() == NOTEBOOKS and NOTEBOOKS
    assert bs.lesson_notebooks(only="00") == [NOTEBOOKS[0]]


def test_lessons_table_follows_the_readme_and_adds_lessons_it_does_not_list(tmp_path):
    header, rows = bs.readme_lessons(README)
    assert header[:2] == ["#", "notebook"] and "you will" in header
    assert {p.stem for p in NOTEBOOKS} <= set(rows), "every lesson should be in the README's table"

    new = bs.Page(tmp_path / "07_a_new_lesson.ipynb", "07_a_new_lesson.html", "07 · A new lesson", "07")
    pages = [bs.Page(p, f"{p.stem}.html", f"title {p.stem}", p.stem[:2]) for p in NOTEBOOKS[:2]] + [new]
    table = bs.lessons_table(pages, README).splitlines()
    assert table[0] == "| # | lesson | you will | reproduces |"
    assert len(table) == 2 + len(pages)
    first = rows[NOTEBOOKS[0].stem]
    assert table[2] == f"| 00 | [title {NOTEBOOKS[0].stem}]({NOTEBOOKS[0].stem}.html) | {first[2]} | {first[3]} |"
    assert table[-1] == "| 07 | [07 · A new lesson](07_a_new_lesson.html) |  |  |"


def test_the_guides_contents_links_are_github_anchors_of_its_headings():
    guide = (ROOT / "docs" / "instructors.md").read_text(encoding="utf-8")
    headings = {bs.github_slug(h) for h in re.findall(r"^#+ (.+)$", guide, flags=re.MULTILINE)}
    links = re.findall(r"\]\(#([^)]+)\)", guide)
    assert links and not [a for a in links if a not in headings]
    assert bs.github_slug("Grading with `lessons.grade`") == "grading-with-lessonsgrade"


def test_heading_ids_and_links_are_rewritten():
    page = ('<h2 id="Grading-with-lessons.grade">Grading with <code>lessons.grade</code>'
            '<a class="anchor-link" href="#Grading-with-lessons.grade">¶</a></h2>'
            '<h2 id="Notes">Notes<a class="anchor-link" href="#Notes">¶</a></h2>'
            '<h3 id="Notes">Notes<a class="anchor-link" href="#Notes">¶</a></h3>')
    out = bs.github_anchors(page)
    assert 'id="grading-with-lessonsgrade"' in out and 'href="#grading-with-lessonsgrade"' in out
    assert 'id="notes"' in out and 'id="notes-1"' in out  # repeats numbered as GitHub does

    targets = {"02_transferability.ipynb": "02_transferability.html", "instructors.md": "instructors.html",
               "README.md": "index.html"}
    links = ('<a href="02_transferability.ipynb#fgsm">a</a> <a href="../docs/instructors.md">b</a> '
             '<a href="https://arxiv.org/abs/1312.6199">c</a> <a href="#local">d</a> <a href="../README.md">e</a>')
    assert bs.rewrite_links(links, targets) == (
        '<a href="02_transferability.html#fgsm">a</a> <a href="instructors.html">b</a> '
        '<a href="https://arxiv.org/abs/1312.6199">c</a> <a href="#local">d</a> <a href="index.html">e</a>')
    prose = "<p>Next: <code>02_transferability</code>, not <code>09_nothing</code> or <code>x02_transferability</code></p>"
    assert bs.rewrite_links(prose, targets) == (
        '<p>Next: <a href="02_transferability.html"><code>02_transferability</code></a>, '
        "not <code>09_nothing</code> or <code>x02_transferability</code></p>")
    linked = '<a href="02_transferability.ipynb"><code>02_transferability</code></a>'
    assert bs.rewrite_links(linked, targets) == '<a href="02_transferability.html"><code>02_transferability</code></a>'


def test_a_page_loads_its_scripts_from_the_site_not_a_cdn():
    """nbconvert's own template loads require.js, MathJax and the widget renderer from CDNs."""
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# T\n\n$x^2$ (<kbd>Shift</kbd>+<kbd>Enter</kbd>)"),
                                         nbformat.v4.new_code_cell("1")])
    nb.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {"version_major": 2, "version_minor": 0,
                                                                            "state": {}}}
    page = bs.Page(Path("x.ipynb"), "x.html", "T", "00")
    out = bs.render(nb, page, {"index": "index.html", "guide": "instructors.html", "kind": "lesson", "built": "now"},
                    {}, bs._exporter())
    loads = re.findall(r'<(?:script|link)[^>]*(?:src|href)="([^"]+)"', out)
    assert "_static/html-manager/embed.js" in loads and "_static/mathjax/tex-svg-full.js" in loads
    assert not [u for u in loads if "://" in u or u.startswith("//")], loads
    assert 'class="bs-nav bs-top"' in out and 'href="instructors.html"' in out
    assert "<kbd>Shift</kbd>+<kbd>Enter</kbd>" in out  # inline HTML kept as written


def test_the_pages_workflow_publishes_what_make_site_builds():
    workflow = yaml.safe_load((ROOT / ".github" / "workflows" / "pages.yml").read_text())
    steps = workflow["jobs"]["build"]["steps"]
    assert any(s.get("run") == "make site" for s in steps)
    upload = next(s for s in steps if str(s.get("uses", "")).startswith("actions/upload-pages-artifact"))
    assert upload["with"]["path"] == "build/site"
    assert "build/" in (ROOT / ".gitignore").read_text().split()


def test_execution_stores_widget_state_and_names_the_notebook_that_fails(tmp_path):
    """Two tiny notebooks through the real kernel path: one shows a slider, one raises."""
    src = tmp_path / "notebooks"
    src.mkdir()
    ok = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
        "import ipywidgets, os\nprint(os.path.basename(os.getcwd()))\nipywidgets.IntSlider(value=7, max=9)")])
    bad = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("raise ValueError('deliberate failure')")])
    nbformat.write(ok, src / "00_ok.ipynb")
    nbformat.write(bad, src / "01_bad.ipynb")
    try:
        bs.execute_all([src / "00_ok.ipynb", src / "01_bad.ipynb"], tmp_path / "work", jobs=2, timeout=120, log=lambda _: None)
    except bs.SiteError as err:
        message = str(err)
    else:
        raise AssertionError("a failing notebook did not fail the build")
    assert "01_bad.ipynb" in message and "ValueError: deliberate failure" in message and "00_ok" not in message
    done = nbformat.read(tmp_path / "work" / "executed" / "00_ok.ipynb", as_version=4)
    assert done.cells[0].outputs[0].text.strip() == "notebooks"  # the kernel ran in the copy of notebooks/
    state = done.metadata["widgets"]["application/vnd.jupyter.widget-state+json"]["state"]
    assert [m["state"]["value"] for m in state.values() if m["model_name"] == "IntSliderModel"] == [7]
    assert not (tmp_path / "work" / "executed" / "01_bad.ipynb").exists()
    assert not [c for c in nbformat.read(src / "00_ok.ipynb", as_version=4).cells if c.outputs]  # source untouched
