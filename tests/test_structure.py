"""The layering, kept honest (the house style's "Layout" and "One rule, one function").

Every module of dashboard/, catalog/ and usage/ (migrations excluded) is parsed, never imported, and:
- has at most MAX_LINES lines;
- imports point one way: dashboard → usage.gateway → usage → catalog (catalog imports neither other app,
  usage never imports dashboard, usage outside its gateway never imports usage.gateway);
- no import cycle, whether its imports run at module level or inside a function;
- `async def` only in the gateway, the ASGI dispatcher and async generators that stream a response;
- in the gateway, only store.py (its one door to the database) imports the ORM and usage's/catalog's reads
  and writes;
- each app keeps its writes in a `services/` package and its reads in a `selectors/` package, and views,
  page modules, Celery tasks and management commands make no ORM queries of their own: they call those.
Each failure names the module(s) and the rule.
"""

from __future__ import annotations

import ast
from collections import deque
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("dashboard", "catalog", "usage")
MAX_LINES = 400
GATEWAY = "usage.gateway"
GATEWAY_STORE = "usage.gateway.store"
ASYNC_ALLOWED = {"dashboard.asgi"}  # the ASGI dispatcher in front of Django and the gateway
# What only the gateway's store may import: the ORM, and usage's and catalog's models, reads and writes.
STORE_ONLY = (
    "usage.models",
    "usage.services",
    "usage.selectors",
    "catalog.models",
    "catalog.selectors",
    "django.db",
)
APPS = ("catalog", "usage")  # each with its services/ and selectors/ packages
# What makes an ORM query in a module: a manager (`X.objects`), a queryset's own methods, query expressions,
# the 404 shortcuts that query.
QUERYSET_METHODS = frozenset(
    {"filter", "exclude", "order_by", "annotate", "aggregate", "values_list", "select_related"}
    | {"prefetch_related", "only", "defer", "distinct", "bulk_create", "bulk_update", "get_or_create"}
    | {"update_or_create", "select_for_update", "get_object_or_404", "get_list_or_404"}
)
QUERY_EXPRESSIONS = frozenset(
    {"Q", "F", "Prefetch", "Sum", "Count", "Max", "Min", "Avg", "Subquery", "OuterRef", "Exists", "Value"}
    | {"Case", "When", "Coalesce", "Cast", "TruncDay", "TruncHour"}
)
# Lower layers never import higher ones: module prefix -> the prefixes it must not import.
FORBIDDEN = {
    "catalog": ("usage", "dashboard"),
    "usage": ("dashboard",),
}


@dataclass(frozen=True)
class Import:
    names: tuple[str, ...]  # what the statement may name: `from x import y` gives x and x.y
    line: int
    in_function: bool


@dataclass
class Module:
    name: str
    path: Path
    lines: int
    tree: ast.Module
    imports: list[Import] = field(default_factory=list)

    @property
    def where(self) -> str:
        return str(self.path.relative_to(ROOT))

    @property
    def package(self) -> str:
        return self.name if self.path.name == "__init__.py" else self.name.rpartition(".")[0]


