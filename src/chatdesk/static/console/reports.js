// Reports: the summary, one chart per metric (uPlot, loaded only on this page) with a
// table of its numbers, the figures by site and agent, the busiest hours and the ratings.
// Times are the browser's zone; every table can be downloaded as CSV.
import { api } from "./api.js";
import "./chrome.js";
import { clear, h } from "./dom.js";
import { followPresence } from "./presence.js";

const ZONE = Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
const DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"];
const METRICS = [
  { key: "conversations", title: "Conversations", kind: "count" },
  { key: "messages", title: "Messages", kind: "count" },
  { key: "first_response", title: "First response time (median)", kind: "seconds" },
  { key: "resolution", title: "Resolution time (median)", kind: "seconds" },
  { key: "csat", title: "Satisfaction (average rating)", kind: "score" },
];

const form = document.getElementById("report-filters");
const fields = {
  from: document.getElementById("report-from"),
  to: document.getElementById("report-to"),
  site: document.getElementById("report-site"),
  hours: document.getElementById("report-hours"),
  interval: document.getElementById("report-interval"),
};
const errorLine = document.getElementById("report-error");
const statusLine = document.getElementById("report-status");
const CHART_HEIGHT = 220;
let uPlotModule = null;
const charts = [];
// Each chart is as wide as its box, and follows it when the box changes (a phone turned,
// a window resized): a chart of fixed width would hold the page wider than the screen.
const chartOf = new WeakMap();
const chartSizes = new ResizeObserver((entries) => {
  for (const entry of entries) {
    const plot = chartOf.get(entry.target);
    const width = Math.floor(entry.contentRect.width);
    if (plot && width > 0 && width !== plot.width) {
      plot.setSize({ width, height: CHART_HEIGHT });
    }
  }
});

