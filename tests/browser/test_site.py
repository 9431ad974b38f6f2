"""The documentation site in a real browser: the site is built (mkdocs, strict) and served on
127.0.0.1, and Debian's Chromium, driven by Playwright, visits every page of it.

What a reader would notice is checked: pages load without console errors; every internal link and
`#anchor` resolves; the provider tabs switch and the choice is kept on the next page; the copy
buttons copy the code; the Mermaid diagrams render; search finds "MostAllocated"; and nothing is
requested from anywhere but 127.0.0.1 (the site must work in a room without network).

Needs: Chromium (/usr/bin/chromium; .ci/run installs Debian's `chromium`), Playwright (the `test`
extra; it never downloads a browser here, it is handed Chromium's path), MkDocs Material (the
`docs` extra) and the vendored Mermaid (`make docs-vendor`). A missing one skips, naming it.
"""
from __future__ import annotations

import contextlib
import functools
import http.server
import importlib.util
import os
import re
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urldefrag, urlsplit

import pytest

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("SCHEDULER_LAB_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
MERMAID_RENDERED = "document.querySelectorAll('pre.mermaid').length === 0"
COPY_BUTTON = "nav.md-code__nav > button[data-md-type='copy']"  # Material 9.8's copy button
# Material's script has mounted the page's components (copy buttons, linked tabs, ...): it adds the
# copy buttons in the same pass as it restores the chosen tab.
MATERIAL_MOUNTED = "document.querySelector('nav.md-code__nav') !== null"


def _mounted(page) -> None:
    page.wait_for_function(MATERIAL_MOUNTED, timeout=60_000)

playwright_api = pytest.importorskip(
    "playwright.sync_api", reason="needs Playwright (pip install -e '.[test]'; it uses the system Chromium)"
)

if not Path(CHROMIUM).is_file():
    pytest.skip(f"needs Chromium at {CHROMIUM} (apt-get install chromium)", allow_module_level=True)
if importlib.util.find_spec("mkdocs") is None or importlib.util.find_spec("material") is None:
    pytest.skip("needs MkDocs Material (pip install -e '.[docs]', or make docs)", allow_module_level=True)


def _vendored_mermaid() -> Path:
    spec = importlib.util.spec_from_file_location("vendor_mermaid", REPO / "scripts" / "vendor_mermaid.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.vendored()


# -- the site, served on loopback ---------------------------------------------------------------


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not _vendored_mermaid().is_file():
        pytest.skip(f"needs the vendored Mermaid ({_vendored_mermaid()}): make docs-vendor")
    out = tmp_path_factory.mktemp("site")
    mkdocs = Path(sys.executable).with_name("mkdocs")
    done = subprocess.run([str(mkdocs), "build", "--strict", "--site-dir", str(out)], cwd=REPO,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return out


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the base class's name
        pass


@pytest.fixture(scope="module")
def base_url(site: Path) -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(site)))
    thread = threading.Thread(target=server.serve_forever, name="docs-site", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()


@dataclass
class Browser:
    """One Chromium, and every request it tried to send anywhere but the site."""

    browser: object
    base_url: str
    outside: list[str] = field(default_factory=list)

    def context(self, **options: object):
        context = self.browser.new_context(**options)  # type: ignore[attr-defined]

        def guard(route) -> None:
            url = route.request.url
            if url.startswith(self.base_url) or url.startswith("data:") or url.startswith("blob:"):
                route.continue_()
            else:
                self.outside.append(url)
                route.abort()

        context.route("**/*", guard)
        return context


@pytest.fixture(scope="module")
def chromium(base_url: str) -> Iterator[Browser]:
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            # Nothing but 127.0.0.1 resolves, on top of the route guard: Chromium's own background
            # services have nowhere to go either.
            args=["--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"],
        )
        try:
            yield Browser(browser, base_url)
        finally:
            browser.close()


# -- one visit of every page ----------------------------------------------------------------------


@dataclass
class Page:
    url: str
    errors: list[str]
    ids: set[str]
    links: list[str]
    mermaid_expected: int
    mermaid_svgs: list[str]
    code_blocks: int
    copy_buttons: int


def _pages(site: Path) -> list[str]:
    """Site-relative URLs of every HTML page (directory URLs for index.html)."""
    urls = []
    for html in sorted(site.rglob("*.html")):
        rel = html.relative_to(site).as_posix()
        if rel.startswith("repo/"):
            continue  # repository files the workshop links to, published as they are
        urls.append(rel[: -len("index.html")] if rel.endswith("index.html") else rel)
    return urls


def _mermaid_shadow_html(page) -> list[str]:
    """The inside of every rendered diagram: Material draws each into a *closed* shadow root, which
    only the DevTools protocol (pierce) can read."""
    cdp = page.context.new_cdp_session(page)
    try:
        root = cdp.send("DOM.getDocument", {"depth": -1, "pierce": True})["root"]
        found: list[str] = []

        def walk(node: dict) -> None:
            attrs = node.get("attributes", [])
            classes = dict(zip(attrs[::2], attrs[1::2])).get("class", "").split()
            for shadow in node.get("shadowRoots", []):
                if "mermaid" in classes:
                    found.append(cdp.send("DOM.getOuterHTML", {"backendNodeId": shadow["backendNodeId"]})["outerHTML"])
                walk(shadow)
            for child in node.get("children", []):
                walk(child)

        walk(root)
        return found
    finally:
        cdp.detach()


@pytest.fixture(scope="module")
def crawl(chromium: Browser, site: Path) -> list[Page]:
    context = chromium.context()
    visited = []
    try:
        page = context.new_page()
        errors: list[str] = []
        page.on("console", lambda m: errors.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
        page.on("pageerror", lambda exc: errors.append(f"uncaught: {exc}"))
        # ERR_ABORTED: the next page's navigation cancelled a request (the favicon, typically); what
        # the guard refused is in chromium.outside.
        page.on("requestfailed", lambda r: None if "ERR_ABORTED" in (r.failure or "") else
                errors.append(f"request failed: {r.url} ({r.failure})"))
        for rel in _pages(site):
            errors.clear()
            html = (site / (rel + "index.html" if rel == "" or rel.endswith("/") else rel)).read_text(encoding="utf-8")
            expected = html.count('<pre class="mermaid">')
            response = page.goto(chromium.base_url + rel, wait_until="load")
            assert response is not None and response.ok, f"{rel}: HTTP {response.status if response else None}"
            if expected:
                page.wait_for_function(MERMAID_RENDERED, timeout=60_000)
            if "<pre" in html:  # copy buttons are added by script: give it time on a loaded machine
                with contextlib.suppress(playwright_api.TimeoutError):
                    page.wait_for_function(
                        f"document.querySelectorAll('div.highlight pre > code').length === "
                        f"document.querySelectorAll(`div.highlight pre > {COPY_BUTTON}`).length", timeout=30_000)
            svgs = _mermaid_shadow_html(page) if expected else []
            info = page.evaluate(
                """COPY_BUTTON => ({
                    ids: Array.from(document.querySelectorAll('[id], a[name]'), e => e.id || e.name),
                    links: Array.from(document.querySelectorAll('a[href]'), a => a.href),
                    code: document.querySelectorAll('div.highlight pre > code').length,
                    copy: document.querySelectorAll(`div.highlight pre > ${COPY_BUTTON}`).length,
                })""",
                COPY_BUTTON,
            )
            visited.append(Page(chromium.base_url + rel, list(errors), set(info["ids"]), info["links"],
                                expected, svgs, info["code"], info["copy"]))
    finally:
        context.close()
    return visited


def test_the_site_has_every_page_of_the_nav(crawl: list[Page]) -> None:
    urls = {p.url.split("/", 3)[3] for p in crawl}
    assert {"", "glossary/", "labs/", "labs/01-bring-up-the-lab/", "labs/14-cleanup/", "providers/"} <= urls


def test_every_page_loads_without_console_errors(crawl: list[Page]) -> None:
    assert {p.url: p.errors for p in crawl if p.errors} == {}


def test_every_internal_link_and_anchor_resolves(crawl: list[Page], site: Path, chromium: Browser) -> None:
    ids = {p.url: p.ids for p in crawl}
    broken = []
    checked = 0
    for page in crawl:
        for link in page.links:
            if not link.startswith(chromium.base_url):
                continue  # another site: not followed (and never fetched)
            target, anchor = urldefrag(link)
            path = unquote(urlsplit(target).path).lstrip("/")
            file = site / path
            if file.is_dir():
                file = file / "index.html"
            checked += 1
            if not file.is_file():
                broken.append(f"{page.url}: {link}: no such file {path}")
            elif anchor and file.suffix == ".html" and unquote(anchor) not in ids.get(target, set()):
                broken.append(f"{page.url}: {link}: no element with id {anchor!r}")
    assert broken == []
    assert checked > 100  # the nav alone links every page from every page


def test_nothing_is_requested_beyond_loopback(crawl: list[Page], chromium: Browser) -> None:
    assert crawl and chromium.outside == []


def test_every_mermaid_diagram_renders_an_svg(crawl: list[Page]) -> None:
    with_diagrams = [p for p in crawl if p.mermaid_expected]
    assert len(with_diagrams) >= 4  # home, workshop, step 08, glossary
    for page in with_diagrams:
        assert len(page.mermaid_svgs) == page.mermaid_expected, page.url
        for svg in page.mermaid_svgs:
            assert svg.startswith("<svg") and "<g" in svg, f"{page.url}: {svg[:200]}"
            assert "Syntax error" not in svg and 'class="error-icon"' not in svg, f"{page.url}: Mermaid could not parse it"


def test_every_code_block_has_a_copy_button(crawl: list[Page]) -> None:
    assert sum(p.code_blocks for p in crawl) > 100
    assert {p.url: (p.code_blocks, p.copy_buttons) for p in crawl if p.code_blocks != p.copy_buttons} == {}


# -- interactions ---------------------------------------------------------------------------------

# The selected tab of every set of tabs on the page that offers `provider`.
SELECTED_TABS = """provider => Array.from(document.querySelectorAll('.tabbed-set'), set => {
    const labels = Array.from(set.querySelectorAll(':scope > .tabbed-labels > label'), l => l.textContent.trim());
    const checked = set.querySelector(':scope > input:checked');
    return labels.includes(provider) ? set.querySelector(`label[for="${checked.id}"]`).textContent.trim() : null;
}).filter(selected => selected !== null)"""


def test_provider_tabs_switch_and_the_choice_is_kept_across_pages(chromium: Browser) -> None:
    context = chromium.context()
    try:
        page = context.new_page()
        page.goto(chromium.base_url + "labs/01-bring-up-the-lab/")
        _mounted(page)
        first = page.evaluate(SELECTED_TABS, "kind")
        assert first and set(first) == {"local"}  # nothing chosen yet: every set shows its first tab
        local_code = page.locator(".tabbed-set").first.locator(".tabbed-block").nth(0)
        kind_code = page.locator(".tabbed-set").first.locator(".tabbed-block").nth(1)
        assert local_code.is_visible() and not kind_code.is_visible()
        page.locator(".tabbed-set").first.locator("label", has_text=re.compile(r"^kind$")).click()
        assert kind_code.is_visible() and not local_code.is_visible()
        assert "make lab-up PROVIDER=kind" in kind_code.inner_text()
        assert set(page.evaluate(SELECTED_TABS, "kind")) == {"kind"}  # linked: every set on the page follows
        page.goto(chromium.base_url + "labs/10-build-and-ship-the-image/")
        _mounted(page)
        kept = page.evaluate(SELECTED_TABS, "kind")
        assert kept and set(kept) == {"kind"}, kept
        page.locator(".tabbed-set").nth(1).locator("label", has_text=re.compile(r"^local$")).click()
        page.goto(chromium.base_url + "labs/04-python-random-scheduler/")
        _mounted(page)
        back = page.evaluate(SELECTED_TABS, "kind")
        assert back and set(back) == {"local"}, back
    finally:
        context.close()


def test_the_copy_button_puts_the_code_on_the_clipboard(chromium: Browser, tmp_path_factory: pytest.TempPathFactory) -> None:
    context = chromium.context(permissions=["clipboard-read", "clipboard-write"])
    try:
        page = context.new_page()
        page.goto(chromium.base_url + "labs/02-a-pod-nobody-schedules/")
        _mounted(page)
        copied = []
        blocks = page.locator("div.highlight pre:visible")
        assert blocks.count() >= 3
        for n in range(3):
            block = blocks.nth(n)
            block.hover()
            block.locator(COPY_BUTTON).click()
            page.wait_for_function("t => navigator.clipboard.readText().then(c => c === t)",
                                   arg=block.locator("code").inner_text().rstrip("\n"), timeout=15_000)
            copied.append(page.evaluate("() => navigator.clipboard.readText()"))
        assert len(set(copied)) == 3 and all(copied)  # three different blocks, each copied whole
        # For a human to look at (pytest's basetemp, screenshots0/): not in .lab, which is the lab's.
        page.goto(chromium.base_url + "labs/01-bring-up-the-lab/")
        page.screenshot(path=str(tmp_path_factory.mktemp("screenshots") / "step-01.png"))
    finally:
        context.close()


def test_search_finds_mostallocated(chromium: Browser) -> None:
    context = chromium.context()
    try:
        page = context.new_page()
        page.goto(chromium.base_url)
        search = page.locator("input.md-search__input")  # in the header at desktop width
        search.click()
        # Keys typed before Material's search is up are lost: it says so once its worker answers.
        page.wait_for_function("document.querySelector('.md-search-result__meta').textContent.trim() !== ''",
                               timeout=60_000)
        search.press_sequentially("MostAllocated")  # Material searches on key events, not on input
        # The list is re-drawn after each key: read it in one go once the whole word is searched.
        page.wait_for_function(
            """() => Array.from(document.querySelectorAll('li.md-search-result__item a'), a => a.href)
                     .filter(href => href.includes('07-pack-or-spread') || href.includes('glossary'))
                     .map(href => href.includes('glossary')).reduce((seen, g) => seen.add(g), new Set()).size === 2""",
            timeout=60_000,
        )
        hrefs = page.evaluate("() => Array.from(document.querySelectorAll('li.md-search-result__item a'), a => a.href)")
        assert any("07-pack-or-spread" in h for h in hrefs), hrefs
        assert any("glossary" in h for h in hrefs), hrefs
        assert page.locator(".md-search-result mark", has_text=re.compile("mostallocated", re.I)).count() > 0
    finally:
        context.close()
