// One self-contained HTML document: styles, the charts (static SVG), the report's data and a small
// script (sorting and filtering the table) are all inline, and the Content-Security-Policy forbids
// any request, so the page opens offline, from a CI artifact or an e-mail attachment alike. Print
// styles hide the controls and keep charts whole.
import {type Chart, renderSvg} from './charts.js'

export const esc = (s: unknown): string =>
  String(s ?? '').replace(/[&<>"']/g, (c) => ({'&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;'})[c]!)

/** JSON safe inside a <script> element (no "</script>", no HTML comment openers). */
export const scriptJson = (value: unknown): string => JSON.stringify(value).replace(/</g, '\\u003c').replace(/\u2028/g, '\\u2028').replace(/\u2029/g, '\\u2029')

/** Verdict and band words with a symbol, so the meaning does not rest on colour alone. */
export const MEANING: Record<string, {symbol: string; tone: 'bad' | 'warn' | 'good' | 'muted'}> = {
  too_tight: {symbol: '✖', tone: 'bad'},
  config_error: {symbol: '✖', tone: 'bad'},
  warm: {symbol: '▲', tone: 'warn'},
  estimates: {symbol: '▲', tone: 'warn'},
  decorative: {symbol: '○', tone: 'warn'},
  loose: {symbol: '◇', tone: 'muted'},
  goldilocks: {symbol: '✔', tone: 'good'},
  ready: {symbol: '✔', tone: 'good'},
  insufficient_data: {symbol: '…', tone: 'muted'},
}

export function badge(value: string): string {
  const m = MEANING[value] ?? {symbol: '•', tone: 'muted'}
  return `<span class="badge ${m.tone}" data-value="${esc(value)}"><span aria-hidden="true">${m.symbol}</span> ${esc(value.replaceAll('_', ' '))}</span>`
}

export interface Column<T> {
  header: string
  /** Cell HTML (escaped by the caller) and the value it sorts by. */
  cell: (row: T) => string
  sort: (row: T) => number | string | null
  numeric?: boolean
  title?: string
}

/** A sortable, filterable table (the inline script wires every table.sortable). */
export function sortableTable<T>(id: string, caption: string, columns: Array<Column<T>>, rows: T[], filterFor?: (row: T) => string): string {
  const head = columns
    .map((c, i) => `<th scope="col" aria-sort="none"${c.numeric ? ' class="num"' : ''}${c.title ? ` title="${esc(c.title)}"` : ''}><button type="button" data-col="${i}" data-type="${c.numeric ? 'number' : 'text'}">${esc(c.header)}<span class="arrow" aria-hidden="true"></span></button></th>`)
    .join('')
  const body = rows
    .map((r) => {
      const cells = columns
        .map((c) => {
          const v = c.sort(r)
          return `<td${c.numeric ? ' class="num"' : ''} data-sort="${esc(v === null ? '' : v)}">${c.cell(r)}</td>`
        })
        .join('')
      return `<tr${filterFor ? ` data-filter="${esc(filterFor(r).toLowerCase())}"` : ''}>${cells}</tr>`
    })
    .join('\n')
  const filter = `<div class="controls no-print"><label>Filter <input type="search" data-filter-for="${id}" placeholder="scope, unit, verdict…" aria-controls="${id}"></label> <span class="count" data-count-for="${id}">${rows.length} row(s)</span></div>`
  return `${filter}<div class="table-wrap"><table id="${id}" class="sortable"><caption>${esc(caption)}</caption><thead><tr>${head}</tr></thead><tbody>\n${body}\n</tbody></table></div>`
}

/** A chart as a figure: title, the SVG, and the caption in words. */
export async function figure(chart: Chart): Promise<string> {
  const svg = await renderSvg(chart.spec)
  const labelled = svg.replace('<svg ', `<svg role="img" aria-label="${esc(chart.caption)}" `)
  return `<figure class="chart" id="${esc(chart.id)}"><h3>${esc(chart.title)}</h3>${labelled}<figcaption>${esc(chart.caption)}</figcaption></figure>`
}

const STYLE = `
:root{--bad:#b2182b;--warn:#8c510a;--good:#1b7837;--muted:#555;--line:#d0d7de;--bg:#fff;--fg:#1f2328}
*{box-sizing:border-box}
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--fg);background:var(--bg);margin:0 auto;padding:1.5rem;max-width:1200px}
h1{font-size:1.5rem;margin:0 0 .25rem}h2{font-size:1.2rem;margin:2rem 0 .5rem;border-bottom:1px solid var(--line);padding-bottom:.25rem}h3{font-size:1rem;margin:.25rem 0}
.meta{color:var(--muted);margin:.25rem 0}
.cards{display:flex;flex-wrap:wrap;gap:.75rem;margin:1rem 0}.card{border:1px solid var(--line);border-radius:6px;padding:.5rem .75rem;min-width:9rem}.card b{display:block;font-size:1.3rem}
.charts{display:grid;grid-template-columns:repeat(auto-fill,minmax(560px,1fr));gap:1rem}
figure.chart{margin:0;border:1px solid var(--line);border-radius:6px;padding:.5rem;overflow-x:auto;break-inside:avoid}
figure.chart svg{max-width:100%;height:auto}
figcaption{color:var(--muted);font-size:.85rem;margin-top:.25rem}
.badge{display:inline-block;border-radius:4px;padding:0 .35rem;font-weight:600;white-space:nowrap;border:1px solid currentColor}
.bad{color:var(--bad)}.warn{color:var(--warn)}.good{color:var(--good)}.muted{color:var(--muted)}
.table-wrap{overflow-x:auto}
table{border-collapse:collapse;width:100%;font-size:.9rem}caption{text-align:left;color:var(--muted);padding:.25rem 0}
th,td{border-bottom:1px solid var(--line);padding:.3rem .5rem;text-align:left;vertical-align:top}td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
th button{font:inherit;font-weight:600;background:none;border:0;padding:0;cursor:pointer;color:inherit}
th[aria-sort=ascending] .arrow::after{content:" ▲"}th[aria-sort=descending] .arrow::after{content:" ▼"}
tr.hidden{display:none}
td:first-child{min-width:14rem}
code{font-family:ui-monospace,SFMono-Regular,Menlo,monospace;font-size:.85em;overflow-wrap:anywhere}
.controls{margin:.5rem 0}.controls input{font:inherit;padding:.2rem .4rem;min-width:18rem}
ul.changes li{margin:.15rem 0}
@media print{.no-print{display:none}body{padding:0;max-width:none}.charts{display:block}figure.chart{margin-bottom:1rem}tr.hidden{display:table-row}a{color:inherit}}
`

// Sorting and filtering only (no chart code): click a header to sort, type to filter rows.
const SCRIPT = `
(function () {
  function cellValue(tr, col, type) {
    var v = tr.children[col].getAttribute('data-sort');
    if (type === 'number') { var n = parseFloat(v); return isNaN(n) ? -Infinity : n; }
    return v;
  }
  document.querySelectorAll('table.sortable').forEach(function (table) {
    table.querySelectorAll('th button').forEach(function (button) {
      button.addEventListener('click', function () {
        var th = button.parentElement;
        var col = Number(button.getAttribute('data-col'));
        var type = button.getAttribute('data-type');
        var dir = th.getAttribute('aria-sort') === 'ascending' ? 'descending' : 'ascending';
        table.querySelectorAll('th').forEach(function (h) { h.setAttribute('aria-sort', 'none'); });
        th.setAttribute('aria-sort', dir);
        var body = table.tBodies[0];
        var rows = Array.prototype.slice.call(body.rows);
        rows.sort(function (a, b) {
          var x = cellValue(a, col, type), y = cellValue(b, col, type);
          var c = type === 'number' ? x - y : String(x).localeCompare(String(y));
          return dir === 'ascending' ? c : -c;
        });
        rows.forEach(function (r) { body.appendChild(r); });
      });
    });
  });
  document.querySelectorAll('input[data-filter-for]').forEach(function (input) {
    var table = document.getElementById(input.getAttribute('data-filter-for'));
    var count = document.querySelector('[data-count-for="' + table.id + '"]');
    input.addEventListener('input', function () {
      var words = input.value.toLowerCase().split(/\\s+/).filter(Boolean);
      var shown = 0;
      Array.prototype.forEach.call(table.tBodies[0].rows, function (tr) {
        var text = tr.getAttribute('data-filter') || tr.textContent.toLowerCase();
        var hit = words.every(function (w) { return text.indexOf(w) >= 0; });
        tr.classList.toggle('hidden', !hit);
        if (hit) shown++;
      });
      if (count) count.textContent = shown + ' row(s)';
    });
  });
})();
`

/** The whole document. `data` is the report as JSON (the same as --format json), kept in the page for reuse. */
export function page(input: {title: string; subtitle: string; body: string; data: unknown}): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:">
<title>${esc(input.title)}</title>
<style>${STYLE}</style>
</head>
<body>
<header><h1>${esc(input.title)}</h1><p class="meta">${input.subtitle}</p></header>
<main>
${input.body}
</main>
<script type="application/json" id="report-data">${scriptJson(input.data)}</script>
<script>${SCRIPT}</script>
</body>
</html>
`
}