def _within(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


class _ImportCollector(ast.NodeVisitor):
    def __init__(self, module: Module) -> None:
        self.module = module
        self.depth = 0  # functions we are inside

    def _function(self, node) -> None:
        self.depth += 1
        self.generic_visit(node)
        self.depth -= 1

    visit_FunctionDef = visit_AsyncFunctionDef = _function

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self.module.imports.append(Import((alias.name,), node.lineno, self.depth > 0))

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        base = node.module or ""
        if node.level:
            parts = self.module.package.split(".")
            parts = parts[: len(parts) - (node.level - 1)]
            base = ".".join([*parts, *([node.module] if node.module else [])])
        names = (base, *(f"{base}.{alias.name}" for alias in node.names if alias.name != "*"))
        self.module.imports.append(Import(tuple(name for name in names if name), node.lineno, self.depth > 0))


@cache
def modules() -> dict[str, Module]:
    found = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            relative = path.relative_to(ROOT)
            if "migrations" in relative.parts:
                continue
            parts = list(relative.with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            source = path.read_text(encoding="utf-8")
            module = Module(
                name=".".join(parts), path=path, lines=len(source.splitlines()), tree=ast.parse(source)
            )
            _ImportCollector(module).visit(module.tree)
            found[module.name] = module
    return found


def _targets(module: Module) -> list[tuple[str, Import]]:
    """The project modules an import statement loads: `from x import y` loads x, and x.y when y is a module;
    `import a.b.c` loads a.b.c, or the longest of a.b, a that is ours (c, b being names in it)."""
    known = modules()
    targets = []
    for statement in module.imports:
        for name in statement.names[:1] + tuple(name for name in statement.names[1:] if name in known):
            while name and name not in known:
                name = name.rpartition(".")[0]
            if name and name != module.name:
                targets.append((name, statement))
    return targets


def _how(statement: Import, module: Module) -> str:
    return f"{module.where}:{statement.line}" + (" (inside a function)" if statement.in_function else "")


def _fail_on(problems: list[str], rule: str) -> None:
    assert not problems, f"{rule}:\n" + "\n".join(f"- {problem}" for problem in problems)


# ---- the tests ---------------------------------------------------------------------------------------------


def test_the_modules_are_found():
    names = modules()
    assert {"usage.models", "catalog.models", "dashboard.asgi", "usage.gateway"} <= set(names)
    assert not any(".migrations" in name for name in names)


def test_no_module_is_over_the_line_limit():
    _fail_on(
        [
            f"{module.where}: {module.lines} lines (at most {MAX_LINES}: one idea per module)"
            for module in modules().values()
            if module.lines > MAX_LINES
        ],
        f"Modules over {MAX_LINES} lines",
    )


def test_imports_point_one_way_dashboard_usage_catalog():
    problems = []
    for module in modules().values():
        for lower, higher in FORBIDDEN.items():
            if not _within(module.name, lower):
                continue
            for statement in module.imports:
                for name in statement.names:
                    bad = next((prefix for prefix in higher if _within(name, prefix)), None)
                    if bad:
                        problems.append(
                            f"{_how(statement, module)}: {module.name} imports {name} ({lower} never "
                            f"imports {bad})"
                        )
                        break
    _fail_on(problems, "Imports against the direction dashboard → usage.gateway → usage → catalog")


def test_usage_outside_its_gateway_never_imports_the_gateway():
    problems = []
    for module in modules().values():
        if not _within(module.name, "usage") or _within(module.name, GATEWAY):
            continue
        for statement in module.imports:
            name = next((n for n in statement.names if _within(n, GATEWAY)), None)
            if name:
                problems.append(
                    f"{_how(statement, module)}: {module.name} imports {name} "
                    "(usage outside usage/gateway/ never imports the gateway: move the shared piece down)"
                )
    _fail_on(problems, "usage importing usage.gateway")


def _groups(graph: dict[str, dict[str, Import]]) -> list[list[str]]:
    """The groups of modules that import one another (strongly connected components, Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def connect(node: str) -> None:  # recursion as deep as the modules are many (~150)
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                connect(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            connect(node)
    return sorted(groups)


def _shortest_cycle(graph: dict[str, dict[str, Import]], start: str, members: set[str]) -> list[str]:
    """The shortest way from start back to itself through members (breadth first): [start, ..., start]."""
    came_from: dict[str, str] = {}
    queue, last = deque([start]), None
    while queue and last is None:
        node = queue.popleft()
        for nxt in sorted(graph[node]):
            if nxt == start:
                last = node
                break
            if nxt in members and nxt not in came_from:
                came_from[nxt] = node
                queue.append(nxt)
    path = [last]
    while path[-1] != start:
        path.append(came_from[path[-1]])
    return [*reversed(path), start]


def _cycles(graph: dict[str, dict[str, Import]]) -> list[list[str]]:
    """A shortest cycle through each module that is in one, each cycle once (from its first module)."""
    cycles: list[list[str]] = []
    for group in _groups(graph):
        for start in group:
            cycle = _shortest_cycle(graph, start, set(group))[:-1]
            first = cycle.index(min(cycle))
            cycle = [*cycle[first:], *cycle[:first], cycle[first]]
            if cycle not in cycles:
                cycles.append(cycle)
    return cycles


def test_the_cycle_finder_gives_each_cycles_path():
    edge = Import(("x",), 1, False)
    graph = {
        "a": {"b": edge},
        "b": {"c": edge, "a": edge},
        "c": {"a": edge},
        "d": {"a": edge},
        "e": {},
    }
    assert _cycles(graph) == [["a", "b", "a"], ["a", "b", "c", "a"]]
    assert _cycles({"a": {"b": edge}, "b": {}}) == []


def test_no_import_cycles_even_through_imports_inside_functions():
    known = modules()
    graph: dict[str, dict[str, Import]] = {name: {} for name in known}
    for module in known.values():
        for target, statement in _targets(module):
            graph[module.name].setdefault(target, statement)
    problems = []
    for cycle in _cycles(graph):
        steps = "; ".join(
            f"{before} imports {after} at {_how(graph[before][after], known[before])}"
            for before, after in zip(cycle, cycle[1:], strict=False)
        )
        problems.append(f"{' → '.join(cycle)} ({steps})")
    _fail_on(problems, "Import cycles (no two modules import each other, even inside a function)")


def _yields(function: ast.AsyncFunctionDef) -> bool:
    """Whether the function itself (not a function nested in it) yields: an async generator."""
    pending = list(function.body)
    while pending:
        node = pending.pop()
        if isinstance(node, ast.Yield | ast.YieldFrom):
            return True
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda | ast.ClassDef):
            continue
        pending.extend(ast.iter_child_nodes(node))
    return False


def test_async_code_is_only_in_the_gateway_the_dispatcher_and_streaming_generators():
    problems = []
    for module in modules().values():
        if _within(module.name, GATEWAY) or module.name in ASYNC_ALLOWED:
            continue
        for node in ast.walk(module.tree):
            if isinstance(node, ast.AsyncFunctionDef) and not _yields(node):
                problems.append(
                    f"{module.where}:{node.lineno}: async def {node.name} in {module.name} (async only in "
                    "usage/gateway/, dashboard/asgi.py and async generators that stream a response)"
                )
    _fail_on(problems, "async def outside the gateway")


def test_in_the_gateway_only_the_store_reaches_the_database():
    problems = []
    for module in modules().values():
        if not _within(module.name, GATEWAY) or module.name == GATEWAY_STORE:
            continue
        for statement in module.imports:
            name = next((n for n in statement.names if any(_within(n, p) for p in STORE_ONLY)), None)
            if name:
                problems.append(
                    f"{_how(statement, module)}: {module.name} imports {name} (only {GATEWAY_STORE}, the "
                    "gateway's one door to the database, imports the ORM, models, services and selectors)"
                )
    _fail_on(problems, "Gateway modules reaching the database other than through store.py")


def test_each_app_has_its_services_and_selectors_packages():
    known = modules()
    _fail_on(
        [
            f"{app}/{kind}/ is missing (writes live in services/, reads and aggregations in selectors/)"
            for app in APPS
            for kind in ("services", "selectors")
            if f"{app}.{kind}" not in known or known[f"{app}.{kind}"].path.name != "__init__.py"
        ],
        "Apps without their services/ and selectors/ packages",
    )


def _calls_the_orm(module: Module) -> list[str]:
    found = []
    for node in ast.walk(module.tree):
        if isinstance(node, ast.Attribute) and node.attr == "objects":
            found.append(f"{module.where}:{node.lineno}: a manager (.objects)")
        elif isinstance(node, ast.Call):
            function = node.func
            name = function.attr if isinstance(function, ast.Attribute) else getattr(function, "id", "")
            if name in QUERYSET_METHODS:
                found.append(f"{module.where}:{node.lineno}: {name}()")
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("django.db.models"):
            names = sorted(alias.name for alias in node.names if alias.name in QUERY_EXPRESSIONS)
            if names:
                found.append(f"{module.where}:{node.lineno}: imports {', '.join(names)}")
    return found


def _is_caller(module: Module) -> bool:
    """Views, page modules, Celery tasks and management commands: they call services and selectors."""
    last = module.name.rpartition(".")[2]
    return (
        last in ("views", "tasks")
        or last.endswith("_pages")
        or ".management.commands." in module.name
        or module.name in ("dashboard.playground", "dashboard.health")
    )


def test_views_pages_tasks_and_commands_make_no_orm_queries_of_their_own():
    callers = [module for module in modules().values() if _is_caller(module)]
    assert {"usage.views", "catalog.views", "dashboard.model_pages", "usage.tasks"} <= {
        m.name for m in callers
    }
    problems = [problem for module in callers for problem in _calls_the_orm(module)]
    _fail_on(problems, "ORM queries outside services and selectors (call a service or a selector instead)")


def test_the_orm_query_finder_sees_managers_querysets_and_expressions():
    source = (
        "from django.db.models import Sum, Q\n"
        "def view(request):\n"
        "    rows = Thing.objects.all()\n"
        "    return get_object_or_404(rows.order_by('x'), pk=1)\n"
    )
    module = Module("usage.views", ROOT / "usage" / "views.py", 4, ast.parse(source))
    assert sorted(problem.split(": ", 1)[1] for problem in _calls_the_orm(module)) == [
        "a manager (.objects)",
        "get_object_or_404()",
        "imports Q, Sum",
        "order_by()",
    ]
