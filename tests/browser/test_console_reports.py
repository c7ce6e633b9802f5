"""Reports in the console: the charts are drawn (uPlot's canvas), the tables behind them
hold the numbers the API gives, the CSV links download CSV, and every control has a name."""

from __future__ import annotations

import csv
import io
import re
import secrets
from contextlib import suppress
from pathlib import Path

from playwright.sync_api import Browser, Page, expect
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

from chatdesk.settings import Settings
from tests.browser.console_helpers import (
    DESKTOP,
    PHONE,
    DialogWatch,
    OperatorApi,
    Visitor,
    assert_no_sideways_scroll,
    assert_on_screen,
    check_layout,
    direct_operator,
    new_page,
    screenshot,
    sign_in_with,
)
from tests.conftest import LiveServer


def test_the_reports_page_draws_charts_with_their_numbers(
    browser: Browser, live_server: LiveServer, settings: Settings, screenshot_dir: Path
) -> None:
    url = live_server.url
    setup = OperatorApi(url, direct_operator(settings))
    site = setup.create_site("Northwind Shop")
    for score in (4, 2):
        visitor = Visitor(url, site["site_key"], {"name": "Vera"})
        conversation = visitor.start("Do you ship to Norway?")
        path = f"/api/v1/conversations/{conversation['id']}"
        reply = {"body": "We do.", "client_msg_id": secrets.token_hex(8)}
        setup.call("POST", f"{path}/messages", reply, 201)
        setup.call("PATCH", path, {"status": "resolved"})
        rating = {"score": score, "comment": f"Scored {score}"}
        response = visitor.http.post(
            f"/api/v1/widget/conversations/{conversation['id']}/rating",
            json=rating,
            headers={"Authorization": f"Bearer {visitor.token}"},
        )
        assert response.status_code == 201, response.text
        visitor.close()
    summary = setup.call("GET", "/api/v1/reports/summary?tz=Europe/Paris")
    assert summary["conversations"] == 2 and summary["csat"] == {"average": 3.0, "count": 2}

    with new_page(browser, timezone_id="Europe/Paris") as page:
        watch = DialogWatch(page)
        sign_in_with(page, setup, "/admin/reports")
        expect(page.locator("#report-zone")).to_contain_text("Europe/Paris")
        # One chart per metric, drawn on a canvas.
        expect(page.locator("#report-charts .report-chart canvas")).to_have_count(5)
        facts = page.locator("#report-summary")
        expect(facts.locator("dt", has_text="Conversations").locator("+ dd")).to_have_text("2")
        expect(facts.locator("dt", has_text="Messages").locator("+ dd")).to_have_text("4")
        expect(facts.locator("dt", has_text="Satisfaction").locator("+ dd")).to_have_text(
            "3.00 / 5"
        )
        # The table behind the conversations chart: today's bucket holds both.
        chart = page.locator("#chart-conversations")
        chart.get_by_text("Show the numbers").click()
        cells = chart.locator("tbody td")
        expect(cells).to_have_count(30)
        assert sum(int(text) for text in cells.all_inner_texts()) == 2
        sites = page.locator("#report-sites tbody tr")
        expect(sites).to_have_count(1)
        expect(sites.first.locator("th")).to_have_text("Northwind Shop")
        expect(page.locator("#report-ratings")).to_contain_text("Scored 2")
        heat = page.locator("#report-heatmap tbody td")
        expect(heat).to_have_count(7 * 24)
        assert sum(int(text) for text in heat.all_inner_texts()) == 2
        check_layout(page)
        # The CSV link downloads the same figures.
        href = page.locator("#chart-conversations a[download]").get_attribute("href")
        assert href and "format=csv" in href and "tz=Europe%2FParis" in href
        answer = page.request.get(url + href)
        assert answer.headers["content-type"].startswith("text/csv")
        rows = list(csv.DictReader(io.StringIO(answer.text())))
        assert len(rows) == 30 and sum(int(r["conversations"]) for r in rows) == 2
        with page.expect_download() as download:
            page.locator("#csv-summary").click()
        saved = Path(download.value.path()).read_text()
        assert dict(csv.reader(io.StringIO(saved)))["conversations"] == "2"
        # Another interval redraws from the API.
        page.get_by_label("Chart by").select_option("week")
        page.get_by_role("button", name="Show").click()
        expect(page.locator("#report-status")).to_contain_text("Showing")
        expect(page.locator("#chart-conversations a[download]")).to_have_attribute(
            "href", re.compile("interval=week")
        )
        screenshot(page, screenshot_dir, "console-reports", full_page=True)
        assert watch.errors == []
    setup.close()


