// Hand-drawn SVG charts: vertical bars (optionally stacked), lines and horizontal bars. Each
// chart is a <figure> with a caption, the drawing (redrawn at its container's width, so text
// stays readable on a phone), a legend and the same numbers as a table for screen readers.

import { h, s, uid } from "./dom.js";

const HEIGHT = 200;
const COLORS = ["var(--series-1)", "var(--series-2)", "var(--series-3)", "var(--series-4)"];

/** Round tick values from 0 past `max`; counts (integer) never get fractional ticks. */
function ticks(max, integer, count = 4) {
  if (!(max > 0)) return [0, 1];
  const raw = max / count;
  const exp = 10 ** Math.floor(Math.log10(raw));
  const f = raw / exp;
  let step = (f <= 1 ? 1 : f <= 2 ? 2 : f <= 2.5 ? 2.5 : f <= 5 ? 5 : 10) * exp;
  if (integer) step = Math.max(1, Math.round(step));
  const out = [];
  for (let v = 0; v < max + step; v += step) out.push(Number(v.toPrecision(12)));
  return out;
}

function shortDay(label) {
  // "2026-11-22" → "Nov 22"
  const date = new Date(`${label}T00:00:00Z`);
  return Number.isNaN(date.getTime()) ? label : date.toLocaleDateString(undefined, { month: "short", day: "numeric", timeZone: "UTC" });
}

/** A figure that redraws its SVG whenever its width changes. */
function figure(title, legend, tableEl, draw) {
  const plot = h("div", { class: "plot" });
  const captionId = uid("chart");
  const fig = h("figure", { class: "chart", "aria-labelledby": captionId },
    h("figcaption", { id: captionId }, title),
    plot,
    legend,
    h("details", {}, h("summary", {}, "Show the numbers"), h("div", { class: "table-wrap" }, tableEl)));
  let lastWidth = 0;
  const redraw = () => {
    const width = Math.max(240, Math.floor(plot.clientWidth));
    if (width === lastWidth) return;
    lastWidth = width;
    const svg = draw(width);
    svg.setAttribute("role", "img");
    svg.setAttribute("aria-label", `${title}. The numbers are in the table below.`);
    plot.replaceChildren(svg);
  };
  new ResizeObserver(redraw).observe(plot);
  requestAnimationFrame(redraw);
  return fig;
}

function legendFor(series) {
  if (series.length < 2) return null;
  return h("div", { class: "legend", "aria-hidden": "true" }, series.map((serie, i) => {
    const item = h("span", {}, serie.name);
    item.style.setProperty("--swatch", serie.color || COLORS[i]);
    return item;
  }));
}

function dataTable(labels, series, format, labelHead) {
  return h("table", {},
    h("thead", {}, h("tr", {}, h("th", { scope: "col" }, labelHead), series.map((serie) => h("th", { scope: "col", class: "num" }, serie.name)))),
    h("tbody", {}, labels.map((label, i) => h("tr", {},
      h("th", { scope: "row" }, label),
      series.map((serie) => h("td", { class: "num" }, serie.values[i] === null || serie.values[i] === undefined ? "—" : format(serie.values[i])))))));
}

/** Axes and grid for a plot over `labels` with a value scale up to `top`. */
function frame(width, labels, tickValues, format) {
  const top = tickValues[tickValues.length - 1];
  const left = Math.max(...tickValues.map((t) => format(t).length)) * 6.6 + 10;
  const box = { left, right: width - 8, top: 8, bottom: HEIGHT - 24 };
  const y = (v) => box.bottom - ((box.bottom - box.top) * v) / top;
  const band = (box.right - box.left) / Math.max(labels.length, 1);
  const svg = s("svg", { viewBox: `0 0 ${width} ${HEIGHT}`, width, height: HEIGHT });
  const grid = s("g", { class: "axis" });
  for (const t of tickValues) {
    grid.append(s("line", { class: "grid-line", x1: box.left, x2: box.right, y1: y(t), y2: y(t) }));
    grid.append(s("text", { x: box.left - 6, y: y(t) + 4, "text-anchor": "end" }, format(t)));
  }
  // As many day labels as fit, evenly spaced.
  const every = Math.max(1, Math.ceil(labels.length / Math.max(1, Math.floor((box.right - box.left) / 64))));
  labels.forEach((label, i) => {
    if (i % every) return;
    grid.append(s("text", { x: box.left + band * (i + 0.5), y: HEIGHT - 6, "text-anchor": "middle" }, shortDay(label)));
  });
  grid.append(s("line", { class: "axis-line", x1: box.left, x2: box.right, y1: box.bottom, y2: box.bottom }));
  svg.append(grid);
  return { svg, box, y, band };
}

