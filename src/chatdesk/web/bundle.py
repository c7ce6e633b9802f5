"""One file for the widget frame's first open: its ES modules joined by the server (ADR 0028).

The frame is written as small ES modules, served as they are (no build step). Each
module was a request of its own, and each response carries its headers: a dozen
modules cost more in headers than the largest of them in bytes. So the server joins
the modules an entry imports (statically, transitively) into one module, once per
process, and serves it under the versioned static prefix beside the entry
(``widget/frame.js`` -> ``widget/frame.bundle.js``).

The join is deliberately small, for the way our modules are written (checked here,
refused otherwise):

- ``import { a, b as c } from "./x.js";`` at the start of a line (relative paths);
- ``export function``, ``export async function``, ``export class``, ``export const``.

Lines that are only a comment are left out (as the loader's are, ADR 0024).

Each imported module becomes a function scope that returns its exports, evaluated
once, in the order the browser would evaluate them (depth first, in import order);
its importers destructure what they import from it. Exports are read once, so an
exported ``let`` (a live binding) is refused. Dynamic ``import()`` and
``import.meta.url`` are left alone: they resolve against the bundle's URL, which is
in the entry's folder, so a module of another folder may use neither.
Modules loaded later (``import("./uploads.js")``) are separate files as before;
what they import statically is loaded as its own module again, so they import only
modules without state (``dom.js``).
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

__all__ = ["BUNDLES", "BundleError", "bundle", "bundle_name"]

# The entries that are served joined (their first-open path): the widget's frame.
BUNDLES = ("widget/frame.js",)

_IMPORT = re.compile(r'^import\s*\{([^}]*)\}\s*from\s*"(\.{1,2}/[^"]+)";[ \t]*$', re.M)
_ANY_IMPORT = re.compile(r"^import\b(?!\s*\()", re.M)
_EXPORT = re.compile(r"^export\s+(?:async\s+function\*?|function\*?|class|const)\s+([\w$]+)", re.M)
_ANY_EXPORT = re.compile(r"^export\b", re.M)
_NAME = re.compile(r"^[\w$]+$")


class BundleError(ValueError):
    """A module written in a way the join does not handle."""


@dataclass
class _Module:
    path: str  # relative to the static folder, posix
    source: str
    imports: list[tuple[str, list[tuple[str, str]]]] = field(default_factory=list)
    exports: list[str] = field(default_factory=list)


def bundle_name(entry: str) -> str:
    """``widget/frame.js`` -> ``widget/frame.bundle.js``."""
    return entry.removesuffix(".js") + ".bundle.js"


def _specifiers(text: str, where: str) -> list[tuple[str, str]]:
    """``a, b as c`` -> [("a", "a"), ("b", "c")] (exported name, local name)."""
    pairs = []
    for part in text.split(","):
        words = part.split()
        if not words:
            continue
        if len(words) == 1 and _NAME.match(words[0]):
            pairs.append((words[0], words[0]))
        elif len(words) == 3 and words[1] == "as" and _NAME.match(words[0] + words[2]):
            pairs.append((words[0], words[2]))
        else:
            raise BundleError(f"{where}: cannot join the import of {part.strip()!r}")
    return pairs


def _read(static: Path, path: str) -> _Module:
    source = (static / path).read_text("utf-8")
    module = _Module(path, source)
    folder = posixpath.dirname(path)
    for match in _IMPORT.finditer(source):
        target = posixpath.normpath(posixpath.join(folder, match.group(2)))
        module.imports.append((target, _specifiers(match.group(1), path)))
    if len(_ANY_IMPORT.findall(source)) != len(module.imports):
        raise BundleError(f"{path}: an import the join does not handle")
    module.exports = _EXPORT.findall(source)
    if len(_ANY_EXPORT.findall(source)) != len(module.exports):
        raise BundleError(f"{path}: an export the join does not handle")
    return module


def _order(static: Path, entry: str) -> list[_Module]:
    """The entry's static imports, each once, in evaluation order (the entry last)."""
    done: dict[str, _Module] = {}
    visiting: set[str] = set()

    def visit(path: str) -> None:
        if path in done:
            return
        if path in visiting:
            raise BundleError(f"{path}: an import cycle")
        visiting.add(path)
        module = _read(static, path)
        for target, _names in module.imports:
            visit(target)
        visiting.discard(path)
        done[path] = module

    visit(entry)
    return list(done.values())


def _without_comment_lines(source: str) -> str:
    """The lines that are only a ``//`` comment left out (the reasons stay in the files).

    Not in a module with a template literal over several lines, where such a line
    may be text."""
    lines = source.split("\n")
    if any(line.count("`") % 2 for line in lines):
        return source
    return "\n".join(line for line in lines if not line.lstrip().startswith("//"))


def _join(static: Path, entry: str) -> str:
    modules = _order(static, entry)
    folder = posixpath.dirname(entry)
    scope = {module.path: f"$m{index}" for index, module in enumerate(modules)}
    parts = [f"// Joined by the server (ADR 0028): {entry} and the modules it imports.\n"]
    by_path = {m.path: m for m in modules}
    for module in modules:

        def rewrite(match: re.Match[str], module: _Module = module) -> str:
            target = posixpath.normpath(
                posixpath.join(posixpath.dirname(module.path), match.group(2))
            )
            pairs = _specifiers(match.group(1), module.path)
            for name, _local in pairs:
                if name not in by_path[target].exports:
                    raise BundleError(f"{module.path}: {target} does not export {name}")
            names = ", ".join(n if n == local else f"{n}: {local}" for n, local in pairs)
            return f"const {{ {names} }} = {scope[target]};"

        body = _IMPORT.sub(rewrite, _without_comment_lines(module.source))
        body = _ANY_EXPORT.sub("", body)
        if posixpath.dirname(module.path) != folder and (
            "import.meta" in body or "import(" in body
        ):
            raise BundleError(f"{module.path}: resolves URLs outside {folder}/")
        if module.path == entry:
            parts.append(f"// {module.path}\n{body}")
        else:
            exported = ", ".join(module.exports)
            parts.append(
                f"// {module.path}\nconst {scope[module.path]} = (() => {{\n{body}"
                f"return {{ {exported} }};\n}})();\n"
            )
    return "".join(parts)


@cache
def bundle(static: Path, entry: str) -> bytes:
    """The joined module for ``entry`` (a path under ``static``), built once."""
    return _join(static, entry).encode()
