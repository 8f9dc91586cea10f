"""The layout's two rules, checked by reading the imports with `ast` (nothing is imported to check):

1. Pure modules (the planning and rehearsal packages, config, catalog, errors) never import pulumi, a provider SDK or a
   cloud client, directly or through another project module.
2. No import cycle among the project's modules. Every import counts: top-level, inside a function, and
   under `if TYPE_CHECKING:` (an annotation-only cycle is still a cycle a reader has to untangle).

Each rule is also run on a small fixture tree that breaks it on purpose, so the checker is shown to fail.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Mapping
from pathlib import Path

from tests.factories import ROOT

PROJECT_PACKAGES = ("infra", "components", "policies")
PURE = ("infra.planning", "infra.rehearsal", "infra.config", "infra.catalog", "infra.errors")
# Top-level names a pure module may not reach: the Pulumi SDKs and cloud clients.
FORBIDDEN = ("pulumi", "pulumi_aws", "pulumi_gcp", "pulumi_kubernetes", "pulumi_tls", "pulumi_random",
             "pulumi_policy", "boto3", "botocore", "google.cloud", "googleapiclient", "kubernetes", "moto")


def module_name(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def project_modules(root: Path, packages: Iterable[str]) -> dict[str, Path]:
    return {module_name(root, p): p for pkg in packages for p in sorted((root / pkg).rglob("*.py"))
            if ".venv" not in p.parts}


def imports_of(path: Path, module: str, is_package: bool, known: Iterable[str] = ()) -> set[str]:
    """Every module name this file imports, anywhere in the file (relative imports resolved).

    `from pkg import name` counts as importing `pkg.name` when that is a module in `known`, else `pkg`.
    """
    known = set(known)
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = module.split(".") if is_package else module.split(".")[:-1]
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                full = f"{base}.{alias.name}"
                out.add(full if full in known else base)
    return out


def import_graph(root: Path, packages: Iterable[str]) -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    """(project module -> project modules it imports, project module -> outside modules it imports)."""
    packages = tuple(packages)
    modules = project_modules(root, packages)
    inside: dict[str, set[str]] = {}
    outside: dict[str, set[str]] = {}
    for name, path in modules.items():
        names = imports_of(path, name, path.name == "__init__.py", modules)
        inside[name] = {n for n in names if n in modules and n != name}
        outside[name] = {n for n in names if n.split(".")[0] not in packages}
    return inside, outside


def cycles(graph: Mapping[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def impure(inside: Mapping[str, set[str]], outside: Mapping[str, set[str]],
           pure: Iterable[str]) -> dict[str, list[str]]:
    """Pure module -> the forbidden modules it reaches (directly or through project modules)."""
    pure = tuple(pure)
    bad: dict[str, list[str]] = {}
    for module in inside:
        if not any(module == p or module.startswith(p + ".") for p in pure):
            continue
        seen, todo = {module}, [module]
        while todo:
            for dep in inside[todo.pop()]:
                if dep not in seen:
                    seen.add(dep)
                    todo.append(dep)
        reached = sorted({ext for m in seen for ext in outside[m]
                          if any(ext == f or ext.startswith(f + ".") for f in FORBIDDEN)})
        if reached:
            bad[module] = reached
    return bad


# --- the project ---------------------------------------------------------------------------------------


def test_the_project_has_no_import_cycle():
    inside, _ = import_graph(ROOT, PROJECT_PACKAGES)
    assert len(inside) > 50, "the walker found too few modules to be reading the project"
    assert cycles(inside) == []


def test_pure_modules_import_no_pulumi_or_cloud_sdk():
    inside, outside = import_graph(ROOT, PROJECT_PACKAGES)
    checked = [m for m in inside if any(m == p or m.startswith(p + ".") for p in PURE)]
    assert {"infra.planning.plan", "infra.planning.sizing.solver", "infra.config"} <= set(checked)
    assert impure(inside, outside, PURE) == {}


def test_the_shell_does_import_pulumi():
    """The walker sees real imports: the program and the components are where pulumi belongs."""
    inside, outside = import_graph(ROOT, PROJECT_PACKAGES)
    assert "pulumi" in outside["infra.program"]
    assert "pulumi" in impure(inside, outside, ["infra.program"])["infra.program"]


# --- the checker fails where it should (fixture trees) ------------------------------------------------


def write_tree(root: Path, files: Mapping[str, str]) -> None:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def test_a_cycle_is_found_even_under_type_checking(tmp_path):
    write_tree(tmp_path, {
        "app/__init__.py": "",
        "app/plan.py": "from app.cluster import ClusterPlan\n",
        "app/cluster.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from app.plan import Plan\n",
        "app/leaf.py": "import app.plan\n",
    })
    inside, _ = import_graph(tmp_path, ["app"])
    assert cycles(inside) == [["app.cluster", "app.plan"]]


def test_a_lazy_import_inside_a_function_closes_a_cycle(tmp_path):
    write_tree(tmp_path, {
        "app/__init__.py": "",
        "app/preview.py": "def main():\n    from app.check import check\n",
        "app/check.py": "def main():\n    from .preview import run\n",
    })
    inside, _ = import_graph(tmp_path, ["app"])
    assert cycles(inside) == [["app.check", "app.preview"]]


def test_no_cycle_in_a_one_way_tree(tmp_path):
    write_tree(tmp_path, {
        "app/__init__.py": "",
        "app/run.py": "import json\n",
        "app/preview.py": "from app.run import run\nfrom app.check import check\n",
        "app/check.py": "from app import run\n",
    })
    inside, _ = import_graph(tmp_path, ["app"])
    assert cycles(inside) == []


def test_a_pure_module_importing_pulumi_directly_or_through_another_is_found(tmp_path):
    write_tree(tmp_path, {
        "app/__init__.py": "",
        "app/planning/__init__.py": "",
        "app/planning/direct.py": "import pulumi_aws as aws\n",
        "app/planning/indirect.py": "from app.shell import thing\n",
        "app/planning/clean.py": "import math\nfrom app.planning import direct as _  # noqa\n",
        "app/planning/fine.py": "import ipaddress\n",
        "app/shell.py": "from pulumi import Output\n",
    })
    inside, outside = import_graph(tmp_path, ["app"])
    bad = impure(inside, outside, ["app.planning"])
    assert bad == {"app.planning.direct": ["pulumi_aws"], "app.planning.indirect": ["pulumi"],
                   "app.planning.clean": ["pulumi_aws"]}
