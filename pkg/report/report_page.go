package report

// pageHTML is the HTML report's page. It is well-formed XML too (void
// elements closed, and a script with no < or &, since html/template drops
// a CDATA comment), so that a test can check it with encoding/xml;
// everything it needs is inline.
const pageHTML = `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8" />
<meta name="viewport" content="width=device-width, initial-scale=1" />
<meta name="generator" content="{{.Generator}}" />
<title>Migration report: {{.Plan}}</title>
<style>
:root { --fg: #1d2433; --muted: #5b6475; --line: #d9dee7; --bg: #ffffff; --panel: #f5f7fa;
  --good: #2e7d32; --warn: #b26a00; --bad: #c62828; --accent: #1565c0; }
* { box-sizing: border-box; }
html { -webkit-text-size-adjust: 100%; text-size-adjust: 100%; }
body { margin: 0; color: var(--fg); background: var(--bg); line-height: 1.45;
  font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
header, main, footer { max-width: 1180px; margin: 0 auto; padding: 0 16px; }
header { padding-top: 20px; }
h1 { font-size: 1.55rem; margin: 0 0 6px; }
h2 { font-size: 1.2rem; margin: 30px 0 10px; padding-bottom: 4px; border-bottom: 2px solid var(--line); }
.summary { font-size: 1.05rem; margin: 4px 0 10px; }
.meta { list-style: none; padding: 0; margin: 0; color: var(--muted); font-size: .88rem; }
.meta li { margin: 2px 0; overflow-wrap: anywhere; }
code { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: .9em; background: var(--panel); padding: 0 3px; border-radius: 3px; }
.note { background: #fff8e1; border-left: 4px solid var(--warn); padding: 8px 12px; margin: 14px 0; font-size: .92rem; }
.empty { color: var(--muted); font-style: italic; }
.cards { display: grid; grid-template-columns: repeat(auto-fit, minmax(150px, 1fr)); gap: 10px; margin: 18px 0 6px; }
.card { background: var(--panel); border: 1px solid var(--line); border-top: 4px solid var(--line); border-radius: 6px; padding: 10px 12px; }
.card.good { border-top-color: var(--good); } .card.warn { border-top-color: var(--warn); } .card.bad { border-top-color: var(--bad); }
.card .label { font-size: .78rem; text-transform: uppercase; letter-spacing: .03em; color: var(--muted); }
.card .value { font-size: 1.55rem; font-weight: 650; margin: 2px 0; font-variant-numeric: tabular-nums; }
.card .detail { font-size: .82rem; color: var(--muted); }
.gantt { display: flex; overflow-x: auto; border: 1px solid var(--line); border-radius: 6px; background: #fff; }
.gantt svg.labels { flex: 0 0 200px; position: sticky; left: 0; background: #fff; z-index: 1; border-right: 1px solid var(--line); }
.gantt svg.plot { flex: 1 1 auto; min-width: 560px; }
svg text { font-family: system-ui, -apple-system, "Segoe UI", Roboto, Arial, sans-serif; fill: var(--fg); }
svg .axis { font-size: 11px; fill: var(--muted); }
svg .g { font-size: 13px; font-weight: 650; }
svg .a { font-size: 12px; }
svg .u { font-size: 10.5px; fill: var(--muted); }
svg .grid { stroke: #e6e9ef; stroke-width: 1; }
svg .grp { fill: #cfd8e3; }
svg .st-done { fill: #43a047; } svg .st-failed { fill: #e53935; } svg .st-rolled-back { fill: #fb8c00; }
svg .st-running { fill: #1e88e5; } svg .st-skipped, svg .st-pending { fill: #bdbdbd; }
svg .outage { fill: #263238; }
svg .step { stroke: #fff; stroke-width: .5; }
svg .step.failed { stroke: #b71c1c; stroke-width: 1.5; }
svg .run { opacity: .6; }
svg .undo { fill: #e65100; }
svg .runbar { fill: #e3e8ef; stroke: #9aa5b5; stroke-width: 1; }
svg .runlabel { font-size: 11px; fill: var(--fg); }
svg .bl { font-size: 12.5px; font-weight: 600; }
svg .bv { font-size: 11.5px; fill: var(--muted); }
svg .proj + .bv.in { fill: #0d2a4a; } svg .meas + .bv.in { fill: #fff; }
svg .proj { fill: #b3cde8; stroke: #5b8ec4; stroke-width: 1; }
svg .meas { fill: #c62828; }
.legend { list-style: none; padding: 0; margin: 8px 0 0; display: flex; flex-wrap: wrap; gap: 4px 14px; font-size: .82rem; color: var(--muted); }
.legend svg { vertical-align: -1px; margin-right: 5px; }
.charts { display: grid; grid-template-columns: repeat(auto-fit, minmax(300px, 1fr)); gap: 10px 28px; }
.charts figure { margin: 0; }
.charts h3 { font-size: 1rem; margin: 6px 0 8px; }
.scroll { overflow-x: auto; -webkit-overflow-scrolling: touch; }
table { border-collapse: collapse; width: 100%; font-size: .9rem; font-variant-numeric: tabular-nums; }
th, td { padding: 6px 8px; border-bottom: 1px solid var(--line); text-align: left; vertical-align: top; }
th { background: var(--panel); font-weight: 650; vertical-align: bottom; }
tbody th { background: none; font-weight: 600; white-space: normal; }
td.n, th.n { text-align: right; }
td.n, td.nw { white-space: nowrap; }
.sub { display: block; font-size: .78rem; color: var(--muted); white-space: nowrap; }
tbody tr:hover { background: #f0f4fa; }
table.sortable th { cursor: pointer; user-select: none; }
table.sortable th::after { content: "\00a0\2195"; color: #a0a8b8; font-weight: 400; }
table.sortable th[aria-sort="ascending"]::after { content: "\00a0\2191"; color: var(--fg); }
table.sortable th[aria-sort="descending"]::after { content: "\00a0\2193"; color: var(--fg); }
.s-migrated { color: var(--good); font-weight: 600; } .s-failed { color: var(--bad); font-weight: 600; }
.s-rolled-back { color: var(--warn); font-weight: 600; } .s-skipped, .s-pending { color: var(--muted); }
.reasons { font-size: .9rem; }
dl.defs dt { font-weight: 650; margin-top: 8px; } dl.defs dd { margin: 2px 0 0 0; color: #333a47; }
footer { color: var(--muted); font-size: .8rem; padding-top: 24px; padding-bottom: 28px; }
@media (max-width: 640px) {
  body { font-size: 14px; }
  h1 { font-size: 1.3rem; }
  .cards { grid-template-columns: repeat(2, 1fr); }
  .card .value { font-size: 1.25rem; }
  .gantt svg.labels { flex-basis: 150px; width: 150px; }
  th, td { padding: 5px 6px; }
  .scroll td:first-child, .scroll th:first-child { position: sticky; left: 0; z-index: 1; background: var(--bg); box-shadow: 1px 0 0 var(--line); }
  .scroll thead th:first-child { background: var(--panel); }
}
@media print {
  @page { margin: 12mm; }
  body { font-size: 10pt; -webkit-print-color-adjust: exact; print-color-adjust: exact; }
  header, main, footer { max-width: none; padding: 0; }
  h2 { break-after: avoid; }
  .cards, .gantt, .charts, figure { break-inside: avoid; }
  .gantt, .scroll { overflow: visible; }
  .gantt svg.plot { min-width: 0; }
  .gantt svg.labels { position: static; }
  tr { break-inside: avoid; }
  tbody tr:hover { background: none; }
  table.sortable th { cursor: auto; }
  table.sortable th::after { content: none; }
}
</style>
</head>
<body>
<header>
<h1>Migration report: {{.Plan}}</h1>
<p class="summary">{{.Summary}}</p>
<ul class="meta">
<li>Plan <code>{{.PlanFile}}</code> (sha256 <code>{{printf "%.12s" .PlanHash}}</code>); state <code>{{or .StateFile "state"}}</code>, serial {{.Serial}}</li>
{{- with .LastRun}}
<li>Last run: <code>{{$.Command .}}</code> by {{$.By .}}, {{$.Stamp .Started}}: {{.Result}} ({{len $.Runs}} run{{if gt (len $.Runs) 1}}s{{end}} in all)</li>
{{- end}}
<li>Report made {{.Stamp .Generated}}{{with .Day}}; times are UTC, on {{.}} unless dated{{end}}</li>
</ul>
</header>
<main>
{{- if not .Projections.Available}}
<p class="note"><strong>No projections.</strong> {{.Projections.Note}}</p>
{{- end}}
{{- if .Simulated}}
<p class="note"><strong>A rehearsal.</strong> The last run was a <code>--simulate</code> rehearsal against the embedded vCenter simulator: its times are the simulator's, not a real migration's.</p>
{{- end}}
<section class="cards" aria-label="Key figures">
{{- range .Cards}}
<div class="card {{.Tone}}"><div class="label">{{.Label}}</div><div class="value">{{.Value}}</div><div class="detail">{{.Detail}}</div></div>
{{- end}}
</section>

<section id="timeline">
<h2>Timeline</h2>
{{.Timeline}}
</section>

<section id="user-hours">
<h2>User-hours lost</h2>
<div class="charts">
<figure><h3>Per wave</h3>{{.UserHoursByGroup}}</figure>
<figure><h3>Per application</h3>{{.UserHoursByApp}}</figure>
</div>
</section>

<section id="glance">
<h2>At a glance</h2>
<div class="scroll"><table>
<thead><tr><th></th>{{range .Groups}}<th class="n">{{.Title}}</th>{{end}}<th class="n">Whole run</th></tr></thead>
<tbody>
{{- range .Glance}}
<tr>{{range $i, $c := .}}{{if eq $i 0}}<th scope="row">{{$c}}</th>{{else}}<td class="n">{{$c}}</td>{{end}}{{end}}</tr>
{{- end}}
</tbody>
</table></div>
</section>

<section id="applications">
<h2>Outage and user-hours lost, per application</h2>
<div class="scroll"><table class="sortable">
<thead><tr><th>Application</th><th>Group</th><th>Strategy</th><th>Status</th><th class="n">Users</th><th class="n">Measured outage</th><th class="n">User-hours lost</th>
{{- if .Projections.Available}}<th class="n">Estimated outage</th><th class="n">Projected user-hours lost</th>{{end}}<th class="n">Took</th>
{{- if .Projections.Available}}<th class="n">Estimated duration</th>{{end}}</tr></thead>
<tbody>
{{- range .Applications}}
<tr><td class="nw">{{.Name}}</td><td>{{.Group}}</td><td>{{.Strategy}}</td><td class="nw s-{{status .Status}}">{{status .Status}}</td><td class="n">{{.Users}}</td>
<td class="n" data-v="{{secs .Outage}}">{{$.OutageValue .}}{{with $.OutageWhen .}}<span class="sub">{{.}}</span>{{end}}</td><td class="n" data-v="{{.UserHoursLost}}">{{hours .UserHoursLost}}</td>
{{- if $.Projections.Available}}{{with .Projected}}<td class="n" data-v="{{secs .Outage}}">{{if .Outage}}{{duration .Outage}}{{else}}none{{end}}</td><td class="n" data-v="{{.UserHoursLost}}">{{hours .UserHoursLost}}</td>{{else}}<td class="n">-</td><td class="n">-</td>{{end}}{{end}}
<td class="n" data-v="{{secs .Duration}}">{{if .Started}}{{duration .Duration}}{{else}}-{{end}}</td>
{{- if $.Projections.Available}}{{with .Projected}}<td class="n" data-v="{{secs .Estimate}}">{{duration .Estimate}}</td>{{else}}<td class="n">-</td>{{end}}{{end}}</tr>
{{- end}}
</tbody>
</table></div>
{{- with .Reasons}}
<ul class="reasons">
{{- range .}}
<li><strong>{{.Name}}</strong> {{status .Status}}: {{.Reason}}</li>
{{- end}}
</ul>
{{- end}}
</section>

<section id="faults">
<h2>Retries and failures</h2>
{{- if .Faults}}
<p>Faults grouped by their text: transient ones that were retried, and the ones steps or hooks failed with.</p>
<div class="scroll"><table class="sortable">
<thead><tr><th>Fault</th><th>Kind</th><th class="n">Times</th><th>Where</th></tr></thead>
<tbody>
{{- range .Faults}}
<tr><td>{{.Text}}</td><td>{{fault .Kind}}</td><td class="n">{{.Count}}</td><td>{{join .Where "; "}}</td></tr>
{{- end}}
</tbody>
</table></div>
{{- else}}
<p class="empty">No faults: no step was retried and none failed.</p>
{{- end}}
</section>

<section id="steps">
<h2>Steps by kind</h2>
<div class="scroll"><table class="sortable">
<thead><tr><th>Step</th><th class="n">Ran</th><th class="n">Succeeded</th><th class="n">Failed</th><th class="n">Success rate</th><th class="n">First time</th><th class="n">Retries</th><th class="n">Total time</th><th class="n">Longest</th></tr></thead>
<tbody>
{{- range .StepKinds}}
<tr><td class="nw">{{.Kind}}</td><td class="n">{{.Attempted}}</td><td class="n">{{.Succeeded}}</td><td class="n">{{.Failed}}</td><td class="n" data-v="{{ratev .SuccessRate}}">{{percent .SuccessRate}}</td><td class="n">{{.FirstTime}}</td><td class="n">{{.Retries}}</td><td class="n" data-v="{{secs .Total}}">{{duration .Total}}</td><td class="n" data-v="{{secs .Longest}}">{{duration .Longest}}</td></tr>
{{- end}}
</tbody>
</table></div>
</section>

<section id="slowest">
<h2>Slowest steps</h2>
{{- if .Slowest}}
<div class="scroll"><table class="sortable">
<thead><tr><th class="n">#</th><th>Step</th><th>VM</th><th>Application</th><th class="n">Took</th>{{if .Projections.Available}}<th class="n">Estimated</th>{{end}}<th class="n">Attempts</th><th>Started</th><th>Status</th></tr></thead>
<tbody>
{{- range $i, $s := .Slowest}}
<tr><td class="n">{{add1 $i}}</td><td class="nw">{{.Kind}}</td><td class="nw">{{unit .Unit}}</td><td class="nw">{{.App}}</td><td class="n" data-v="{{secs .Duration}}">{{duration .Duration}}</td>{{if $.Projections.Available}}<td class="n" data-v="{{secs .Estimate}}">{{if .Estimate}}{{duration .Estimate}}{{else}}-{{end}}</td>{{end}}<td class="n">{{.Attempts}}</td><td>{{$.Clock .Started}}</td><td>{{.Status}}</td></tr>
{{- end}}
</tbody>
</table></div>
{{- else}}
<p class="empty">No step has finished yet.</p>
{{- end}}
</section>

<section id="runs">
<h2>Runs</h2>
{{- if .Runs}}
<div class="scroll"><table>
<thead><tr><th class="n">#</th><th>Command</th><th>By</th><th>Started</th><th class="n">Took</th><th>Result</th></tr></thead>
<tbody>
{{- range $i, $r := .Runs}}
<tr><td class="n">{{add1 $i}}</td><td><code>{{$.Command $r}}</code></td><td class="nw">{{$.By $r}}</td><td class="nw">{{$.Stamp $r.Started}}</td><td class="n">{{duration $r.Duration}}</td><td>{{$.RunResult $r}}</td></tr>
{{- end}}
</tbody>
</table></div>
{{- else}}
<p class="empty">Nothing has run yet.</p>
{{- end}}
</section>

{{- if .Drift}}
<section id="drift">
<h2>Estimate against measurement</h2>
<p>Estimates from {{.Drift.Source}}; ratio is measured over estimated (above 1: slower than planned).</p>
<div class="scroll"><table class="sortable">
<thead><tr><th>Wave, application or step kind</th><th class="n">Estimated</th><th class="n">Measured</th><th class="n">Ratio</th></tr></thead>
<tbody>
{{- range .Drift.Waves}}
<tr><td class="nw">wave {{.Name}}</td><td class="n">{{fsecs .Estimated}} (P90 {{fsecs .EstimatedP90}})</td><td class="n">{{fsecs .Measured}}</td><td class="n">{{printf "%.2f" .Ratio}}</td></tr>
{{- end}}
{{- range .Drift.Apps}}
<tr><td class="nw">{{.Name}}</td><td class="n">{{fsecs .Estimated}}</td><td class="n">{{fsecs .Measured}}</td><td class="n">{{printf "%.2f" .Ratio}}</td></tr>
{{- end}}
{{- range .Drift.Kinds}}
<tr><td class="nw">{{.Name}} steps</td><td class="n">{{fsecs .Estimated}}</td><td class="n">{{fsecs .Measured}}</td><td class="n">{{printf "%.2f" .Ratio}}</td></tr>
{{- end}}
</tbody>
</table></div>
</section>
{{- end}}
{{- if or .Approvals .Aborts}}
<section id="governance">
<h2>Approvals and back-out criteria</h2>
<ul>
{{- range .Approvals}}
<li>{{approval .}}</li>
{{- end}}
{{- range .Aborts}}
<li>tripped: {{abort .}}</li>
{{- end}}
</ul>
</section>
{{- end}}

<section id="definitions">
<h2>How the figures are worked out</h2>
<dl class="defs">
{{- range .Definitions}}
<dt>{{.Term}}</dt><dd>{{.Text}}</dd>
{{- end}}
</dl>
</section>
</main>
<footer>Made by {{or .Generator "wavectl"}} from the record alone (never vCenter), {{.Stamp .Generated}}. One self-contained file: it fetches nothing.</footer>
<script>
(function () {
  function key(td) {
    var v = td.getAttribute("data-v");
    if (v === null) { v = td.textContent.trim(); }
    var n = Number(v);
    if (v === "" || isNaN(n)) { return v.toLowerCase(); }
    return n;
  }
  function sortBy(table, col, th) {
    var dir = th.getAttribute("aria-sort") === "ascending" ? "descending" : "ascending";
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (c) { c.removeAttribute("aria-sort"); });
    th.setAttribute("aria-sort", dir);
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var x = key(a.cells[col]), y = key(b.cells[col]);
      var c = (typeof x === typeof y) ? (x > y ? 1 : (y > x ? -1 : 0)) : (typeof x === "number" ? -1 : 1);
      return dir === "ascending" ? c : -c;
    });
    rows.forEach(function (r) { body.appendChild(r); });
  }
  Array.prototype.forEach.call(document.querySelectorAll("table.sortable"), function (table) {
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th, i) {
      th.tabIndex = 0;
      th.title = "Sort by this column";
      th.addEventListener("click", function () { sortBy(table, i, th); });
      th.addEventListener("keydown", function (e) {
        if (e.key === "Enter" || e.key === " ") { e.preventDefault(); sortBy(table, i, th); }
      });
    });
  });
})();
</script>
</body>
</html>
`
