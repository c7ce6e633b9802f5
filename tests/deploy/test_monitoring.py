"""The monitoring kit: alert rules and the Prometheus config pass Debian's ``promtool``
(syntax and the rules' unit tests), and every metric the alerts and the Grafana
dashboard query is one chatdesk's ``/metrics`` really exports."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml  # PyYAML, a dependency of schemathesis (dev)
from fastapi.testclient import TestClient

from chatdesk.app import create_app
from chatdesk.settings import Settings

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
PROMETHEUS = DEPLOY / "prometheus"
DASHBOARD = DEPLOY / "grafana" / "chatdesk.json"
# Series that come from Prometheus itself (up) and the blackbox exporter (probe_success).
NOT_CHATDESKS = {"up", "probe_success"}
_SELECTOR = re.compile(r"\b([a-zA-Z_:][a-zA-Z0-9_:]*)\s*\{")
_OURS = re.compile(r"\bchatdesk_[a-z0-9_]+")


def promtool(*args: str | Path) -> str:
    tool = shutil.which("promtool") or "/usr/bin/promtool"
    if not Path(tool).exists():  # fail, never skip: the kit must be checked
        pytest.fail("promtool is missing: apt-get install prometheus")
    done = subprocess.run([tool, *map(str, args)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> set[str]:
    """The series names a running chatdesk serves on /metrics."""
    database = tmp_path_factory.mktemp("metrics") / "chatdesk.db"
    settings = Settings(env="test", database_url=f"sqlite:///{database}", rate_limits="off")
    with TestClient(create_app(settings), client=("127.0.0.1", 40000)) as client:
        assert client.get("/healthz").status_code == 200
        response = client.get("/metrics")
    assert response.status_code == 200
    names = set()
    for line in response.text.splitlines():
        if line.startswith("# TYPE "):
            names.add(line.split()[2])
        elif line and not line.startswith("#"):
            names.add(re.split(r"[{ ]", line, maxsplit=1)[0])
    assert "chatdesk_http_requests_total" in names  # the parse found the real thing
    return names


def alert_rules() -> list[dict[str, Any]]:
    groups = yaml.safe_load((PROMETHEUS / "alerts.yml").read_text())["groups"]
    return [rule for group in groups for rule in group["rules"]]


def dashboard_queries() -> list[str]:
    board = json.loads(DASHBOARD.read_text())
    queries = [target["expr"] for panel in board["panels"] for target in panel.get("targets", [])]
    queries += [
        var["query"]["query"] for var in board["templating"]["list"] if var["type"] == "query"
    ]
    return queries


def metric_names(expressions: list[str]) -> set[str]:
    names = set()
    for expr in expressions:
        found = set(_SELECTOR.findall(expr))
        # Every chatdesk series is written with a selector, so none escapes the check.
        assert set(_OURS.findall(expr)) <= found, expr
        names |= found
    return names


def test_alert_rules_and_config_pass_promtool() -> None:
    assert "SUCCESS: 11 rules found" in promtool("check", "rules", PROMETHEUS / "alerts.yml")
    assert "SUCCESS" in promtool("test", "rules", PROMETHEUS / "alerts.test.yml")
    promtool("check", "config", PROMETHEUS / "prometheus.yml")


def test_the_alerts_cover_what_production_needs() -> None:
    rules = {rule["alert"]: rule for rule in alert_rules()}
    needed = {
        "ChatdeskHigh5xxRate": "chatdesk_http_requests_total",
        "ChatdeskNotReady": "probe_success",
        "ChatdeskRateLimitRejections": "chatdesk_rate_limit_rejections_total",
        "ChatdeskWritesFailing": "chatdesk_http_requests_total",
        "ChatdeskWriterBacklog": "chatdesk_db_write_queue",
        "ChatdeskManyOpenStreams": "chatdesk_open_streams",
        "ChatdeskDatabaseUnavailable": "chatdesk_database_unavailable_total",
        "ChatdeskRedisDown": "chatdesk_bus_connected",
        "ChatdeskOutboxStuck": "chatdesk_outbox_oldest_pending_seconds",
    }
    for alert, metric in needed.items():
        assert metric in rules[alert]["expr"], alert
    for rule in rules.values():
        assert rule["labels"]["severity"] in {"critical", "warning"}
        assert rule["annotations"]["summary"] and rule["annotations"]["description"]


def test_alerts_query_only_exported_metrics(exported: set[str]) -> None:
    names = metric_names([rule["expr"] for rule in alert_rules()])
    assert names - exported - NOT_CHATDESKS == set()
    assert names & exported


def test_dashboard_queries_only_exported_metrics(exported: set[str]) -> None:
    names = metric_names(dashboard_queries())
    assert names - exported - NOT_CHATDESKS == set()
    # Everything chatdesk exports is on the dashboard (the _created gauges are bookkeeping).
    ours = {name for name in exported if name.startswith("chatdesk_")}
    ours = {name for name in ours if not name.endswith("_created")}
    ours -= {
        "chatdesk_http_request_duration_seconds",
        "chatdesk_http_request_duration_seconds_count",
    }
    ours -= {"chatdesk_http_request_duration_seconds_sum"}
    assert ours - names == set()


def test_dashboard_is_valid_json_and_promql(tmp_path: Path) -> None:
    board = json.loads(DASHBOARD.read_text())
    assert board["uid"] == "chatdesk"
    ids = [panel["id"] for panel in board["panels"]]
    assert len(ids) == len(set(ids))
    for panel in board["panels"]:
        if panel["type"] != "row":
            assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
            assert panel["targets"], panel["title"]
    # promtool parses every query, with Grafana's variables filled in as Grafana would.
    rules = [
        {
            "record": f"dashboard:query_{index}",
            "expr": query.replace("$__rate_interval", "1m").replace("$instance", ".*"),
        }
        for index, query in enumerate(dashboard_queries())
        if not query.startswith("label_values(")
    ]
    path = tmp_path / "dashboard.rules.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    assert f"SUCCESS: {len(rules)} rules found" in promtool("check", "rules", path)
