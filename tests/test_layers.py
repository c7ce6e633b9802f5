"""The layers of docs/architecture.md, checked on the source: every import points down.

Each module of ``src/chatdesk`` belongs to one layer (``LAYER_OF``, by its first
name under ``chatdesk``); a module may import its own layer and the layers
``MAY_IMPORT`` lists for it, nothing else. Imports under ``TYPE_CHECKING`` and
inside functions count too: a lazy import is still a dependency.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "chatdesk"

# Lowest first. "base" holds what every layer may use and that itself uses no layer.
LAYER_OF = {
    "__init__": "base",  # the package itself: __version__
    "errors": "base",
    "clock": "base",
    "ids": "base",
    "settings": "base",
    "logs": "base",
    "business_hours": "base",
    "smtp_url": "base",
    # The widget's catalogs (static JSON files) and the checks on a site's language settings.
    "widget_locales": "base",
    # Operators' faces: their avatar URLs and the initials drawn for those without a picture.
    "avatars": "base",
    # The API's JSON bodies as TypedDicts (ADR 0009): types only, used at every layer
    # that builds or passes a shape, from queries up to web.
    "shape_types": "base",
    "db": "db",
    # Where attachments' bytes live (a directory, S3): used by jobs and the web layer.
    "storage": "storage",
    "shapes": "shapes",
    "security": "security",
    "realtime": "realtime",
    "access": "access",
    "queries": "queries",
    # Work off any request (the outbox, its worker and senders): actions enqueue jobs.
    "jobs": "jobs",
    "actions": "actions",
    # What an app or a command is built from: the services an app owns, metrics,
    # first start, demo data, export. They use actions and queries; web reads them.
    "runtime": "services",
    "metrics": "services",
    "bootstrap": "services",
    "demo": "services",
    # Export, import and backup of the whole database (ADR 0027).
    "transfer": "services",
    "file_sweep": "services",
    # The inbound SMTP listener, which turns replies by email into messages through actions.
    "inbound": "services",
    "web": "web",
    "app": "entry",
    "cli": "entry",
    "serving": "entry",
}
_BELOW_SERVICES = {
    "base",
    "db",
    "storage",
    "shapes",
    "security",
    "realtime",
    "access",
    "queries",
    "jobs",
    "actions",
}
MAY_IMPORT: dict[str, set[str]] = {
    "base": set(),
    "db": {"base"},
    "storage": {"base"},
    "shapes": {"base"},
    # security/auth.py resolves tokens and sessions with its own reads of db.
    "security": {"base", "db"},
    # The hub is given its reader of the event log (queries.events.EventLogReader).
    "realtime": {"base", "security"},
    "access": {"base", "db", "security"},
    "queries": {"base", "db", "security", "shapes"},
    # The outbox's units and the worker's loop (the hub tells it of events through a
    # callable the app wires; senders are registered by the app).
    "jobs": {"base", "db", "storage", "security", "shapes", "access", "queries"},
    "actions": {"base", "db", "security", "shapes", "access", "queries", "jobs"},
    "services": _BELOW_SERVICES,
    "web": _BELOW_SERVICES | {"services"},
    "entry": _BELOW_SERVICES | {"services", "web"},
}
# From db, web uses only the data path (it runs units of work): never the tables or
# SQLAlchemy, so no SQL is written in a handler.
WEB_MAY_IMPORT_FROM_DB = {"chatdesk.db.runner"}


def _modules() -> Iterator[tuple[str, Path]]:
    for path in sorted(SRC.rglob("*.py")):
        parts = path.relative_to(SRC).with_suffix("").parts
        yield ".".join(("chatdesk", *parts)), path


def _layer(dotted: str) -> str:
    parts = dotted.split(".")
    first = parts[1] if len(parts) > 1 else "__init__"
    return LAYER_OF[first]


def _imports(module: str, path: Path) -> Iterator[tuple[int, str]]:
    """(line, imported module) for every chatdesk import, ``from chatdesk.x import y``
    counted as ``chatdesk.x.y`` when ``y`` is a module, else ``chatdesk.x``."""
    tree = ast.parse(path.read_text(), str(path))
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] in ("chatdesk", "sqlalchemy"):
                    yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            if base.split(".")[0] == "sqlalchemy":
                yield node.lineno, base
            if base.split(".")[0] != "chatdesk":
                continue
            for alias in node.names:
                candidate = f"{base}.{alias.name}"
                is_module = (SRC.parent / candidate.replace(".", "/")).with_suffix(".py").exists()
                is_package = (SRC.parent / candidate.replace(".", "/")).is_dir()
                yield node.lineno, candidate if is_module or is_package else base


def test_every_module_has_a_layer() -> None:
    unplaced = []
    for module, _path in _modules():
        try:
            _layer(module)
        except KeyError:
            unplaced.append(module)
    assert unplaced == [], "place these in LAYER_OF (and in docs/architecture.md)"


def test_imports_point_down_the_layers() -> None:
    wrong = []
    for module, path in _modules():
        layer = _layer(module)
        allowed = MAY_IMPORT[layer] | {layer}
        for line, imported in _imports(module, path):
            where = f"{path.relative_to(SRC)}:{line}"
            if imported.startswith("sqlalchemy"):
                if layer == "web":
                    wrong.append(f"{where} web builds no SQL: imports {imported}")
                continue
            target = _layer(imported)
            if layer == "web" and target == "db":
                if not any(imported.startswith(m) for m in WEB_MAY_IMPORT_FROM_DB):
                    wrong.append(f"{where} web imports {imported} (only the data path)")
                continue
            if target not in allowed:
                wrong.append(f"{where} {layer} imports {imported} ({target})")
    assert wrong == []


def _web_trees() -> Iterator[tuple[Path, ast.AST]]:
    for path in sorted((SRC / "web").glob("*.py")):
        yield path, ast.parse(path.read_text(), str(path))


def test_permissions_are_decided_in_access_and_actions_only() -> None:
    """Handlers may call access.py (require_role, has_role, access_*); they read no
    role or site membership of an actor themselves."""
    found = []
    for path, tree in _web_trees():
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and node.attr in {"at_least", "can_see_site"}:
                found.append(f"{path.name}:{node.lineno} .{node.attr}")
            if (
                isinstance(node, ast.Attribute)
                and node.attr in {"role", "site_ids"}
                and isinstance(node.value, ast.Name)
                and node.value.id == "actor"
            ):
                found.append(f"{path.name}:{node.lineno} actor.{node.attr}")
            if isinstance(node, ast.Name) and node.id in {"role_at_least", "ROLES"}:
                found.append(f"{path.name}:{node.lineno} {node.id}")
    assert found == []


def _all_trees() -> Iterator[tuple[Path, ast.AST]]:
    for _module, path in _modules():
        yield path, ast.parse(path.read_text(), str(path))


def test_principals_are_spelt_in_one_place() -> None:
    """``kind:id`` is written by security.principals.Principal only."""
    prefixes = {"o:", "v:", "operator:", "visitor:", "api_token:", "token:"}
    found = []
    for path, tree in _all_trees():
        if path == SRC / "security" / "principals.py":
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.JoinedStr) and node.values:
                head = node.values[0]
                if isinstance(head, ast.Constant) and head.value in prefixes:
                    found.append(f"{path.relative_to(SRC)}:{node.lineno} {head.value!r}")
    assert found == []


def test_routing_keys_are_built_in_one_place() -> None:
    """The hub's ``("all"|"s"|"v"|"ops", id)`` keys come from realtime.routing only."""
    found = []
    for path, tree in _all_trees():
        if path == SRC / "realtime" / "routing.py":
            continue
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Tuple)
                and len(node.elts) == 2
                and isinstance(node.elts[0], ast.Constant)
                and node.elts[0].value in {"all", "s", "v", "ops"}
            ):
                found.append(f"{path.relative_to(SRC)}:{node.lineno}")
    assert found == []
