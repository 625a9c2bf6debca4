"""Build the course's static website: every lesson executed, with its figures and widgets.

``make site`` runs this after warming the model cache. Output, in ``build/site/``:

- ``index.html``: the course's intro and lessons table (the README's table, plus any
  ``notebooks/NN_*.ipynb`` it does not list yet, titled from the notebook);
- one page per lesson, ``NN_name.html``: code, outputs and figures, and every widget in its
  final state (ipywidgets' embedded widget state: sliders and panels render as in the
  notebook, without a kernel; moving them recomputes nothing);
- ``instructors.html``: ``docs/instructors.md``;
- ``_static/``: the widget renderer (``@jupyter-widgets/html-manager``) and MathJax, taken
  from npm at build time (``tools/site/package.json``), so viewing the site fetches nothing
  from a CDN.

Pages are nbconvert's HTML export with the template ``tools/site/templates/blind-spots-site``
(JupyterLab's look). The notebooks are executed as copies under ``build/`` (the committed
ones stay without outputs), each kernel started in the copy of ``notebooks/`` as nbval does.
The site is written to a staging folder and moved into place at the end: a failed build
leaves the previous site as it was.

Run: ``python tools/build_site.py [--out build/site] [--jobs 2] [--notebooks 00,03]``.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import datetime as dt
import filecmp
import html
import json
import os
import re
import shutil
import subprocess
import sys
import time
import unicodedata
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
NOTEBOOK_DIR = REPO / "notebooks"
NOTEBOOK_GLOB = "[0-9][0-9]_*.ipynb"
SITE_DIR = Path(__file__).resolve().parent / "site"
TEMPLATE = "blind-spots-site"
NPM_DIR = REPO / "build" / "site-npm"
STATIC = "_static"
# What the pages load, from the npm packages in tools/site/package.json: (package folder,
# files, where under _static). embed.js is html-manager's standalone renderer for the standard
# widgets (no require.js); the font files are Font Awesome's, which its CSS loads relative to
# embed.js. tex-svg-full.js is MathJax 3 in one file (the version JupyterLab 4 uses), with SVG
# output so no font files are fetched.
ASSETS = [
    ("@jupyter-widgets/html-manager/dist", ["embed.js", "embed.js.LICENSE.txt", "*.woff2", "*.woff"], "html-manager"),
    ("mathjax/es5", ["tex-svg-full.js"], "mathjax"),
    ("mathjax", ["LICENSE"], "mathjax"),
]
EXECUTE_TIMEOUT = 900  # s per cell: a cold cache trains a model inside a cell (minutes on 2 cores)


class SiteError(RuntimeError):
    """A build that cannot go on; the message says what to do."""


@dataclass(frozen=True)
class Page:
    source: Path  # the notebook or markdown file it comes from
    name: str  # file name in the site, e.g. "01_imperceptible_perturbations.html"
    title: str
    number: str = ""  # "01" for lessons


# --------------------------------------------------------------------------- what goes in


def lesson_notebooks(notebook_dir: Path = NOTEBOOK_DIR, only: str = "") -> list[Path]:
    """``notebooks/NN_*.ipynb`` in order; ``only`` = "00,03" keeps those numbers or stems."""
    paths = sorted(notebook_dir.glob(NOTEBOOK_GLOB))
    keep = {w.strip().removesuffix(".ipynb") for w in only.split(",") if w.strip()}
    if keep:
        paths = [p for p in paths if p.stem in keep or p.stem[:2] in keep]
    return paths


def notebook_title(nb) -> str:
    """The first ``# `` heading of the first markdown cell (every lesson starts with its title)."""
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                if line.startswith("# "):
                    return line[2:].strip()
            break
    raise SiteError("a lesson notebook must start with a markdown cell '# Title'")


def markdown_title(text: str, default: str) -> str:
    m = re.search(r"^# (.+)$", text, flags=re.MULTILINE)
    return m.group(1).strip() if m else default


