"""The import graph of the kzoo package: no cycles, and the CLI is a leaf.

The graph is built from the source with `ast` (nothing is imported), so a
cycle is reported even when the import order of today happens to work. Every
import counts, at module level and inside functions, except those under
`if TYPE_CHECKING:`. A package's `__init__.py` is the node of the package name.

Edges:
- `import a.b.c` is an edge to `a.b.c`;
- `from P import n` is an edge to `P.n` when `P.n` is a module or package of
  the tree, else to `P`;
- relative imports are resolved against the importing module's package.
Python runs `kzoo/__init__.py` before `kzoo.x`, but such implicit imports of
parent packages are not edges: only what a module names is.
"""

import ast
import collections
from pathlib import Path

ROOT_PACKAGE = "kzoo"
PACKAGE_DIR = Path(__file__).parents[1] / ROOT_PACKAGE
CLI_PACKAGE = f"{ROOT_PACKAGE}.cli"
# `python -m kzoo` runs kzoo/__main__.py, an entry point like the CLI itself.
CLI_ENTRY_POINTS = {f"{ROOT_PACKAGE}.__main__"}

Edge = collections.namedtuple("Edge", "source target where statement")


def module_files(package_dir):
    """`{module name: path}` of every .py file under `package_dir`."""
    package_dir = Path(package_dir)
    modules = {}
    for path in sorted(package_dir.rglob("*.py")):
        relative = path.relative_to(package_dir.parent)
        if any(part.startswith(".") or part == "__pycache__" for part in relative.parts):
            continue
        parts = list(relative.with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = path
    return modules


def _is_type_checking(test):
    return ((isinstance(test, ast.Name) and test.id == "TYPE_CHECKING")
            or (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"))


def _import_nodes(tree):
    """Every `import`/`from ... import` node, skipping `if TYPE_CHECKING:` bodies."""
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
            continue
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            stack.extend(node.orelse)  # the `else:` branch does run
            continue
        stack.extend(ast.iter_child_nodes(node))


def _known(name, modules):
    """`name`, or its longest prefix that is a module of the tree (None if none)."""
    parts = name.split(".")
    while parts:
        candidate = ".".join(parts)
        if candidate in modules:
            return candidate
        parts.pop()
    return None


def import_edges(package_dir=PACKAGE_DIR):
    """`(modules, edges)`: the modules of the tree and every import edge between them."""
    modules = module_files(package_dir)
    repo = Path(package_dir).parent
    edges = []
    for source, path in modules.items():
        is_package = path.name == "__init__.py"
        package = source if is_package else source.rpartition(".")[0]
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in _import_nodes(tree):
            where = f"{path.relative_to(repo).as_posix()}:{node.lineno}"
            statement = ast.unparse(node)
            targets = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            else:
                if node.level:
                    base = package.split(".")
                    if node.level > 1:
                        base = base[:-(node.level - 1)]
                    base = ".".join(base)
                    prefix = f"{base}.{node.module}" if node.module else base
                else:
                    prefix = node.module
                for alias in node.names:
                    submodule = f"{prefix}.{alias.name}"
                    targets.append(submodule if submodule in modules else prefix)
            for target in dict.fromkeys(targets):  # one edge per statement and target
                if target != ROOT_PACKAGE and not target.startswith(ROOT_PACKAGE + "."):
                    continue
                target = _known(target, modules)
                if target is not None:
                    edges.append(Edge(source, target, where, statement))
    return modules, edges


def strongly_connected_components(nodes, successors):
    """Tarjan's algorithm, iterative (no recursion limit)."""
    index, low, on_stack, stack, components = {}, {}, set(), [], []
    counter = 0
    for root in sorted(nodes):
        if root in index:
            continue
        work = [(root, iter(sorted(successors.get(root, ()))))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(successors.get(child, ())))))
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            else:
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


def _shortest_path(start, goal, successors, allowed):
    """Shortest `start -> ... -> goal` inside `allowed` (breadth-first)."""
    previous = {start: None}
    queue = collections.deque([start])
    while queue:
        node = queue.popleft()
        if node == goal:
            path = []
            while node is not None:
                path.append(node)
                node = previous[node]
            return path[::-1]
        for child in sorted(successors.get(node, ())):
            if child in allowed and child not in previous:
                previous[child] = node
                queue.append(child)
    return None


def import_cycles(package_dir=PACKAGE_DIR):
    """Cycles of the import graph, one through every import that closes a cycle.

    Returns `[(chain, edges)]`, sorted: `chain` is `[a, b, ..., a]`, `edges`
    the `Edge`s (file:line and statement) that make each step of it.
    """
    modules, edges = import_edges(package_dir)
    by_pair = collections.defaultdict(list)
    successors = collections.defaultdict(set)
    for edge in edges:
        by_pair[edge.source, edge.target].append(edge)
        successors[edge.source].add(edge.target)
    cycles = {}
    for component in strongly_connected_components(modules, successors):
        members = set(component)
        for source in component:
            for target in sorted(successors[source] & members):
                # The shortest cycle through the import `source -> target`.
                back = [source] if source == target else _shortest_path(target, source, successors, members)
                chain = [source] + back if source != target else [source, source]
                ring = chain[:-1]
                start = ring.index(min(ring))  # one rotation per cycle
                ring = ring[start:] + ring[:start]
                key = tuple(ring)
                if key not in cycles:
                    steps = list(zip(ring, ring[1:] + ring[:1]))
                    cycles[key] = (ring + ring[:1], [by_pair[step] for step in steps])
    return [cycles[key] for key in sorted(cycles, key=lambda k: (len(k), k))]


def format_cycles(cycles):
    lines = []
    for chain, steps in cycles:
        lines.append(" -> ".join(chain))
        for (source, target), edges in zip(zip(chain, chain[1:]), steps):
            for edge in edges:
                lines.append(f"    {source} -> {target}: {edge.where}: {edge.statement}")
    return "\n".join(lines)


def _imports_cli(edge):
    return edge.target == CLI_PACKAGE or edge.target.startswith(CLI_PACKAGE + ".")


def _in_cli(module):
    return module == CLI_PACKAGE or module.startswith(CLI_PACKAGE + ".")


def test_no_import_cycles():
    cycles = import_cycles()
    assert not cycles, (f"{len(cycles)} import cycle(s) in {ROOT_PACKAGE} (each with the imports "
                        f"that make it, file:line):\n{format_cycles(cycles)}")


def test_library_does_not_import_the_cli():
    _, edges = import_edges()
    offending = sorted(f"{edge.where}: {edge.source} imports {edge.target}: {edge.statement}"
                       for edge in edges
                       if _imports_cli(edge) and not _in_cli(edge.source)
                       and edge.source not in CLI_ENTRY_POINTS)
    assert not offending, (f"{CLI_PACKAGE} is an entry point, never imported by the library:\n"
                           + "\n".join(offending))


def test_package_init_does_not_import_the_cli():
    _, edges = import_edges()
    own = [edge for edge in edges if edge.source == ROOT_PACKAGE]
    offending = [f"{edge.where}: {edge.statement}" for edge in own if _imports_cli(edge)]
    assert not offending, (f"{ROOT_PACKAGE}/__init__.py imports the CLI:\n" + "\n".join(offending)
                           + f"\n(its kzoo imports: {sorted({edge.target for edge in own})})")
