// The console's page: a static shell, a stylesheet and one script (served from the
// console itself: the Content-Security-Policy allows nothing else). The script reads
// the JSON API and renders every value with textContent, never as HTML: a payload
// holding markup is shown as text.

/** The shell; the CSRF token travels in a meta tag the script reads (same origin only). */
export function consolePage(csrfToken: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="outbox-csrf" content="${csrfToken}">
<title>Outbox console</title>
<link rel="stylesheet" href="/console.css">
<script src="/console.js" defer></script>
</head>
<body>
<header>
  <h1>Outbox console</h1>
  <nav>
    <button data-tab="overview" class="active">Overview</button>
    <button data-tab="journey">Message journey</button>
    <button data-tab="dlq">Dead letters</button>
    <button data-tab="reconciler">Reconciler runs</button>
    <button data-tab="audit">Audit log</button>
  </nav>
  <span id="updated" data-testid="updated"></span>
</header>
<p id="notice" data-testid="notice" role="status"></p>
<main>
  <section id="overview" data-testid="overview-section">
    <h2>Relay</h2>
    <div id="relay" class="cards" data-testid="relay"></div>
    <ul id="alerts" class="alerts" data-testid="alerts"></ul>
    <h2>Consumers</h2>
    <table data-testid="consumers"><thead><tr>
      <th>consumer</th><th>not done</th><th>in flight</th><th>retrying</th><th>dead</th><th>queue</th><th>retry queues</th><th>DLQ</th><th>parked keys</th>
      <th>done (5 min)</th><th>commit→handled p50 / p99</th><th>last error</th>
    </tr></thead><tbody id="consumer-rows"></tbody></table>
  </section>
  <section id="journey" hidden>
    <form id="journey-form" class="search">
      <input id="journey-search" data-testid="journey-search" name="q" placeholder="message id, ordering key or correlation id" autocomplete="off" required maxlength="255">
      <button type="submit">Search</button>
    </form>
    <div id="journey-results" data-testid="journey-results"></div>
  </section>
  <section id="dlq" hidden>
    <div class="toolbar">
      <label>Consumer <select id="dlq-consumer" data-testid="dlq-consumer"></select></label>
      <button id="dlq-refresh" type="button">Refresh</button>
      <button id="dlq-replay-selected" data-testid="dlq-replay-selected" type="button">Replay selected</button>
      <button id="dlq-purge" data-testid="dlq-purge" type="button" class="danger">Purge all</button>
    </div>
    <table data-testid="dlq-table"><thead><tr>
      <th></th><th>message id</th><th>event type</th><th>reason</th><th>error</th><th>attempts</th><th>dead at</th>
    </tr></thead><tbody id="dlq-rows"></tbody></table>
    <div id="dlq-detail" data-testid="dlq-detail" hidden></div>
  </section>
  <section id="reconciler" hidden>
    <table data-testid="reconciler-runs"><thead><tr>
      <th>run</th><th>status</th><th>started</th><th>duration</th><th>scanned</th><th>re-scheduled</th><th>deferred</th><th>error</th>
    </tr></thead><tbody id="run-rows"></tbody></table>
  </section>
  <section id="audit" hidden>
    <table data-testid="audit-log"><thead><tr>
      <th>when</th><th>who</th><th>from</th><th>action</th><th>target</th><th>details</th>
    </tr></thead><tbody id="audit-rows"></tbody></table>
  </section>
</main>
</body>
</html>
`;
}

export const CONSOLE_CSS = `
body { font: 14px/1.4 system-ui, sans-serif; margin: 0; color: #1d2430; background: #f6f7f9; }
header { display: flex; gap: 1.5rem; align-items: center; padding: .6rem 1.2rem; background: #1d2430; color: #fff; }
header h1 { font-size: 1.1rem; margin: 0; }
nav button { background: none; color: #cfd6e0; border: 0; padding: .4rem .6rem; cursor: pointer; font: inherit; }
nav button.active { color: #fff; border-bottom: 2px solid #6cb4ff; }
#updated { margin-left: auto; color: #9aa5b4; font-size: .85rem; }
main { padding: 0 1.2rem 2rem; }
#notice { margin: .6rem 1.2rem; min-height: 1.2em; }
#notice.error { color: #b3261e; }
.cards { display: flex; flex-wrap: wrap; gap: .8rem; }
.card { background: #fff; border: 1px solid #dde2e8; border-radius: 6px; padding: .6rem .9rem; min-width: 9rem; }
.card .value { font-size: 1.4rem; font-weight: 600; }
.card .label { color: #5b6675; font-size: .8rem; }
.card.bad .value { color: #b3261e; }
table { border-collapse: collapse; width: 100%; background: #fff; margin: .5rem 0 1rem; }
th, td { border-bottom: 1px solid #e6e9ee; padding: .35rem .5rem; text-align: left; vertical-align: top; }
th { font-size: .8rem; color: #5b6675; font-weight: 600; }
td.error { color: #b3261e; max-width: 28rem; overflow-wrap: anywhere; }
tr.clickable { cursor: pointer; }
tr.clickable:hover { background: #eef4fb; }
pre { background: #fff; border: 1px solid #dde2e8; padding: .6rem; overflow: auto; max-height: 24rem; white-space: pre-wrap; overflow-wrap: anywhere; }
.alerts li { color: #b3261e; }
.toolbar, .search { display: flex; gap: .6rem; align-items: center; margin: .8rem 0; }
.search input { flex: 1; max-width: 40rem; padding: .35rem; }
button.danger { color: #b3261e; }
.journey { background: #fff; border: 1px solid #dde2e8; border-radius: 6px; padding: .6rem .9rem; margin: .8rem 0; }
.status-done { color: #1b7f3b; } .status-dead, .status-failed, .status-parked { color: #b3261e; } .status-processing { color: #a15c00; }
`;

export const CONSOLE_SCRIPT = `'use strict';
(() => {
  const csrf = document.querySelector('meta[name="outbox-csrf"]').content;
  const $ = (id) => document.getElementById(id);
  /** An element with text children only: data is never parsed as HTML. */
  function el(tag, props, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(props || {})) {
      if (value === undefined || value === null || value === false) continue;
      if (key === 'className') node.className = value;
      else if (key === 'onclick') node.addEventListener('click', value);
      else if (key === 'dataset') Object.assign(node.dataset, value);
      else node.setAttribute(key, String(value));
    }
    for (const child of children.flat()) {
      if (child === undefined || child === null) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }
  const td = (value, className) => el('td', { className }, value === null || value === undefined ? '–' : value);
  const ms = (value) => (value === null || value === undefined ? '–' : value < 1000 ? value + ' ms' : value < 120000 ? (value / 1000).toFixed(1) + ' s' : Math.round(value / 60000) + ' min');
  const when = (iso) => (iso ? new Date(iso).toLocaleString() : '–');
  const pretty = (text) => { try { return JSON.stringify(typeof text === 'string' ? JSON.parse(text) : text, null, 2); } catch { return String(text); } };
  function notice(text, isError) { const node = $('notice'); node.textContent = text; node.className = isError ? 'error' : ''; }

  async function api(path, body) {
    const init = body === undefined ? {} : { method: 'POST', headers: { 'content-type': 'application/json', 'x-outbox-csrf': csrf }, body: JSON.stringify(body) };
    const response = await fetch(path, init);
    const answer = await response.json().catch(() => ({}));
    if (!response.ok) throw new Error((answer.error && answer.error.message) || response.statusText);
    return answer;
  }

  // Tabs
  let current = 'overview';
  for (const button of document.querySelectorAll('nav button')) {
    button.addEventListener('click', () => show(button.dataset.tab));
  }
  function show(tab) {
    current = tab;
    for (const button of document.querySelectorAll('nav button')) button.classList.toggle('active', button.dataset.tab === tab);
    for (const section of document.querySelectorAll('main section')) section.hidden = section.id !== tab;
    if (tab === 'overview') refreshOverview();
    if (tab === 'dlq') loadDeadLetters();
    if (tab === 'reconciler') loadRuns();
    if (tab === 'audit') loadAudit();
  }

  // Overview
  function card(label, value, bad, testid) {
    return el('div', { className: bad ? 'card bad' : 'card', 'data-testid': testid }, el('div', { className: 'value' }, value), el('div', { className: 'label' }, label));
  }
  async function refreshOverview() {
    try {
      const data = await api('/api/overview');
      const relay = data.relay;
      $('relay').replaceChildren(...[
        card('pending', relay.pending, relay.stale, 'relay-pending'),
        card('oldest pending', ms(relay.oldestPendingAgeMs), relay.stale, 'relay-lag'),
        card('published / s', relay.publishRatePerSecond === null ? '…' : relay.publishRatePerSecond.toFixed(1), false, 'relay-rate'),
        card('failed rows', relay.failed, relay.failed > 0, 'relay-failed'),
        card('unroutable', relay.unroutable.depth === null ? '?' : relay.unroutable.depth, relay.unroutable.depth > 0, 'relay-unroutable'),
        relay.failed > 0 ? el('button', { 'data-testid': 'retry-failed', onclick: retryFailed }, 'Retry failed rows') : null,
      ].filter(Boolean));
      $('alerts').replaceChildren(...data.alerts.map((alert) => el('li', {}, alert)));
      $('consumer-rows').replaceChildren(
        ...data.consumers.map((c) =>
          el('tr', { 'data-testid': 'consumer-' + c.consumer },
            td(c.consumer + (c.ordered ? ' (ordered)' : '')), td(c.notDone), td(c.inFlight), td(c.retrying), td(c.dead),
            td(c.queueDepth), td(c.retryDepth),
            el('td', {}, c.dlqDepth ? el('a', { href: '#', 'data-testid': 'dlq-link-' + c.consumer, onclick: (event) => { event.preventDefault(); openDeadLetters(c.consumer); } }, c.dlqDepth) : c.dlqDepth === null ? '?' : '0'),
            td(c.parkedKeys), td(c.doneInWindow), td(ms(c.handledLagP50Ms) + ' / ' + ms(c.handledLagP99Ms)),
            td(c.lastError ? c.lastError.error + ' (' + when(c.lastError.at) + ')' : null, 'error'),
          ),
        ),
      );
      $('updated').textContent = 'updated ' + new Date(data.generatedAt).toLocaleTimeString();
    } catch (error) {
      notice('overview: ' + error.message, true);
    }
  }
  async function retryFailed() {
    if (!confirm('Return every failed outbox row to pending? The relay publishes them again.')) return;
    try {
      const result = await api('/api/relay/retry-failed', { all: true });
      notice('returned ' + result.retried.length + ' failed row(s) to pending');
      refreshOverview();
    } catch (error) { notice('retry-failed: ' + error.message, true); }
  }

  // Message journey
  $('journey-form').addEventListener('submit', async (event) => {
    event.preventDefault();
    const q = $('journey-search').value.trim();
    try {
      const found = await api('/api/messages?q=' + encodeURIComponent(q));
      $('journey-results').replaceChildren(
        found.messages.length === 0 ? el('p', {}, 'No message with that id, ordering key or correlation id.') : el('p', {}, found.messages.length + ' message(s), matched by ' + found.matchedBy),
        ...found.messages.map(journeyCard),
      );
    } catch (error) { notice('search: ' + error.message, true); }
  });
  function journeyCard(m) {
    return el('div', { className: 'journey', 'data-testid': 'journey-' + m.id },
      el('h3', {}, m.eventType + ' v' + m.eventVersion + ' · ' + m.id),
      el('p', {}, 'key ', m.orderingKey || '–', ' · correlation ', m.correlationId || '–', ' · written ', when(m.createdAt)),
      el('p', {}, 'relay: ', el('strong', { className: 'status-' + m.status, 'data-testid': 'journey-relay-status' }, m.status),
        m.publishedAt ? ' at ' + when(m.publishedAt) : '', m.attempts ? ' · ' + m.attempts + ' unconfirmed attempt(s), last: ' + m.lastError : ''),
      el('table', {}, el('thead', {}, el('tr', {}, ['consumer', 'status', 'attempts', 'last error', 'received', 'done', 're-scheduled'].map((h) => el('th', {}, h)))),
        el('tbody', {}, m.consumers.map((c) => el('tr', { 'data-testid': 'journey-consumer-' + c.consumer },
          td(c.consumer), el('td', { className: 'status-' + c.status }, c.status), td(c.attempts), td(c.lastError, 'error'), td(when(c.receivedAt)), td(when(c.doneAt)),
          td(c.rescheduled ? c.rescheduled.count + '× (last ' + when(c.rescheduled.lastAt) + ')' : null))))),
      el('details', {}, el('summary', {}, 'payload and headers'), el('pre', {}, pretty(m.payload)), el('pre', {}, pretty(m.headers))),
    );
  }

  // Dead letters
  let consumers = [];
  let letters = [];
  async function loadConsumers() {
    consumers = await api('/api/consumers');
    $('dlq-consumer').replaceChildren(...consumers.map((c) => el('option', { value: c.name }, c.name)));
  }
  function openDeadLetters(name) { $('dlq-consumer').value = name; show('dlq'); }
  $('dlq-consumer').addEventListener('change', () => loadDeadLetters());
  $('dlq-refresh').addEventListener('click', () => loadDeadLetters());
  async function loadDeadLetters() {
    const name = $('dlq-consumer').value;
    if (!name) return;
    $('dlq-detail').hidden = true;
    try {
      letters = (await api('/api/dlq/' + encodeURIComponent(name) + '?limit=200')).deadLetters;
      $('dlq-rows').replaceChildren(...letters.map((letter, index) =>
        el('tr', { className: 'clickable', 'data-testid': 'dlq-row-' + letter.messageId, onclick: (event) => { if (event.target.tagName !== 'INPUT') showLetter(index); } },
          el('td', {}, el('input', { type: 'checkbox', 'data-id': letter.messageId, 'aria-label': 'select ' + letter.messageId })),
          td(letter.messageId), td(letter.eventType), td(letter.reason), td(letter.error, 'error'), td(letter.attempts), td(when(letter.deadAt)))));
      if (letters.length === 0) $('dlq-rows').replaceChildren(el('tr', {}, el('td', { colspan: 7 }, name + '.dlq is empty')));
    } catch (error) { notice('dead letters: ' + error.message, true); }
  }
  function showLetter(index) {
    const letter = letters[index];
    $('dlq-detail').replaceChildren(
      el('h3', {}, letter.eventType || '(no type)', ' · ', letter.messageId || '(no id)'),
      el('p', {}, 'reason ', letter.reason || '–', ' · attempts ', letter.attempts === undefined ? '–' : letter.attempts, ' · dead at ', when(letter.deadAt), letter.byBroker ? ' · dead-lettered by the broker' : ''),
      el('p', { className: 'error', 'data-testid': 'dlq-detail-error' }, letter.error || ''),
      el('h4', {}, 'payload', letter.payloadTruncated ? ' (cut at 64 KiB)' : ''),
      el('pre', { 'data-testid': 'dlq-detail-payload' }, pretty(letter.payload)),
      el('h4', {}, 'headers'),
      el('pre', { 'data-testid': 'dlq-detail-headers' }, pretty(letter.headers)),
      letter.messageId ? el('button', { 'data-testid': 'dlq-replay-one', onclick: () => replay([letter.messageId]) }, 'Replay this message') : '',
    );
    $('dlq-detail').hidden = false;
  }
  async function replay(ids) {
    const name = $('dlq-consumer').value;
    if (ids.length === 0) { notice('select dead letters first', true); return; }
    if (!confirm('Replay ' + ids.length + ' dead letter(s) to ' + name + '? Each goes back to its queue as attempt 1.')) return;
    try {
      const result = await api('/api/dlq/' + encodeURIComponent(name) + '/replay', { messageIds: ids });
      notice('replayed ' + result.replayed.length + ' dead letter(s) to ' + name);
    } catch (error) { notice('replay: ' + error.message, true); }
    loadDeadLetters();
  }
  $('dlq-replay-selected').addEventListener('click', () =>
    replay([...document.querySelectorAll('#dlq-rows input[type=checkbox]:checked')].map((box) => box.dataset.id)));
  $('dlq-purge').addEventListener('click', async () => {
    const name = $('dlq-consumer').value;
    if (!confirm('Delete every dead letter of ' + name + '? This cannot be undone.')) return;
    try {
      const result = await api('/api/dlq/' + encodeURIComponent(name) + '/purge', { confirm: name });
      notice('purged ' + result.purged + ' dead letter(s) from ' + name + '.dlq');
    } catch (error) { notice('purge: ' + error.message, true); }
    loadDeadLetters();
  });

  // Reconciler runs and audit log
  async function loadRuns() {
    try {
      const runs = await api('/api/reconciler/runs');
      $('run-rows').replaceChildren(...runs.map((run) => el('tr', { 'data-testid': 'run-' + run.id },
        td('#' + run.id), el('td', { className: 'status-' + run.status }, run.status), td(when(run.startedAt)), td(ms(run.durationMs)),
        td(run.scanned), td(run.rescheduled), td(run.deferred), td(run.error, 'error'))));
    } catch (error) { notice('reconciler runs: ' + error.message, true); }
  }
  async function loadAudit() {
    try {
      const entries = await api('/api/audit');
      $('audit-rows').replaceChildren(...entries.map((entry) => el('tr', { 'data-testid': 'audit-' + entry.id },
        td(when(entry.at)), td(entry.actor), td(entry.source), td(entry.action), td(entry.target), el('td', {}, el('code', {}, JSON.stringify(entry.details))))));
    } catch (error) { notice('audit log: ' + error.message, true); }
  }

  loadConsumers().catch((error) => notice('consumers: ' + error.message, true));
  refreshOverview();
  setInterval(() => { if (current === 'overview' && !document.hidden) refreshOverview(); }, 3000);
})();
`;