def readme_lessons(readme: str) -> tuple[list[str], dict[str, list[str]]]:
    """The README's lessons table: (header cells, {notebook stem: row cells}).

    The table is the first Markdown table under "## What the course teaches" whose rows name
    the notebook in backticks (``| 01 | `01_imperceptible_perturbations` | ... |``).
    """
    section = readme.split("## What the course teaches", 1)
    if len(section) < 2:
        return [], {}
    rows = [line.strip() for line in section[1].split("\n## ", 1)[0].splitlines() if line.strip().startswith("|")]
    if len(rows) < 3:
        return [], {}
    cells = [[c.strip() for c in row.strip("|").split("|")] for row in rows]
    header, body = cells[0], [c for c in cells[2:]]
    table = {}
    for row in body:
        m = next((re.fullmatch(r"`([0-9][0-9]_\w+)`", c) for c in row if re.fullmatch(r"`([0-9][0-9]_\w+)`", c)), None)
        if m:
            table[m.group(1)] = row
    return header, table


def lessons_table(pages: list[Page], readme: str) -> str:
    """A Markdown table of the lessons: the README's columns where it lists the notebook.

    A notebook the README does not list yet (a new lesson) still gets a row, titled from the
    notebook itself, so a new lesson appears on the site without editing anything.
    """
    header, rows = readme_lessons(readme)
    extra = [h for h in header if h not in ("#", "notebook")]
    lines = ["| # | lesson | " + " | ".join(extra) + " |" if extra else "| # | lesson |",
             "|" + "---|" * (2 + len(extra))]
    for page in pages:
        row = rows.get(page.source.stem)
        values = [row[header.index(h)] if row and header.index(h) < len(row) else "" for h in extra]
        link = f"[{page.title}]({page.name})"
        lines.append("| " + " | ".join([page.number, link, *values]) + " |")
    return "\n".join(lines)


def readme_intro(readme: str) -> tuple[str, str]:
    """The README's title and first paragraph."""
    title = markdown_title(readme, "Blind Spots")
    after = readme.split("\n", 1)[1] if "\n" in readme else ""
    paragraph = next((p.strip() for p in after.split("\n\n") if p.strip() and not p.lstrip().startswith(("#", "```"))), "")
    return title, paragraph


# --------------------------------------------------------------------------- links and anchors


def github_slug(text: str) -> str:
    """The anchor GitHub gives a heading: lower case, punctuation dropped, spaces to hyphens.

    ``docs/instructors.md`` links its sections that way (``#grading-with-lessonsgrade``),
    while nbconvert's own ids keep case and punctuation; the site uses GitHub's, so the same
    Markdown links work on the repository page and on the site.
    """
    text = unicodedata.normalize("NFKC", text).strip().lower()
    text = "".join(c for c in text if c in " -_" or unicodedata.category(c)[0] in "LN")
    return text.replace(" ", "-")


_HEADING = re.compile(r'<h([1-6]) id="([^"]*)">(.*?)<a class="anchor-link" href="#\2">', re.DOTALL)


def github_anchors(page_html: str) -> str:
    """Give every Markdown heading GitHub's id (and its ¶ link the same), numbering repeats."""
    seen: dict[str, int] = {}

    def fix(m: re.Match) -> str:
        text = html.unescape(re.sub(r"<[^>]+>", "", m.group(3)))
        slug = github_slug(text) or "section"
        n = seen.get(slug, 0)
        seen[slug] = n + 1
        slug = f"{slug}-{n}" if n else slug
        return f'<h{m.group(1)} id="{slug}">{m.group(3)}<a class="anchor-link" href="#{slug}">'

    return _HEADING.sub(fix, page_html)


def rewrite_links(page_html: str, targets: dict[str, str]) -> str:
    """Point links at repository files (``02_transferability.ipynb``, ``docs/instructors.md``,
    ``../README.md``) to their pages on the site, and make a lesson's name in inline code a
    link to it; ``targets`` maps file name -> page name."""
    def fix(m: re.Match) -> str:
        url, fragment = m.group(2), m.group(3) or ""
        if re.match(r"^[a-z][a-z0-9+.-]*:", url, flags=re.IGNORECASE) or not url:
            return m.group(0)  # external (https:, mailto:, data:) or a same-page #anchor
        name = targets.get(url.rsplit("/", 1)[-1])
        return f'{m.group(1)}"{name}{fragment}"' if name else m.group(0)

    page_html = re.sub(r'(href=)"([^"#]*)(#[^"]*)?"', fix, page_html)
    # Prose names the next lesson as code (`01_imperceptible_perturbations`): make it a link.
    lessons = {Path(k).stem: v for k, v in targets.items() if re.match(r"[0-9][0-9]_", k)}

    def link_code(m: re.Match) -> str:
        name = lessons.get(m.group(1).removesuffix(".ipynb"))
        inside_link = re.search(r"<a\s[^>]*>\s*$", m.string[max(0, m.start() - 300):m.start()])
        return f'<a href="{name}">{m.group(0)}</a>' if name and not inside_link else m.group(0)

    return re.sub(r"<code>([0-9][0-9]_\w+(?:\.ipynb)?)</code>", link_code, page_html)


