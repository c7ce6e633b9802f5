"""Vendored front-end files are exactly the pinned npm packages' (no build step: the
browser runs the copy in static/vendor, so it must not drift from package-lock.json)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from chatdesk.web.assets import STATIC_DIR

ROOT = Path(__file__).resolve().parents[1]
# package -> {file in node_modules/<package>: file in static/vendor/<package>}
VENDORED = {
    "linkifyjs": {"dist/linkify.mjs": "linkify.mjs", "LICENSE": "LICENSE"},
    # The package ships no licence file; the copy's LICENSE is the upstream repository's.
    "qrcode-generator": {"dist/qrcode.mjs": "qrcode.mjs"},
    "uplot": {
        "dist/uPlot.esm.js": "uPlot.esm.js",
        "dist/uPlot.min.css": "uPlot.min.css",
        "LICENSE": "LICENSE",
    },
}


@pytest.mark.parametrize("package", sorted(VENDORED))
def test_the_vendored_copy_is_the_pinned_package(package: str) -> None:
    lock = json.loads((ROOT / "package-lock.json").read_text())
    pinned = lock["packages"][f"node_modules/{package}"]["version"]
    assert json.loads((ROOT / "package.json").read_text())["dependencies"][package] == pinned
    vendor = STATIC_DIR / "vendor" / package
    assert f"**{pinned}**" in (vendor / "README.md").read_text()
    installed = ROOT / "node_modules" / package
    manifest = installed / "package.json"
    assert manifest.exists(), "run `make node_modules/.installed` (npm ci) first"
    assert json.loads(manifest.read_text())["version"] == pinned
    for source, copy in VENDORED[package].items():
        assert (vendor / copy).read_bytes() == (installed / source).read_bytes(), copy