/** Vertical bars per label; several series are stacked. */
export function barChart({ title, labels, series, format = String, labelHead = "Day", integer = true }) {
  const totals = labels.map((_, i) => series.reduce((sum, serie) => sum + (serie.values[i] || 0), 0));
  const tickValues = ticks(Math.max(...totals, 0), integer);
  return figure(title, legendFor(series), dataTable(labels, series, format, labelHead), (width) => {
    const { svg, box, y, band } = frame(width, labels, tickValues, format);
    const barWidth = Math.max(1, Math.min(28, band * 0.7));
    labels.forEach((label, i) => {
      let base = 0;
      series.forEach((serie, k) => {
        const value = serie.values[i] || 0;
        if (!value) return;
        const x = box.left + band * i + (band - barWidth) / 2;
        svg.append(s("rect", {
          class: "bar", x, width: barWidth, y: y(base + value), height: Math.max(0, y(base) - y(base + value)),
          fill: serie.color || COLORS[k], rx: Math.min(3, barWidth / 4),
        }, s("title", {}, `${shortDay(label)}: ${format(value)} ${serie.name.toLowerCase()}`)));
        base += value;
      });
    });
    return svg;
  });
}

/** One line per series; missing values (null) break the line. */
export function lineChart({ title, labels, series, format = String, labelHead = "Day", integer = false }) {
  const values = series.flatMap((serie) => serie.values.filter((v) => v !== null && v !== undefined));
  const tickValues = ticks(Math.max(...values, 0), integer);
  return figure(title, legendFor(series), dataTable(labels, series, format, labelHead), (width) => {
    const { svg, box, y, band } = frame(width, labels, tickValues, format);
    series.forEach((serie, k) => {
      const color = serie.color || COLORS[k];
      let d = "";
      let pen = false;
      serie.values.forEach((value, i) => {
        if (value === null || value === undefined) {
          pen = false;
          return;
        }
        const x = box.left + band * (i + 0.5);
        d += `${pen ? "L" : "M"}${x.toFixed(1)},${y(value).toFixed(1)}`;
        pen = true;
      });
      svg.append(s("path", { d, fill: "none", stroke: color, "stroke-width": 2, "stroke-linejoin": "round" }));
      serie.values.forEach((value, i) => {
        if (value === null || value === undefined) return;
        svg.append(s("circle", { class: "dot", cx: box.left + band * (i + 0.5), cy: y(value), r: labels.length > 45 ? 1.8 : 3, fill: color },
          s("title", {}, `${shortDay(labels[i])}: ${format(value)}${series.length > 1 ? ` (${serie.name})` : ""}`)));
      });
    });
    return svg;
  });
}

/** Horizontal bars, one per row, largest first as given. */
export function hbarChart({ title, rows, format = String, valueName = "Value", extraColumns = [] }) {
  const max = Math.max(...rows.map((r) => r.value), 0) || 1;
  const tableEl = h("table", {},
    h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Name"), h("th", { scope: "col", class: "num" }, valueName),
      extraColumns.map((c) => h("th", { scope: "col", class: "num" }, c.label)))),
    h("tbody", {}, rows.map((row) => h("tr", {}, h("th", { scope: "row" }, row.label), h("td", { class: "num" }, format(row.value)),
      extraColumns.map((c) => h("td", { class: "num" }, c.cell(row.item)))))));
  const rowHeight = 26;
  return figure(title, null, tableEl, (width) => {
    const height = Math.max(rowHeight, rows.length * rowHeight) + 4;
    const labelWidth = Math.min(width * 0.38, 190);
    const valueWidth = 64;
    const barSpace = Math.max(20, width - labelWidth - valueWidth - 12);
    const svg = s("svg", { viewBox: `0 0 ${width} ${height}`, width, height });
    rows.forEach((row, i) => {
      const yTop = i * rowHeight + 4;
      const maxChars = Math.floor(labelWidth / 6.6);
      const label = row.label.length > maxChars ? `${row.label.slice(0, maxChars - 1)}…` : row.label;
      svg.append(s("text", { class: "label-text", x: labelWidth - 6, y: yTop + 15, "text-anchor": "end" }, label, s("title", {}, row.label)));
      const w = Math.max(1, (barSpace * row.value) / max);
      svg.append(s("rect", { class: "bar", x: labelWidth, y: yTop + 3, width: w, height: rowHeight - 9, rx: 3, fill: COLORS[0] },
        s("title", {}, `${row.label}: ${format(row.value)}`)));
      svg.append(s("text", { class: "label-text", x: labelWidth + w + 6, y: yTop + 15 }, format(row.value)));
    });
    return svg;
  });
}