# --------------------------------------------------------------------------- executing


def _kernel_manager():
    """A kernel from this very Python (as nbval's --nbval-current-env), never a user's kernelspec."""
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import KernelManager

    # With no kernel folders to search, "python3" is ipykernel's own spec: sys.executable.
    return KernelManager(kernel_name="python3", kernel_spec_manager=KernelSpecManager(kernel_dirs=[]))


def execute_notebook(src: Path, dest: Path, timeout: float = EXECUTE_TIMEOUT) -> float:
    """Execute ``src`` (its kernel started in ``src``'s folder) and write the result to ``dest``.

    Widget state is stored in the notebook's metadata (what the page's widgets render from).
    Returns the seconds it took. Raises ``SiteError`` naming the notebook and the failing cell.
    """
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import (
        CellExecutionError,
        CellTimeoutError,
        DeadKernelError,
    )

    nb = nbformat.read(src, as_version=4)
    client = NotebookClient(nb, km=_kernel_manager(), timeout=timeout, store_widget_state=True,
                            resources={"metadata": {"path": str(src.parent)}})
    start = time.monotonic()
    try:
        client.execute()
    except (CellExecutionError, CellTimeoutError, DeadKernelError) as err:
        plain = re.sub(r"\x1b\[[0-9;]*m", "", str(err))  # the traceback's terminal colours
        raise SiteError(f"{src.name} failed while executing for the site:\n{plain}") from None
    seconds = time.monotonic() - start
    _write_atomic(dest, nbformat.writes(nb))
    return seconds


