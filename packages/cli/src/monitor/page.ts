/**
 * The dashboard page (Dashboard.ts): one HTML document, one stylesheet, one script, hand-written, no framework and
 * no third-party origin. Every value from the API is put into the page as text (`textContent`), never as markup,
 * so nothing an agent or the chain says (hosts, URIs, event payloads) can run in the page. Live: the page follows
 * `/api/stream` and refetches what changed, without reloading.
 */

export const html = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>regent monitor</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/app.css">
<script src="/app.js" defer></script>
</head>
<body>
<header>
  <h1>regent monitor</h1>
  <span id="live" class="pill" data-testid="live">connecting…</span>
  <span id="updated" class="muted"></span>
</header>
<main>
  <nav>
    <h2>Agents</h2>
    <ul id="agents" data-testid="agents"></ul>
    <h2>Open alerts</h2>
    <ul id="open-alerts" data-testid="open-alerts"></ul>
  </nav>
  <section id="agent" data-testid="agent">
    <p class="muted">No agent yet.</p>
  </section>
</main>
</body>
</html>
`

export const style = `:root { --bg: #0f1217; --panel: #171b22; --line: #2a303b; --text: #e6e9ef; --muted: #8b93a3; --ok: #3fb950; --warn: #d29922; --bad: #f85149; --accent: #58a6ff; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; background: var(--bg); color: var(--text); }
header { display: flex; gap: 12px; align-items: center; padding: 10px 18px; border-bottom: 1px solid var(--line); }
h1 { font-size: 16px; margin: 0; }
h2 { font-size: 13px; text-transform: uppercase; letter-spacing: .06em; color: var(--muted); margin: 18px 0 8px; }
h3 { font-size: 14px; margin: 20px 0 8px; }
main { display: grid; grid-template-columns: 300px 1fr; min-height: calc(100vh - 45px); }
nav { border-right: 1px solid var(--line); padding: 0 14px 20px; }
section { padding: 4px 22px 40px; overflow: auto; }
ul { list-style: none; margin: 0; padding: 0; }
nav li { padding: 8px 10px; border: 1px solid var(--line); border-radius: 6px; margin-bottom: 6px; background: var(--panel); cursor: pointer; }
nav li.selected { border-color: var(--accent); }
.muted { color: var(--muted); }
.mono { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; font-size: 12px; word-break: break-all; }
.pill { display: inline-block; padding: 1px 8px; border-radius: 10px; font-size: 12px; border: 1px solid var(--line); }
.ok { color: var(--ok); border-color: var(--ok); }
.warn { color: var(--warn); border-color: var(--warn); }
.bad { color: var(--bad); border-color: var(--bad); }
.cards { display: grid; grid-template-columns: repeat(auto-fit, minmax(160px, 1fr)); gap: 10px; margin-top: 12px; }
.card { background: var(--panel); border: 1px solid var(--line); border-radius: 8px; padding: 10px 12px; }
.card .label { color: var(--muted); font-size: 12px; }
.card .value { font-size: 20px; margin-top: 2px; }
table { border-collapse: collapse; width: 100%; margin-top: 6px; }
th, td { text-align: left; border-bottom: 1px solid var(--line); padding: 5px 8px; vertical-align: top; }
th { color: var(--muted); font-weight: 500; font-size: 12px; }
tr.resolved td { color: var(--muted); }
svg { background: var(--panel); border: 1px solid var(--line); border-radius: 8px; width: 100%; height: auto; }
svg text { fill: var(--muted); font-size: 10px; }
details { background: var(--panel); border: 1px solid var(--line); border-radius: 8px; padding: 8px 12px; margin-top: 8px; }
summary { cursor: pointer; }
.sev-critical { color: var(--bad); }
.sev-warning { color: var(--warn); }
.sev-info { color: var(--accent); }
`

export const script = `'use strict'
;(function () {
  var state = { agents: [], selected: null, timer: null, open: { bundle: true }, renders: 0 }

  function h(tag, attrs) {
    var el = document.createElement(tag)
    if (attrs) for (var k in attrs) {
      if (attrs[k] === undefined || attrs[k] === null) continue
      if (k === 'class') el.className = attrs[k]
      else if (k === 'text') el.textContent = String(attrs[k])
      else if (k === 'onclick') el.addEventListener('click', attrs[k])
      else el.setAttribute(k, String(attrs[k]))
    }
    for (var i = 2; i < arguments.length; i++) {
      var c = arguments[i]
      if (c === null || c === undefined || c === false) continue
      if (Array.isArray(c)) c.forEach(function (x) { if (x) el.appendChild(typeof x === 'string' ? document.createTextNode(x) : x) })
      else el.appendChild(typeof c === 'string' || typeof c === 'number' ? document.createTextNode(String(c)) : c)
    }
    return el
  }
  function svg(tag, attrs) {
    var el = document.createElementNS('http://www.w3.org/2000/svg', tag)
    for (var k in attrs) el.setAttribute(k, String(attrs[k]))
    return el
  }
  function get(path) {
    return fetch(path, { headers: { accept: 'application/json' } }).then(function (r) {
      return r.json().then(function (body) { if (!r.ok) throw new Error(body && body.error ? body.error.message : 'HTTP ' + r.status); return body })
    })
  }
  function time(iso) { return iso ? new Date(iso).toISOString().replace('T', ' ').replace(/\\.\\d+Z$/, 'Z') : '–' }
  function unix(t) { return time(new Date(t * 1000).toISOString()) }
  function short(x) { x = String(x || ''); return x.length > 22 ? x.slice(0, 12) + '…' + x.slice(-8) : x }
  function replace(id, node) { var el = document.getElementById(id); el.replaceChildren(node) }

  function refresh() {
    return get('/api/agents').then(function (body) {
      state.agents = body.agents
      if (state.selected === null && body.agents.length) state.selected = body.agents[0].agent
      renderAgents()
      document.getElementById('updated').textContent = 'updated ' + time(new Date().toISOString())
      return Promise.all([renderOpenAlerts(), state.selected === null ? null : renderAgent(state.selected)])
    }).catch(function (e) { document.getElementById('updated').textContent = 'error: ' + e.message })
  }
  function schedule() { if (state.timer) clearTimeout(state.timer); state.timer = setTimeout(refresh, 150) }

  function renderAgents() {
    var list = state.agents.map(function (a) {
      var last = a.lastCheck
      var badge = !last ? h('span', { class: 'pill', text: 'no check yet' }) : last.isAgent ? h('span', { class: 'pill ok', text: 'verified' }) : h('span', { class: 'pill bad', text: 'not verified' })
      return h('li', { class: a.agent === state.selected ? 'selected' : '', 'data-agent': a.agent, onclick: function () { state.selected = a.agent; refresh() } },
        h('div', null, h('strong', { text: 'agent ' + a.agent }), ' ', badge),
        h('div', { class: 'muted' }, 'epoch ', h('span', { 'data-testid': 'list-epoch', text: a.canonical ? a.canonical.epoch : '–' }), ' · score ', last && last.score !== null ? String(last.score) : '–', ' · ', String(a.openAlerts), ' open'))
    })
    replace('agents', h('div', null, list))
  }

  function renderOpenAlerts() {
    return get('/api/alerts?state=open').then(function (body) {
      var items = body.alerts.map(function (a) {
        return h('li', { 'data-testid': 'open-alert', 'data-code': a.code, 'data-agent': a.agent },
          h('div', { class: 'sev-' + a.severity }, h('strong', { text: a.code }), ' · agent ' + a.agent), h('div', { class: 'muted', text: time(a.raisedAt) }))
      })
      replace('open-alerts', items.length ? h('div', null, items) : h('p', { class: 'muted', text: 'none' }))
    })
  }

  function renderAgent(id) {
    return Promise.all([
      get('/api/agents/' + id),
      get('/api/agents/' + id + '/checks?limit=300'),
      get('/api/alerts?agent=' + id + '&state=all&limit=100'),
      get('/api/agents/' + id + '/attestation').catch(function () { return null }),
    ]).then(function (r) {
      var agent = r[0], checks = r[1].checks, alerts = r[2].alerts, att = r[3]
      var last = checks[checks.length - 1] || null
      var canon = agent.canonicalHistory.filter(function (e) { return e.name === 'CanonicalChanged' })
      var current = canon[canon.length - 1]
      var body = h('div', null,
        h('h2', { text: 'agent ' + agent.agent }),
        h('div', { class: 'muted mono' }, 'app ' + (agent.appId || '–') + ' · watching since ' + time(agent.addedAt)),
        h('div', { class: 'cards' },
          card('Epoch', h('span', { 'data-testid': 'epoch', text: current ? current.args.epoch : '–' })),
          card('Identity function', h('span', { 'data-testid': 'is-agent', class: last && last.isAgent ? 'ok' : 'bad', text: !last ? '–' : last.isAgent ? 'holds' : 'fails' })),
          card('Security score', h('span', { 'data-testid': 'score', text: last && last.score !== null ? String(last.score) : '–' })),
          card('TCB status', h('span', { 'data-testid': 'tcb', class: last && last.tcbStatus === 'UpToDate' ? 'ok' : 'warn', text: last && last.tcbStatus ? last.tcbStatus : '–' })),
          card('Open alerts', h('span', { 'data-testid': 'open-count', text: String(alerts.filter(function (a) { return !a.resolvedAt }).length) }))),
        h('h3', { text: 'Canonical instance' }),
        current ? table(['signer', 'compose hash', 'host', 'since'], [[
          h('span', { class: 'mono', 'data-testid': 'signer', text: current.args.signer }),
          h('span', { class: 'mono', 'data-testid': 'compose-hash', text: current.args.composeHash }),
          h('span', { class: 'mono', 'data-testid': 'host', text: current.args.host }),
          unix(current.time)]]) : h('p', { class: 'muted', text: 'not enrolled' }),
        h('h3', { text: 'Score and identity function over time' }),
        chart(checks),
        h('h3', { text: 'Alerts' }),
        alerts.length ? table(['', 'code', 'message', 'raised', 'resolved'], alerts.map(function (a) {
          return { cls: a.resolvedAt ? 'resolved' : 'open', attrs: { 'data-testid': 'alert', 'data-code': a.code, 'data-state': a.resolvedAt ? 'resolved' : 'open' }, cells: [
            h('span', { class: 'sev-' + a.severity, text: a.resolvedAt ? '✓' : '●' }), h('strong', { text: a.code }),
            h('div', null, h('div', { text: a.message }), a.resolution ? h('div', { class: 'muted', text: 'resolved: ' + a.resolution }) : null),
            time(a.raisedAt), time(a.resolvedAt)] }
        })) : h('p', { class: 'muted', text: 'none' }),
        h('h3', { text: 'Measurement timeline' }),
        timeline(agent, canon),
        h('h3', { text: 'Epochs' }),
        canon.length ? table(['epoch', 'signer', 'compose hash', 'host', 'at', 'tx'], canon.slice().reverse().map(function (e) {
          return { attrs: { 'data-testid': 'epoch-row', 'data-epoch': e.args.epoch }, cells: [e.args.epoch, h('span', { class: 'mono', text: short(e.args.signer) }), h('span', { class: 'mono', text: short(e.args.composeHash) }), h('span', { class: 'mono', text: e.args.host }), unix(e.time), h('span', { class: 'mono', text: short(e.tx) })] }
        })) : h('p', { class: 'muted', text: 'none' }),
        h('h3', { text: 'Attestation of the canonical instance' }),
        attestation(att))
      replace('agent', body)
      document.getElementById('agent').setAttribute('data-renders', String(++state.renders))
    })
  }

  function card(label, value) { return h('div', { class: 'card' }, h('div', { class: 'label', text: label }), h('div', { class: 'value' }, value)) }

  function table(head, rows) {
    return h('table', null, h('thead', null, h('tr', null, head.map(function (x) { return h('th', { text: x }) }))),
      h('tbody', null, rows.map(function (row) {
        var r = Array.isArray(row) ? { cells: row } : row
        var tr = h('tr', Object.assign({ class: r.cls }, r.attrs || {}))
        r.cells.forEach(function (c) { tr.appendChild(h('td', null, c === null || c === undefined ? '–' : typeof c === 'object' ? c : String(c))) })
        return tr
      })))
  }

  function chart(checks) {
    var W = 760, H = 204, L = 34, R = 10, T = 10, plot = 110
    var root = svg('svg', { viewBox: '0 0 ' + W + ' ' + H, role: 'img', 'aria-label': 'security score over time', 'data-testid': 'chart' })
    var pts = checks.filter(function (c) { return c.score !== null })
    ;[0, 50, 100].forEach(function (v) {
      var y = T + plot - (v / 100) * plot
      root.appendChild(svg('line', { x1: L, x2: W - R, y1: y, y2: y, stroke: '#2a303b' }))
      var t = svg('text', { x: 4, y: y + 3 }); t.textContent = String(v); root.appendChild(t)
    })
    if (checks.length) {
      var t0 = Date.parse(checks[0].at), t1 = Date.parse(checks[checks.length - 1].at), span = Math.max(1, t1 - t0)
      var x = function (c) { return L + ((Date.parse(c.at) - t0) / span) * (W - L - R) }
      if (pts.length) root.appendChild(svg('polyline', { fill: 'none', stroke: '#58a6ff', 'stroke-width': 2, points: pts.map(function (c) { return x(c).toFixed(1) + ',' + (T + plot - (c.score / 100) * plot).toFixed(1) }).join(' ') }))
      ;['a', 'b', 'c', 'd'].forEach(function (k, i) {
        var y = T + plot + 16 + i * 14
        var label = svg('text', { x: 4, y: y + 3 }); label.textContent = '(' + k + ')'; root.appendChild(label)
        checks.forEach(function (c) {
          var color = !c.holds ? '#8b93a3' : c.holds[k] ? '#3fb950' : '#f85149'
          root.appendChild(svg('circle', { cx: x(c).toFixed(1), cy: y, r: 3, fill: color }))
        })
      })
      var a = svg('text', { x: L, y: H - 2 }); a.textContent = time(checks[0].at); root.appendChild(a)
      var b = svg('text', { x: W - R - 120, y: H - 2 }); b.textContent = time(checks[checks.length - 1].at); root.appendChild(b)
    }
    return root
  }

  function timeline(agent, canon) {
    var rows = agent.measurements.map(function (m) {
      var canonicalAt = canon.filter(function (e) { return String(e.args.composeHash).toLowerCase() === m.value }).map(function (e) { return 'epoch ' + e.args.epoch })
      return { attrs: { 'data-testid': 'measurement', 'data-kind': m.kind, 'data-value': m.value }, cells: [
        { composeHash: 'compose hash', osImage: 'OS image', kmsRoot: 'KMS root' }[m.kind],
        h('span', { class: 'mono', text: m.value }), unix(m.addedAt), unix(m.activatesAt), m.removedAt ? unix(m.removedAt) : '–', canonicalAt.join(', ') || '–'] }
    }).reverse()
    return rows.length ? table(['kind', 'value', 'approved', 'activates', 'removed', 'canonical'], rows) : h('p', { class: 'muted', text: 'no approvals seen' })
  }

  // A section keeps the open or closed state the reader gave it across the live re-renders.
  function section(key, title) {
    var el = h('details', { 'data-section': key })
    if (state.open[key]) el.setAttribute('open', '')
    el.addEventListener('toggle', function () { state.open[key] = el.open })
    el.appendChild(h('summary', { text: title }))
    for (var i = 2; i < arguments.length; i++) if (arguments[i]) el.appendChild(arguments[i])
    return el
  }

  function kv(obj) {
    return table(['field', 'value'], Object.keys(obj || {}).map(function (k) { var v = obj[k]; return [k, h('span', { class: 'mono', text: v === null || v === undefined ? '–' : typeof v === 'object' ? JSON.stringify(v) : String(v) })] }))
  }

  function attestation(att) {
    if (!att) return h('p', { class: 'muted', text: 'no attestation yet' })
    var log = att.eventLog
    return h('div', { 'data-testid': 'attestation' },
      h('div', { class: 'muted', text: 'served at ' + time(att.at) }),
      section('bundle', 'Identity bundle', kv(att.claims)),
      section('quote', 'Quote header and TD report (MRTD, RTMR0–3, REPORTDATA)',
        att.quote.error ? h('p', { class: 'bad', text: att.quote.error }) : h('div', null, kv(att.quote.header), kv(att.quote.body),
          h('h3', { text: 'PCK certificate chain' }), Array.isArray(att.quote.pckChain) ? table(['subject', 'issuer', 'not after'], att.quote.pckChain.map(function (c) { return [c.subject, c.issuer, time(c.notAfter)] })) : h('p', { text: att.quote.pckChain.error }))),
      section('eventlog', 'RTMR3 event log',
        log.error ? h('p', { class: 'bad', text: log.error }) : h('div', null,
          h('p', null, 'replayed RTMR3 ', h('span', { class: 'mono', text: log.replayedRtmr3 }), ' ', h('span', { 'data-testid': 'rtmr3-match', class: log.matchesQuote ? 'pill ok' : 'pill bad', text: log.matchesQuote ? 'matches the quote' : 'does not match the quote' })),
          table(['event', 'payload'], log.events.map(function (e) { return [e.name, h('span', { class: 'mono', text: e.payloadText !== null ? e.payloadText : e.payload })] })))),
      section('keychain', 'Signature chain to the KMS root', kv(att.keyChain)),
      att.statement ? section('statement', 'Signed statement', kv(att.statement)) : null)
  }

  function connect() {
    var live = document.getElementById('live')
    var source = new EventSource('/api/stream')
    source.onopen = function () { live.textContent = 'live'; live.className = 'pill ok' }
    source.onerror = function () { live.textContent = 'reconnecting…'; live.className = 'pill warn' }
    source.addEventListener('check', schedule)
    source.addEventListener('alert', schedule)
  }

  refresh().then(connect)
})()
`