# Each chart against the box it is drawn in: [box width, chart width, box's right edge].
CHART_WIDTHS = """
() => [...document.querySelectorAll('#report-charts .report-chart')].map((box) => {
  const chart = box.querySelector('.uplot canvas').getBoundingClientRect();
  const room = box.getBoundingClientRect();
  return [Math.round(room.width), Math.round(chart.width), Math.round(room.right)];
})
"""
CHARTS_FIT = """
() => {
  const boxes = [...document.querySelectorAll('#report-charts .report-chart')];
  return boxes.length === 5 && boxes.every((box) => {
    const chart = box.querySelector('.uplot canvas');
    return chart && Math.abs(chart.getBoundingClientRect().width - box.clientWidth) <= 1;
  });
}
"""


def _charts_fit(page: Page) -> None:
    """Every chart is exactly as wide as its box, and every box is inside the window."""
    with suppress(PlaywrightTimeoutError):  # the assertion below says which chart is off
        page.wait_for_function(CHARTS_FIT, timeout=5000)
    width = page.evaluate("window.innerWidth")
    for room, chart, right in page.evaluate(CHART_WIDTHS):
        assert abs(room - chart) <= 1 and right <= width, (room, chart, right, width)


def test_the_reports_page_fits_a_phone_and_its_charts_follow_the_window(
    browser: Browser, live_server: LiveServer, settings: Settings, screenshot_dir: Path
) -> None:
    url = live_server.url
    setup = OperatorApi(url, direct_operator(settings))
    long_name = "Northwind Outdoor Equipment and Trail Running Shop, Scandinavia"
    site = setup.create_site(long_name)
    visitor = Visitor(url, site["site_key"], {"name": "Vera"})
    visitor.start("Do you ship to Norway?")
    visitor.close()

    with new_page(browser, PHONE) as page:
        watch = DialogWatch(page)
        sign_in_with(page, setup, "/admin/reports")
        expect(page.locator("#report-charts .report-chart canvas")).to_have_count(5)
        assert_no_sideways_scroll(page)
        site_picker = page.get_by_role("combobox", name="Site", exact=True)
        chart_by = page.get_by_role("combobox", name="Chart by")
        assert_on_screen(site_picker, "the Site picker")
        assert_on_screen(chart_by, "the Chart by picker")
        assert_on_screen(page.get_by_role("button", name="Show"), "Show")
        summary = page.get_by_role("region", name="Summary")
        assert_on_screen(summary.get_by_role("link", name="Download CSV: summary"), "summary CSV")
        assert_on_screen(summary.locator("dd").last, "the summary's last figure")
        _charts_fit(page)
        # The hour-by-day table is wider than a phone: it scrolls in its own named box.
        heat = page.get_by_role("region", name=re.compile("^Conversations started by weekday"))
        assert heat.evaluate("(box) => box.scrollWidth > box.clientWidth")
        assert_on_screen(heat, "the busiest hours' scrolling box")
        screenshot(page, screenshot_dir, "console-reports-390", full_page=True)

        # The pickers work where they are, and the page redrawn still fits.
        site_picker.select_option(label=long_name)
        chart_by.select_option("week")
        page.get_by_role("button", name="Show").click()
        expect(page.locator("#chart-conversations a[download]")).to_have_attribute(
            "href", re.compile("interval=week")
        )
        assert_no_sideways_scroll(page)
        _charts_fit(page)

        # Wider, then narrow again: the charts are resized with their boxes.
        page.set_viewport_size(DESKTOP)
        _charts_fit(page)
        assert page.evaluate(CHART_WIDTHS)[0][1] > 900
        screenshot(page, screenshot_dir, "console-reports-1280", full_page=True)
        page.set_viewport_size(PHONE)
        _charts_fit(page)
        assert page.evaluate(CHART_WIDTHS)[0][1] < PHONE["width"]
        assert_no_sideways_scroll(page)
        assert watch.errors == []
    setup.close()