def execute_all(paths: list[Path], workdir: Path, jobs: int = 2, timeout: float = EXECUTE_TIMEOUT,
                log=print) -> dict[str, Path]:
    """Execute copies of the notebooks under ``workdir``; return {stem: executed notebook}.

    The whole ``notebooks/`` folder is copied, so a notebook finds whatever lies beside it,
    and its kernel runs in that copy (the committed notebooks are never written to).
    ``jobs`` kernels run at once, each with one torch thread (as ``make test`` runs them).
    """
    src_dir = workdir / "notebooks"
    out_dir = workdir / "executed"
    shutil.rmtree(src_dir, ignore_errors=True)
    shutil.copytree(paths[0].parent, src_dir, ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"))
    out_dir.mkdir(parents=True, exist_ok=True)
    done: dict[str, Path] = {}
    failures = []
    env_before = os.environ.get("OMP_NUM_THREADS")
    if jobs > 1:
        os.environ["OMP_NUM_THREADS"] = "1"  # kernels inherit it: no oversubscribed cores
    try:
        with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
            futures = {pool.submit(_execute_in_subprocess, src_dir / p.name, out_dir / p.name, timeout): p for p in paths}
            for future in concurrent.futures.as_completed(futures):
                path = futures[future]
                try:
                    seconds = future.result()
                except SiteError as err:
                    failures.append(str(err))
                    log(f"  {path.name}: FAILED")
                else:
                    done[path.stem] = out_dir / path.name
                    log(f"  {path.name}: executed in {seconds:.0f} s")
    finally:
        if jobs > 1:
            if env_before is None:
                os.environ.pop("OMP_NUM_THREADS", None)
            else:
                os.environ["OMP_NUM_THREADS"] = env_before
    if failures:
        raise SiteError("\n\n".join(failures))
    return {p.stem: done[p.stem] for p in paths}


_RESULT = "build_site result: "


def _execute_in_subprocess(src: Path, dest: Path, timeout: float) -> float:
    """One notebook in its own Python process: nbclient's event loop does not share threads well.

    The child prints one line ``build_site result: {...}`` (its kernel may print too).
    """
    code = ("import json, sys; sys.path.insert(0, sys.argv[1]); import build_site as b; from pathlib import Path\n"
            "try:\n    r = {'seconds': b.execute_notebook(Path(sys.argv[2]), Path(sys.argv[3]), float(sys.argv[4]))}\n"
            "except b.SiteError as err:\n    r = {'error': str(err)}\n"
            f"print({_RESULT!r} + json.dumps(r), flush=True)")
    r = subprocess.run([sys.executable, "-c", code, str(Path(__file__).parent), str(src), str(dest), str(timeout)],
                       check=False, capture_output=True, text=True)
    lines = [line for line in r.stdout.splitlines() if line.startswith(_RESULT)]
    if not lines:
        raise SiteError(f"{src.name}: the executing process failed (exit code {r.returncode}):\n"
                        f"{(r.stderr or r.stdout)[-3000:]}")
    result = json.loads(lines[-1][len(_RESULT):])
    if "error" in result:
        raise SiteError(result["error"])
    return result["seconds"]


# --------------------------------------------------------------------------- assets


def vendor_assets(static_dir: Path, npm_dir: Path = NPM_DIR, log=print) -> None:
    """Install tools/site/package.json with ``npm ci`` (once per lock file) and copy the assets."""
    lock = SITE_DIR / "package-lock.json"
    installed = npm_dir / "package-lock.json"
    modules = npm_dir / "node_modules"
    if not (modules.is_dir() and installed.exists() and filecmp.cmp(lock, installed, shallow=False)):
        npm = shutil.which("npm")
        if npm is None:
            raise SiteError("make site needs npm (Node.js) once, to fetch the widget renderer and MathJax "
                            "from the npm registry: `sudo apt-get install -y npm` or https://nodejs.org")
        npm_dir.mkdir(parents=True, exist_ok=True)
        for name in ("package.json", "package-lock.json"):
            shutil.copy2(SITE_DIR / name, npm_dir / name)
        log(f"  npm ci in {npm_dir} (tools/site/package-lock.json)")
        r = subprocess.run([npm, "ci", "--ignore-scripts", "--no-audit", "--no-fund", "--loglevel=error"],
                           check=False, cwd=npm_dir, capture_output=True, text=True)
        if r.returncode != 0:
            installed.unlink(missing_ok=True)  # not installed: try again next time
            raise SiteError(f"npm ci failed in {npm_dir}:\n{(r.stderr or r.stdout)[-3000:]}")
    for folder, patterns, dest in ASSETS:
        src = modules / folder
        out = static_dir / dest
        out.mkdir(parents=True, exist_ok=True)
        for pattern in patterns:
            found = sorted(src.glob(pattern))
            if not found:
                raise SiteError(f"{src}/{pattern} is missing: is tools/site/package.json's version the one this expects?")
            for f in found:
                shutil.copy2(f, out / f.name)


def check_widget_versions() -> None:
    """html-manager 1.x renders the state of ipywidgets 8 (widget protocol 2); say so if that changes."""
    import ipywidgets

    wanted = json.loads((SITE_DIR / "package.json").read_text())["dependencies"]["@jupyter-widgets/html-manager"]
    if ipywidgets.__version__.split(".")[0] != "8" or not wanted.startswith("1."):
        raise SiteError(f"ipywidgets {ipywidgets.__version__} with @jupyter-widgets/html-manager {wanted}: "
                        "ipywidgets 8 needs html-manager 1.x; update tools/site/package.json (npm install --package-lock-only)")


# --------------------------------------------------------------------------- pages


def _exporter():
    from nbconvert import HTMLExporter

    # Not embed_images: it re-parses each inline HTML tag alone, so <kbd>Shift</kbd> came out as
    # "<kbd></kbd>Shift". Figures are outputs (data: URIs already); the browser test fails on
    # any image that does not load, should Markdown ever point at an image file.
    return HTMLExporter(template_name=TEMPLATE, extra_template_basedirs=[str(SITE_DIR / "templates")])


def render(nb, page: Page, nav: dict, targets: dict[str, str], exporter) -> str:
    resources = {"metadata": {"name": page.title}, "site": {**nav, "static": STATIC, "title": page.title}}
    body, _ = exporter.from_notebook_node(nb, resources=resources)
    return rewrite_links(github_anchors(body), targets)


def _markdown_notebook(text: str):
    import nbformat

    return nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell(text)])


