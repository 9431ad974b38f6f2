"""MkDocs hook (mkdocs.yml `hooks:`): the workshop links to repository files outside docs/ (e.g.
`../../manifests/samples/sleep.yaml`), which read fine on GitHub but are no documentation files, so
`mkdocs build --strict` rejects them. This hook publishes each such linked file in the site under
`repo/<path in the repository>` and points the link there; the Markdown itself stays unchanged.
Links to directories are left as they are (MkDocs reports them at INFO level)."""
from __future__ import annotations

import posixpath
import re
from pathlib import Path

from mkdocs.config.defaults import MkDocsConfig
from mkdocs.structure.files import File, Files
from mkdocs.structure.pages import Page

SITE_PREFIX = "repo"
# [text](target) / ![alt](target) with a relative target (no scheme, no leading / or #).
LINK = re.compile(r"(!?\[(?:[^\[\]]|\[[^\]]*\])*\]\()([^)\s:#][^)\s:]*?)(#[^)\s]*)?(\))")
FENCE = re.compile(r"^\s*(```|~~~)")


def _outside_target(config: MkDocsConfig, page_src_uri: str, target: str) -> str | None:
    """The repository-relative path of a file `target` names from the page, when it lies outside
    docs/ but inside the repository; None for anything else."""
    docs = Path(config.docs_dir).resolve()
    repo = Path(config.config_file_path).resolve().parent
    resolved = (docs / page_src_uri).parent.joinpath(target).resolve()
    if resolved.is_relative_to(docs) or not resolved.is_relative_to(repo) or not resolved.is_file():
        return None
    return resolved.relative_to(repo).as_posix()


def _links(markdown: str):
    """Every link match outside fenced code blocks."""
    fenced = False
    for line in markdown.splitlines(keepends=True):
        if FENCE.match(line):
            fenced = not fenced
        elif not fenced:
            yield from LINK.finditer(line)


def on_files(files: Files, config: MkDocsConfig) -> Files:
    for page_file in [f for f in files if f.is_documentation_page()]:
        for match in _links(Path(page_file.abs_src_path).read_text(encoding="utf-8")):
            repo_path = _outside_target(config, page_file.src_uri, match.group(2))
            src_uri = f"{SITE_PREFIX}/{repo_path}"
            if repo_path and files.get_file_from_path(src_uri) is None:
                abs_path = str(Path(config.config_file_path).resolve().parent / repo_path)
                files.append(File.generated(config, src_uri, abs_src_path=abs_path))
    return files


def on_page_markdown(markdown: str, page: Page, config: MkDocsConfig, files: Files) -> str:
    def rewrite(line: str) -> str:
        def repl(match: re.Match[str]) -> str:
            repo_path = _outside_target(config, page.file.src_uri, match.group(2))
            if repo_path is None:
                return match.group(0)
            target = posixpath.relpath(f"{SITE_PREFIX}/{repo_path}", posixpath.dirname(page.file.src_uri))
            return f"{match.group(1)}{target}{match.group(3) or ''}{match.group(4)}"
        return LINK.sub(repl, line)

    out, fenced = [], False
    for line in markdown.splitlines(keepends=True):
        if FENCE.match(line):
            fenced = not fenced
            out.append(line)
        else:
            out.append(line if fenced else rewrite(line))
    return "".join(out)
