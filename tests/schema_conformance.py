"""Every JSON answer a test gets through the app's ASGI client is checked against what
``/openapi.json`` declares for that operation and status (ADR 0009).

The routes declare their shapes for the schema only (nothing validates a response
at run time), so this is where a drift between the code and the schema fails: an
undeclared key, a missing one, a wrong type, or a body where the schema says none.
The schema's objects are checked closed here (``additionalProperties: false``),
though published open so that clients tolerate fields added later.
"""

from __future__ import annotations

import copy
import json
import re
from dataclasses import dataclass, field
from typing import Any

import httpx
import jsonschema_rs
from fastapi import FastAPI

__all__ = ["Conformance", "conformance_for"]


def _closed(node: Any) -> Any:
    """``node`` with every object that lists its properties closed to other keys."""
    if isinstance(node, list):
        return [_closed(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: _closed(value) for key, value in node.items()}
    if "properties" in out and "additionalProperties" not in out:
        out["additionalProperties"] = False
    return out


@dataclass
class Conformance:
    spec: dict[str, Any]
    _operations: list[tuple[str, re.Pattern[str], str]] = field(default_factory=list)
    _validators: dict[str, Any] = field(default_factory=dict)
    # (METHOD, path template, status) of every answer checked, for tests of coverage.
    seen: set[tuple[str, str, int]] = field(default_factory=set)

    def __post_init__(self) -> None:
        self._components = _closed(copy.deepcopy(self.spec.get("components", {})))
        for template, item in self.spec["paths"].items():
            pattern = re.compile("^" + re.sub(r"\{[^}]+\}", "[^/]+", template) + "$")
            for method in item:
                self._operations.append((method.upper(), pattern, template))

    def template(self, method: str, path: str) -> str | None:
        """The path template of the documented operation ``method path``, if any."""
        for op_method, pattern, template in self._operations:
            if op_method == method and pattern.match(path):
                return template
        return None

    def check(self, response: httpx.Response) -> None:
        """Fail if ``response`` is not what its operation declares for its status."""
        request = response.request
        template = self.template(request.method, request.url.path)
        if template is None:
            return
        responses = self.spec["paths"][template][request.method.lower()]["responses"]
        status = str(response.status_code)
        declared = responses.get(status) or responses.get("default")
        if declared is None:
            return
        media = response.headers.get("content-type", "").split(";")[0].strip()
        if media == "text/event-stream":
            return  # a stream: its events are checked as a long-poll's
        self.seen.add((request.method, template, response.status_code))
        content = declared.get("content", {})
        body = response.read()
        label = f"{request.method} {request.url.path} -> {status}"
        if not content:
            assert body == b"", f"{label}: a body where the schema declares none: {body[:200]!r}"
            return
        assert media in content, f"{label}: {media!r} is not among {sorted(content)}"
        schema = content[media].get("schema")
        if media != "application/json" or not schema:
            return
        errors = [str(error) for error in self._validator(schema).iter_errors(json.loads(body))]
        assert not errors, f"{label}: the body does not match the schema: {errors[:3]}"

    def _validator(self, schema: dict[str, Any]) -> Any:
        key = json.dumps(schema, sort_keys=True)
        if key not in self._validators:
            document = {**_closed(schema), "components": self._components}
            self._validators[key] = jsonschema_rs.validator_for(document)
        return self._validators[key]

    def hook(self, response: httpx.Response) -> None:
        self.check(response)


_ONE: list[Conformance] = []


def conformance_for(app: FastAPI) -> Conformance:
    """The checker for chatdesk's schema, built once per run: every app has the same
    routes, and building the schema costs more than a test's requests."""
    if not _ONE:
        _ONE.append(Conformance(app.openapi()))
    return _ONE[0]