def index_markdown(pages: list[Page], readme: str, built: str) -> str:
    title, intro = readme_intro(readme)
    return "\n\n".join([
        f"# {title}",
        intro,
        "## Lessons",
        lessons_table(pages, readme),
        ("Each page shows a lesson executed from start to end: its code, printed results, figures and "
         "widgets as they were when the last cell finished. The widgets are a snapshot: without a "
         "kernel, moving a slider recomputes nothing. To experiment, run the notebooks yourself "
         "(`make lab`, or Binder; see the repository's README)."),
        ("Instructors and teaching assistants: the [instructor guide](instructors.html) covers timing, "
         "exercises, student copies and grading."),
        f"*Built {built}.*",
    ])


def build(out: Path, *, notebooks: list[Path] | None = None, executed: dict[str, Path] | None = None,
          jobs: int = 2, timeout: float = EXECUTE_TIMEOUT, workdir: Path | None = None, log=print) -> list[Page]:
    """Build the whole site into ``out``; returns its pages. ``executed`` reuses executed notebooks."""
    import nbformat

    check_widget_versions()
    notebooks = lesson_notebooks() if notebooks is None else notebooks
    if not notebooks:
        raise SiteError(f"no lesson notebooks ({NOTEBOOK_GLOB}) in {NOTEBOOK_DIR}")
    workdir = workdir or out.parent / "site-work"
    if executed is None:
        log(f"executing {len(notebooks)} notebooks ({jobs} at a time) in {workdir}")
        executed = execute_all(notebooks, workdir, jobs=jobs, timeout=timeout, log=log)

    staging = out.parent / f".{out.name}.partial"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    vendor_assets(staging / STATIC, log=log)

    readme = (REPO / "README.md").read_text(encoding="utf-8")
    guide_md = (REPO / "docs" / "instructors.md").read_text(encoding="utf-8")
    lessons = []
    for path in notebooks:
        nb = nbformat.read(executed[path.stem], as_version=4)
        lessons.append(Page(path, f"{path.stem}.html", notebook_title(nb), path.stem[:2]))
    index = Page(REPO / "README.md", "index.html", markdown_title(readme, "Blind Spots"))
    guide = Page(REPO / "docs" / "instructors.md", "instructors.html", markdown_title(guide_md, "Instructor guide"))
    targets = {p.source.name: p.name for p in [*lessons, index, guide]}

    exporter = _exporter()
    built = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    base_nav = {"index": index.name, "guide": guide.name, "built": built}
    _write_atomic(staging / index.name, render(_markdown_notebook(index_markdown(lessons, readme, built)), index,
                                               {**base_nav, "kind": "index"}, targets, exporter))
    _write_atomic(staging / guide.name, render(_markdown_notebook(guide_md), guide, {**base_nav, "kind": "guide"},
                                               targets, exporter))
    for i, page in enumerate(lessons):
        nav = {**base_nav, "kind": "lesson",
               "prev": (lessons[i - 1].name, lessons[i - 1].title) if i > 0 else None,
               "next": (lessons[i + 1].name, lessons[i + 1].title) if i + 1 < len(lessons) else None}
        nb = nbformat.read(executed[page.source.stem], as_version=4)
        _write_atomic(staging / page.name, render(nb, page, nav, targets, exporter))
        log(f"  {page.name}")
    (staging / ".nojekyll").write_text("")  # GitHub Pages: serve _static/ as it is

    # Swap in the finished site; the old one goes only once the new one is complete.
    old = out.parent / f".{out.name}.old"
    shutil.rmtree(old, ignore_errors=True)
    if out.exists():
        out.rename(old)
    staging.rename(out)
    shutil.rmtree(old, ignore_errors=True)
    return [index, *lessons, guide]


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def folder_size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=REPO / "build" / "site", help="where the site goes (default build/site)")
    parser.add_argument("--jobs", type=int, default=2, help="notebooks executed at once (default 2)")
    parser.add_argument("--notebooks", default="", help="only these, by number or stem: 00,03 (default: all)")
    parser.add_argument("--timeout", type=float, default=EXECUTE_TIMEOUT, help="seconds allowed per cell")
    args = parser.parse_args(argv)
    start = time.monotonic()
    try:
        pages = build(args.out.resolve(), notebooks=lesson_notebooks(only=args.notebooks), jobs=args.jobs,
                      timeout=args.timeout)
    except SiteError as err:
        print(f"make site: {err}", file=sys.stderr)
        return 1
    size = folder_size(args.out)
    print(f"site: {len(pages)} pages in {args.out} ({size / 1e6:.1f} MB) in {time.monotonic() - start:.0f} s; "
          f"open {args.out / 'index.html'} or serve it: python -m http.server -d {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