function isoDay(date) {
  const pad = (n) => String(n).padStart(2, "0");
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}`;
}

function params(extra = {}) {
  const query = new URLSearchParams({
    from: fields.from.value,
    to: fields.to.value,
    tz: ZONE,
    hours: fields.hours.value,
    ...extra,
  });
  if (fields.site.value) query.set("site_id", fields.site.value);
  return query;
}

function reportPath(name, extra = {}) {
  return `/api/v1/reports/${name}?${params(extra)}`;
}

/** Seconds as words: 45 s, 3 min 20 s, 2 h 5 min, 3 d 4 h. */
function duration(seconds) {
  if (seconds === null || seconds === undefined) return "—";
  const s = Math.round(seconds);
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
  return `${Math.floor(s / 86400)} d ${Math.floor((s % 86400) / 3600)} h`;
}

function shown(value, kind) {
  if (value === null || value === undefined) return "—";
  if (kind === "seconds") return duration(value);
  if (kind === "score") return `${Number(value).toFixed(2)} / 5`;
  return String(value);
}

function bucketLabel(point, interval) {
  const when = new Date(point.t);
  const options = { timeZone: ZONE, dateStyle: "medium" };
  if (interval === "hour") options.timeStyle = "short";
  const text = new Intl.DateTimeFormat(undefined, options).format(when);
  return interval === "week" ? `Week of ${text}` : text;
}

/** A table of figures; a wide one scrolls inside its own box, never the page. */
function table(caption, head, rows) {
  return scrolling(
    caption,
    h(
      "table",
      { class: "table report-table" },
      h("caption", { text: caption }),
      h(
        "thead",
        {},
        h(
          "tr",
          {},
          head.map((text) => h("th", { scope: "col", text })),
        ),
      ),
      h(
        "tbody",
        {},
        rows.map(([first, ...rest]) =>
          h(
            "tr",
            {},
            h("th", { scope: "row", text: first }),
            rest.map((text) => h("td", { text })),
          ),
        ),
      ),
    ),
  );
}

/** The box a table scrolls in when it is wider than the page: named, and reachable by
 * keyboard so its hidden part can be scrolled into view. */
function scrolling(caption, tableNode) {
  return h(
    "div",
    { class: "table-wrap", role: "region", "aria-label": caption, tabindex: "0" },
    tableNode,
  );
}

function setCsv(id, href) {
  document.getElementById(id).setAttribute("href", href);
}

function renderSummary(summary) {
  const list = clear(document.getElementById("report-summary"));
  const facts = [
    ["Conversations", summary.conversations],
    ["Messages", summary.messages],
    ["First response, median", duration(summary.first_response_seconds.median)],
    ["First response, 90th percentile", duration(summary.first_response_seconds.p90)],
    ["Resolution, median", duration(summary.resolution_seconds.median)],
    ["Resolution, 90th percentile", duration(summary.resolution_seconds.p90)],
    ["Satisfaction", shown(summary.csat.average, "score")],
    ["Ratings", summary.csat.count],
  ];
  for (const [term, value] of facts) {
    list.append(h("dt", { text: term }), h("dd", { text: String(value) }));
  }
  setCsv("csv-summary", reportPath("summary", { format: "csv" }));
}

async function uPlot() {
  if (!uPlotModule) uPlotModule = (await import("../vendor/uplot/uPlot.esm.js")).default;
  return uPlotModule;
}

/** Adds a metric's card to `box`, then draws its chart at the width the card has there. */
function chartCard(box, metric, interval, points, Plot) {
  const id = `chart-${metric.key}`;
  const csv = reportPath("timeseries", { metric: metric.key, interval, format: "csv" });
  const plotBox = h("div", {
    class: "report-chart",
    role: "img",
    "aria-label": `${metric.title} per ${interval}: a chart; the table below has its numbers.`,
  });
  const card = h(
    "section",
    { class: "card report-card", id, "aria-labelledby": `${id}-title` },
    h(
      "div",
      { class: "card-head" },
      h("h2", { id: `${id}-title`, text: metric.title }),
      h("a", {
        class: "button",
        href: csv,
        download: true,
        "aria-label": `Download CSV: ${metric.title.toLowerCase()} per ${interval}`,
        text: "Download CSV",
      }),
    ),
    plotBox,
    h(
      "details",
      { class: "report-numbers" },
      h("summary", { text: "Show the numbers" }),
      table(
        `${metric.title} per ${interval} (${ZONE})`,
        [interval[0].toUpperCase() + interval.slice(1), metric.title],
        points.map((point) => [bucketLabel(point, interval), shown(point.value, metric.kind)]),
      ),
    ),
  );
  box.append(card);
  const xs = points.map((point) => Date.parse(point.t) / 1000);
  const ys = points.map((point) => point.value);
  const plot = new Plot(
    {
      width: Math.max(1, Math.floor(plotBox.clientWidth)),
      height: CHART_HEIGHT,
      tzDate: (seconds) => Plot.tzDate(new Date(seconds * 1000), ZONE),
      legend: { show: false },
      series: [{}, { label: metric.title, stroke: "#2563eb", width: 2, spanGaps: false }],
      axes: [
        {},
        {
          size: metric.kind === "count" ? 50 : 90,
          values: (_u, ticks) => ticks.map((value) => shown(value, metric.kind)),
        },
      ],
    },
    [xs, ys],
    plotBox,
  );
  charts.push(plot);
  chartOf.set(plotBox, plot);
  chartSizes.observe(plotBox);
}

function figureRows(rows, nameOf) {
  return rows.map((row) => [
    nameOf(row),
    String(row.conversations),
    String(row.resolved),
    duration(row.first_response_seconds.median),
    duration(row.resolution_seconds.median),
    shown(row.csat.average, "score"),
  ]);
}

const FIGURE_HEAD = [
  "Conversations",
  "Resolved",
  "First response (median)",
  "Resolution (median)",
  "Satisfaction",
];

function renderSites(report) {
  const box = clear(document.getElementById("report-sites"));
  box.append(
    table(
      "Figures by site",
      ["Site", ...FIGURE_HEAD],
      figureRows(report.sites, (s) => s.name),
    ),
  );
  setCsv("csv-sites", reportPath("sites", { format: "csv" }));
}

function renderAgents(report) {
  const box = clear(document.getElementById("report-agents"));
  const name = (row) => row.name || (row.operator_id ? row.operator_id : "Unassigned");
  box.append(
    table("Figures by assignee", ["Agent", ...FIGURE_HEAD], figureRows(report.agents, name)),
  );
  setCsv("csv-agents", reportPath("agents", { format: "csv" }));
}

function renderHeatmap(report) {
  const box = clear(document.getElementById("report-heatmap"));
  const most = Math.max(1, ...report.cells.map((cell) => cell.conversations));
  const hours = Array.from({ length: 24 }, (_, hour) => String(hour).padStart(2, "0"));
  const rows = DAYS.map((day, weekday) =>
    h(
      "tr",
      {},
      h("th", { scope: "row", text: day }),
      report.cells
        .filter((cell) => cell.weekday === weekday)
        .map((cell) =>
          h("td", {
            class: `heat heat-${Math.ceil((cell.conversations / most) * 4)}`,
            title: `${day} ${hours[cell.hour]}:00 — ${cell.conversations} conversations`,
            text: String(cell.conversations),
          }),
        ),
    ),
  );
  const caption = `Conversations started by weekday and hour (${ZONE})`;
  box.append(
    scrolling(
      caption,
      h(
        "table",
        { class: "table heatmap-table" },
        h("caption", { text: caption }),
        h(
          "thead",
          {},
          h(
            "tr",
            {},
            h("th", { scope: "col", text: "Day" }),
            hours.map((hour) => h("th", { scope: "col", text: hour })),
          ),
        ),
        h("tbody", {}, rows),
      ),
    ),
  );
  setCsv("csv-heatmap", reportPath("heatmap", { format: "csv" }));
}

function renderRatings(report) {
  const box = clear(document.getElementById("report-ratings"));
  box.append(
    table(
      `Ratings: average ${shown(report.csat.average, "score")} of ${report.csat.count}`,
      ["Score", "Ratings"],
      report.distribution.map((row) => [`${row.score} / 5`, String(row.count)]),
    ),
    h("h3", { text: "Newest comments" }),
    report.recent.length
      ? h(
          "ul",
          { class: "report-comments" },
          report.recent.map((row) =>
            h(
              "li",
              {},
              h("strong", { text: `${row.score} / 5` }),
              " ",
              h("a", {
                href: `/admin/conversations/${encodeURIComponent(row.conversation_id)}`,
                text: row.comment,
              }),
            ),
          ),
        )
      : h("p", { class: "muted small", text: "No comments in this period." }),
  );
  setCsv("csv-ratings", reportPath("ratings", { format: "csv" }));
}

async function refresh() {
  errorLine.textContent = "";
  statusLine.textContent = "Loading…";
  const interval = fields.interval.value;
  try {
    const [summary, sites, agents, heatmap, ratings, Plot, ...series] = await Promise.all([
      api("GET", reportPath("summary")),
      api("GET", reportPath("sites")),
      api("GET", reportPath("agents")),
      api("GET", reportPath("heatmap")),
      api("GET", reportPath("ratings")),
      uPlot(),
      ...METRICS.map((metric) =>
        api("GET", reportPath("timeseries", { metric: metric.key, interval })),
      ),
    ]);
    renderSummary(summary);
    chartSizes.disconnect();
    for (const plot of charts.splice(0)) plot.destroy();
    const box = clear(document.getElementById("report-charts"));
    METRICS.forEach((metric, index) => {
      chartCard(box, metric, interval, series[index].points, Plot);
    });
    renderSites(sites);
    renderAgents(agents);
    renderHeatmap(heatmap);
    renderRatings(ratings);
    statusLine.textContent = `Showing ${fields.from.value} to ${fields.to.value}.`;
    document.body.dataset.ready = "1";
  } catch (error) {
    statusLine.textContent = "";
    errorLine.textContent = error.message;
  }
}

async function loadSites() {
  const { sites } = await api("GET", "/api/v1/inbox/sites");
  for (const site of sites) fields.site.append(h("option", { value: site.id, text: site.name }));
}

followPresence();
document.getElementById("report-zone").textContent =
  `Times are in your browser's time zone, ${ZONE}.`;
const today = new Date();
fields.to.value = isoDay(today);
fields.from.value = isoDay(new Date(today.getFullYear(), today.getMonth(), today.getDate() - 29));
form.addEventListener("submit", (event) => {
  event.preventDefault();
  refresh();
});
(async () => {
  try {
    await loadSites();
  } catch (error) {
    errorLine.textContent = error.message;
  }
  await refresh();
})();
