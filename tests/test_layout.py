"""The shape of the house: imports run one way between layers, no package-level cycle, no overlong function or
file. Every ``import`` counts, including the lazy ones inside functions and those under ``TYPE_CHECKING``."""

from __future__ import annotations

import ast
import itertools
from collections import defaultdict
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "src" / "unibind"
MAX_FUNCTION_LINES = 60
MAX_FILE_LINES = 400

#: Lowest first. A package or top-level module may import its own layer (without a cycle) or a lower one.
LAYERS: list[set[str]] = [
    {"atomic", "cache", "checksums", "config", "errors", "lazy", "metrics"},  # no unibind imports beyond this layer
    {"motion", "weights"},  # motion file formats and geometry; safetensors loading
    {"modalities"},  # input specs: validate, load, collate
    {"datasets"},  # manifests, shards, corpora, the graph file format
    {"encoders", "features"},  # towers and their preprocessors; cached features
    {"alignment"},  # projection heads and aligners
    {"embedder", "encoding", "model_card", "unibind"},  # the model and its one embedding loop
    {"objectives"},  # losses
    {"training", "export"},  # Lightning training; ONNX export and runtime
    {"graphs", "runtimes", "retrieval", "rerank"},  # graph training, runtimes, indexes, E2Rank
    {"evaluation"},  # benchmarks and metrics tables
    {"serve", "cli"},  # users of the library: the web demo and the command line
    {"quickstart"},  # the demo job, registered as a command group through an entry point
]
LAYER_OF = {name: level for level, names in enumerate(LAYERS) for name in names}


def source_files(*roots: Path) -> list[Path]:
    return sorted(path for root in roots for path in root.rglob("*.py"))


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def top_level(module: str) -> str:
    """``unibind.retrieval.index`` -> ``retrieval``; ``unibind`` (the package's own ``__init__``) -> ``unibind``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def imported_modules(path: Path) -> set[str]:
    """Every ``unibind`` module ``path`` imports, with relative imports resolved."""
    module, is_package = module_name(path), path.name == "__init__.py"
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")[: len(module.split(".")) - node.level + (1 if is_package else 0)]
                found.add(".".join([*base, node.module] if node.module else base))
            elif node.module:
                found.add(node.module)
    return {name for name in found if name == "unibind" or name.startswith("unibind.")}


def package_graph() -> dict[str, dict[str, set[str]]]:
    """``graph[a][b]``: the modules of top-level package ``a`` that import package ``b`` (``a != b``)."""
    graph: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    for path in source_files(PACKAGE):
        source = top_level(module_name(path))
        for target in imported_modules(path):
            if top_level(target) != source:
                graph[source][top_level(target)].add(module_name(path))
    return graph


def find_cycle(graph: dict[str, dict[str, set[str]]]) -> list[str] | None:
    """One cycle of the package graph as ``[a, b, ..., a]``, or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for target in sorted(graph.get(node, {})):
            if state.get(target) == 1:
                return [*path[path.index(target) :], target]
            if target not in state and (cycle := visit(target)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_the_import_walk_resolves_relative_imports(tmp_path: Path) -> None:
    assert top_level("unibind.retrieval.backends.exact") == "retrieval"
    assert top_level("unibind") == "unibind"
    assert find_cycle({"a": {"b": {"m"}}, "b": {"c": {"m"}}, "c": {"a": {"m"}}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b": {"m"}}, "b": {}}) is None
    init = PACKAGE / "retrieval" / "__init__.py"
    assert "unibind.retrieval.rank_fusion" in imported_modules(PACKAGE / "retrieval" / "build.py")
    assert module_name(init) == "unibind.retrieval"


def test_every_package_has_a_layer() -> None:
    packages = {top_level(module_name(path)) for path in source_files(PACKAGE)}
    assert packages - LAYER_OF.keys() == set(), "add the new package to LAYERS (and the README's layout)"
    assert LAYER_OF.keys() - packages == set(), "LAYERS names a package that no longer exists"


def test_no_package_imports_a_higher_layer() -> None:
    upward = [
        f"{module} ({source}, layer {LAYER_OF[source]}) imports {target} (layer {LAYER_OF[target]})"
        for source, targets in package_graph().items()
        for target, modules in targets.items()
        for module in sorted(modules)
        if LAYER_OF[target] > LAYER_OF[source]
    ]
    assert upward == []


def test_no_package_level_cycle() -> None:
    graph = package_graph()
    cycle = find_cycle(graph)
    detail = [f"{a} -> {b} in {sorted(graph[a][b])}" for a, b in itertools.pairwise(cycle)] if cycle else []
    assert cycle is None, detail


def test_only_the_quickstart_imports_the_quickstart() -> None:
    users = package_graph()
    assert {source for source, targets in users.items() if "quickstart" in targets} == set()


@pytest.mark.parametrize("root", ["src", "tests", "benchmarks", "scripts"])
def test_no_function_or_file_is_too_long(root: str) -> None:
    too_long = []
    for path in source_files(REPO / root):
        text = path.read_text()
        if text.count("\n") > MAX_FILE_LINES:
            too_long.append(f"{path.relative_to(REPO)}: {text.count(chr(10))} lines")
        for node in ast.walk(ast.parse(text, str(path))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                lines = node.end_lineno - node.lineno + 1
                if lines > MAX_FUNCTION_LINES:
                    too_long.append(f"{path.relative_to(REPO)}:{node.lineno} {node.name}: {lines} lines")
    assert too_long == []


def readme_layout() -> list[str]:
    """The top-level entries of ``src/unibind/`` in the README's layout block, in the README's order."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    block = text.split("## Layout", 1)[1].split("```", 2)[1]
    names = []
    for line in block.split("src/unibind/\n", 1)[1].splitlines():
        if not line.startswith("  "):  # the tree's next top-level folder
            break
        if not line.startswith("   "):  # an entry, not a continuation line
            names.append(line.split()[0].rstrip("/").removesuffix(".py"))
    return names


def test_the_readme_layout_matches_the_tree_in_layer_order() -> None:
    listed = readme_layout()
    tree = sorted(
        path.stem if path.is_file() else path.name
        for path in PACKAGE.iterdir()
        if (path.is_dir() and (path / "__init__.py").is_file()) or path.suffix == ".py"
    )
    assert sorted(listed) == tree
    layers = [LAYER_OF["unibind" if name == "__init__" else name] for name in listed]
    assert layers == sorted(layers), "list the packages in the README lowest layer first"
