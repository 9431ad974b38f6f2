"""List the import circles (strongly connected components) among the project's own modules.

    .venv/bin/python scripts/import_cycles.py [--package scheduler --package lab] [--edges]
                                              [--exclude-type-checking]

The graph is grimp's, the one import-linter checks: it counts every import statement, including
the ones inside functions (lazy imports) and, unless --exclude-type-checking, the ones under
``if TYPE_CHECKING:``. A component of two or more modules is a circle; each is printed as one line
(its size and modules), and with --edges the imports between its members (file:line). Exit 1 when
there is at least one circle, so the script can gate a check.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable, Mapping

import grimp


def strongly_connected_components(graph: Mapping[str, Iterable[str]]) -> list[list[str]]:
    """Tarjan's algorithm, iterative (no recursion limit); each component's members sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    components: list[list[str]] = []
    counter = 0
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph.get(root, ()))))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            advanced = False
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                    advanced = True
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            if advanced:
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                components.append(sorted(component))
    return components


def import_circles(packages: list[str], exclude_type_checking: bool) -> tuple[grimp.ImportGraph, list[list[str]]]:
    """The graph of ``packages`` and its components of two or more modules, largest first."""
    # No cache: grimp's on-disk cache has been seen to answer with a file's imports from before an edit.
    graph = grimp.build_graph(*packages, exclude_type_checking_imports=exclude_type_checking, cache_dir=None)
    edges = {module: graph.find_modules_directly_imported_by(module) for module in graph.modules}
    circles = [c for c in strongly_connected_components(edges) if len(c) > 1]
    return graph, sorted(circles, key=lambda c: (-len(c), c))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--package", action="append", help="root package (repeatable); default scheduler and lab")
    parser.add_argument("--edges", action="store_true", help="also print the imports inside each circle")
    parser.add_argument("--exclude-type-checking", action="store_true",
                        help="leave out imports under `if TYPE_CHECKING:`")
    args = parser.parse_args(argv)
    packages = args.package or ["scheduler", "lab"]
    graph, circles = import_circles(packages, args.exclude_type_checking)
    for circle in circles:
        print(f"{len(circle)} modules: {' '.join(circle)}")
        if args.edges:
            members = set(circle)
            for importer in circle:
                for imported in sorted(graph.find_modules_directly_imported_by(importer) & members):
                    for detail in graph.get_import_details(importer=importer, imported=imported):
                        print(f"    {importer} -> {imported}  (line {detail['line_number']}: "
                              f"{detail['line_contents']})")
    if not circles:
        print(f"no import circles in {', '.join(packages)}")
    return 1 if circles else 0


if __name__ == "__main__":
    sys.exit(main())
