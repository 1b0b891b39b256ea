#!/usr/bin/env python3
"""Checks a crate's module graph for import cycles.

Reads, on stdin, the "uses" graph that `cargo modules dependencies` prints
(modules only: --no-fns --no-types --no-traits --no-owns) and fails if
 1. the crate's top-level modules import each other in a circle, or
 2. inside one module, its submodules import each other in a circle.
A submodule may use its own parent, which is the module's front (`mod.rs`);
the parent is left out of rule 2. Usage: layers.py CRATE_NAME < graph.dot
"""

import re
import sys

EDGE = re.compile(r'^\s*"([^"]+)" -> "([^"]+)" \[label="uses"')


def read_edges(crate, lines):
    edges = set()
    for line in lines:
        found = EDGE.match(line)
        if not found:
            continue
        source, target = (name.split("::") for name in found.groups())
        if source[0] == crate and target[0] == crate:
            edges.add((tuple(source[1:]), tuple(target[1:])))
    return edges


def cycle_in(graph):
    """A circle in `graph` (node -> set of nodes) as a list of nodes, or None."""
    state = {}  # 1: on the current path, 2: done

    def visit(node, path):
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt not in state:
                found = visit(nxt, path)
                if found:
                    return found
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            found = visit(node, [])
            if found:
                return found
    return None


def graph_at(edges, parent):
    """Edges between the children of `parent`, each end cut to the child's name."""
    depth = len(parent)
    graph = {}
    for source, target in edges:
        if len(source) <= depth or len(target) <= depth:
            continue  # the parent itself, or outside it
        if source[:depth] != parent or target[:depth] != parent:
            continue
        a, b = source[depth], target[depth]
        if a != b:
            graph.setdefault(a, set()).add(b)
    return graph


def main():
    crate = sys.argv[1]
    edges = read_edges(crate, sys.stdin)
    if not edges:
        sys.exit(f"{crate}: no module edges read; is the graph empty?")
    parents = {()} | {source[:i] for source, _ in edges for i in range(1, len(source))}
    circles = []
    for parent in sorted(parents):
        found = cycle_in(graph_at(edges, parent))
        if found:
            where = "::".join((crate,) + parent)
            circles.append(f"{where}: " + " -> ".join(found))
    if circles:
        print(f"{crate}: modules that import each other in a circle:", file=sys.stderr)
        for circle in circles:
            print(f"  {circle}", file=sys.stderr)
        sys.exit(1)
    print(f"{crate}: {len(edges)} imports between modules, no circle")


if __name__ == "__main__":
    main()
