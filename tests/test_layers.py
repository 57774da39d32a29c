"""Imports run one way: each part of the package imports only from the layers below it, and parts of one
layer do not import each other. A test over the source's `import` statements, so a new import that runs
back up fails here rather than as a cycle someday."""

import ast
from pathlib import Path

import invest_assets

PACKAGE = Path(invest_assets.__file__).parent
# Lowest first. A part is a subpackage or a top-level module of invest_assets.
LAYERS = [
    {"settings"},
    {"sources"},  # the source contract and its readers
    {"tools"},  # offline tools over the contract: Crunchbase converter, sample generator
    {"resources"},  # database, sources and embedders as Dagster resources, and their factories
    {"metadata", "policies", "in_flight", "vectors"},  # what asset families share
    {"core", "profiles", "theses", "graph", "embeddings"},  # asset families over the tables
    {"search"},  # the read path
    {"ranking"},  # the backtest of the read path
    {"definitions", "instance", "lineage"},  # the code location and the Dagster instance
    {"cli"},
]
LAYER_OF = {part: level for level, parts in enumerate(LAYERS) for part in parts}


def part_of(module: str) -> str | None:
    names = module.split(".")
    return names[1] if names[0] == "invest_assets" and len(names) > 1 else None


def imports(path: Path) -> set[str]:
    """The invest_assets parts ``path`` imports, at module level or inside functions."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {part_of(alias.name) for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            if node.module == "invest_assets":
                found |= {alias.name for alias in node.names}
            else:
                found.add(part_of(node.module))
    return found - {None}


def test_every_part_has_a_layer():
    parts = {
        p.stem if p.is_file() else p.name
        for p in PACKAGE.iterdir()
        if (p.suffix == ".py" and p.stem != "__init__") or (p / "__init__.py").exists()
    }
    assert parts == set(LAYER_OF)


def test_imports_only_run_down():
    upward = []
    for path in PACKAGE.rglob("*.py"):
        relative = path.relative_to(PACKAGE)
        part = relative.parts[0].removesuffix(".py")
        if part == "__init__":
            continue
        for imported in imports(path) - {part}:
            if LAYER_OF[imported] >= LAYER_OF[part]:
                upward.append(f"{relative} imports {imported}")
    assert not upward


def test_benchmarks_import_nothing_from_the_tests():
    bench = PACKAGE.parent / "bench"
    offenders = [
        p.name
        for p in bench.glob("*.py")
        if any(
            isinstance(n, ast.ImportFrom)
            and (n.module or "").split(".")[0] == "tests"
            or isinstance(n, ast.Import)
            and any(a.name.split(".")[0] == "tests" for a in n.names)
            for n in ast.walk(ast.parse(p.read_text()))
        )
    ]
    assert not offenders
