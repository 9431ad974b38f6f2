"""MkDocs hook (mkdocs.yml `hooks:`): the workshop links to repository files outside docs/ (e.g.
`../../manifests/samples/sleep.yaml`), which read fine on GitHub but are no documentation files, so
`mkdocs build --strict` rejects them. This hook publishes each such linked file in the site under
`repo/<path in the repository>` and points the link there; the Markdown itself stays unchanged.
A link to a directory (`../../manifests/py-scheduler/`) gets its files published the same way and
points to a generated `repo/<directory>/index.html` listing them."""
from __future__ import annotations

import html
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
    if resolved.is_relative_to(docs) or not resolved.is_relative_to(repo) or resolved == repo:
        return None
    if not (resolved.is_file() or resolved.is_dir()):
        return None
    return resolved.relative_to(repo).as_posix()


def _listed(directory: Path) -> list[Path]:
    """The files a directory link shows: its regular files, not hidden ones, sorted."""
    return sorted(p for p in directory.iterdir() if p.is_file() and not p.name.startswith("."))


def _index(repo_path: str, names: list[str]) -> str:
    items = "\n".join(f'<li><a href="{html.escape(n)}">{html.escape(n)}</a></li>' for n in names)
    title = html.escape(repo_path + "/")
    return (f'<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><title>{title}</title></head>\n'
            f"<body><h1>{title}</h1>\n<ul>\n{items}\n</ul></body></html>\n")


def _site_target(repo: Path, repo_path: str) -> str:
    """Where the site publishes a repository path: the file itself, or a directory's index."""
    return f"{SITE_PREFIX}/{repo_path}/index.html" if (repo / repo_path).is_dir() else f"{SITE_PREFIX}/{repo_path}"


def _links(markdown: str):
    """Every link match outside fenced code blocks."""
    fenced = False
    for line in markdown.splitlines(keepends=True):
        if FENCE.match(line):
            fenced = not fenced
        elif not fenced:
            yield from LINK.finditer(line)


def on_files(files: Files, config: MkDocsConfig) -> Files:
    repo = Path(config.config_file_path).resolve().parent

    def publish(repo_path: str) -> None:
        src_uri = f"{SITE_PREFIX}/{repo_path}"
        if files.get_file_from_path(src_uri) is None:
            files.append(File.generated(config, src_uri, abs_src_path=str(repo / repo_path)))

    for page_file in [f for f in files if f.is_documentation_page()]:
        for match in _links(Path(page_file.abs_src_path).read_text(encoding="utf-8")):
            repo_path = _outside_target(config, page_file.src_uri, match.group(2))
            if repo_path is None:
                continue
            if not (repo / repo_path).is_dir():
                publish(repo_path)
                continue
            listed = _listed(repo / repo_path)
            for path in listed:
                publish(f"{repo_path}/{path.name}")
            index = _site_target(repo, repo_path)
            if files.get_file_from_path(index) is None:
                files.append(File.generated(config, index, content=_index(repo_path, [p.name for p in listed])))
    return files


def on_page_markdown(markdown: str, page: Page, config: MkDocsConfig, files: Files) -> str:
    def rewrite(line: str) -> str:
        def repl(match: re.Match[str]) -> str:
            repo_path = _outside_target(config, page.file.src_uri, match.group(2))
            if repo_path is None:
                return match.group(0)
            repo = Path(config.config_file_path).resolve().parent
            target = posixpath.relpath(_site_target(repo, repo_path), posixpath.dirname(page.file.src_uri))
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
