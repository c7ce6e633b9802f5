"""The server's join of the frame's modules (web/bundle.py, ADR 0028): what it handles,
what it refuses, and that the joined file runs as the modules did (in Node)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from chatdesk.web.bundle import BundleError, bundle

NODE = shutil.which("node")


def _tree(tmp_path: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    return tmp_path


def test_modules_join_in_evaluation_order_with_their_own_scopes(tmp_path: Path) -> None:
    static = _tree(
        tmp_path,
        {
            "w/main.js": 'import { a, twice as double } from "./a.js";\n'
            'import { b } from "../s/b.js";\n'
            "const seen = [];\n"
            "seen.push(a(), double(2), b);\n"
            "console.log(JSON.stringify(seen));\n",
            # Each module's own names stay its own (both have "hidden").
            "w/a.js": 'import { b } from "../s/b.js";\n'
            "// a comment line, left out\n"
            "const hidden = 1;\n"
            "export function a() {\n  return hidden + b;\n}\n"
            "export const twice = (n) => n * 2;\n",
            "s/b.js": "const hidden = 40;\nexport const b = hidden;\n",
        },
    )
    joined = bundle(static, "w/main.js").decode()
    assert (
        joined.index("// s/b.js\n") < joined.index("// w/a.js\n") < joined.index("// w/main.js\n")
    )
    assert joined.count("// s/b.js") == 1  # imported twice, joined once
    assert "a comment line" not in joined
    if NODE is None:
        pytest.fail("node is missing")
    out = tmp_path / "joined.mjs"
    out.write_text(joined)
    run = subprocess.run([NODE, str(out)], capture_output=True, text=True, check=True)
    assert run.stdout.strip() == "[41,4,40]"


@pytest.mark.parametrize(
    ("source", "why"),
    [
        ('import * as m from "./b.js";\n', "an import"),
        ('import b from "./b.js";\n', "an import"),
        ("export let x = 1;\n", "an export"),
        ("export default 1;\n", "an export"),
        ('import { nope } from "./b.js";\n', "does not export"),
        ('import { b } from "./c.js";\n', "an import cycle"),
    ],
)
def test_what_the_join_does_not_handle_is_refused(tmp_path: Path, source: str, why: str) -> None:
    static = _tree(
        tmp_path,
        {
            "main.js": source,
            "b.js": "export const b = 1;\n",
            "c.js": 'import { c2 } from "./c2.js";\nexport const c = 1;\n',
            "c2.js": 'import { c } from "./c.js";\nexport const c2 = 2;\n',
        },
    )
    if why == "an import cycle":
        static = _tree(tmp_path, {"main.js": 'import { c } from "./c.js";\n'})
    with pytest.raises(BundleError, match=why):
        bundle(static, "main.js")


def test_a_module_of_another_folder_may_not_resolve_urls(tmp_path: Path) -> None:
    static = _tree(
        tmp_path,
        {
            "w/main.js": 'import { f } from "../s/f.js";\n',
            "s/f.js": 'export const f = () => import("./later.js");\n',
        },
    )
    with pytest.raises(BundleError, match="resolves URLs"):
        bundle(static, "w/main.js")
