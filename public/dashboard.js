// hashedge status page: polls ./stats (GET /_hashedge/stats) and renders it. Plain ES module,
// no framework, no build step. Counters in the JSON are cumulative since the node started;
// rates (requests/s, bytes/s) are differences between the node's own per-second samples
// (stats.history: the last minute at once, even for a page opened after a burst), or between
// two polls when a node gives no history.
// Any field may be missing (older node, single node): it shows as "—".
//
// Every number element has a data-testid and, once known, its raw value in data-value (the
// text is formatted for people); test/dashboard.test.ts reads those.

const params = new URLSearchParams(location.search);
/** Poll interval in ms; `?interval=500` overrides (250 ms - 60 s). */
const INTERVAL_MS = Math.min(60_000, Math.max(250, Number(params.get('interval')) || 1000));
/** How much history the sparkline and the "last minute" figures cover. */
const WINDOW_MS = 60_000;
/** Relative to the page (/_hashedge/), so the page works behind a proxy that adds a prefix. */
const STATS_URL = new URL('stats', location.href);
const DASH = '—';

const CACHE_OUTCOMES = [
  { key: 'hit', label: 'memory (hit)' },
  { key: 'peer', label: 'peer (owner)' },
  { key: 'collapsed', label: 'collapsed' },
  { key: 'miss', label: 'origin (miss)' },
  { key: 'fallback', label: 'origin (owner down)' },
  { key: 'uncached', label: 'uncached' },
  { key: 'none', label: 'refused' },
];

/** Cumulative samples within the window (plus the one just before it), oldest first. */
let samples = [];
let lastOk = 0;
let polls = 0;
let failure = '';

// ---- formatting -----------------------------------------------------------------------------

const intFormat = new Intl.NumberFormat(undefined, { maximumFractionDigits: 0 });
const oneDecimal = new Intl.NumberFormat(undefined, { minimumFractionDigits: 1, maximumFractionDigits: 1 });
const upToOneDecimal = new Intl.NumberFormat(undefined, { maximumFractionDigits: 1 });
const upToTwoDecimals = new Intl.NumberFormat(undefined, { maximumFractionDigits: 2 });

/** A finite number, or undefined for anything else (missing field, null, string). */
function num(x) {
  return typeof x === 'number' && Number.isFinite(x) ? x : undefined;
}

function fmtInt(n) {
  return n === undefined ? DASH : intFormat.format(n);
}

function fmtRate(n) {
  if (n === undefined) return DASH;
  if (n === 0) return '0';
  return n < 10 ? oneDecimal.format(n) : intFormat.format(n);
}

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
function fmtBytes(n) {
  if (n === undefined) return DASH;
  let i = 0;
  let v = n;
  while (v >= 1024 && i < UNITS.length - 1) {
    v /= 1024;
    i++;
  }
  // Three significant digits at most: 1.09 GiB, 91.6 MiB, 512 MiB.
  const format = i === 0 || v >= 100 ? intFormat : v >= 10 ? upToOneDecimal : upToTwoDecimals;
  return `${format.format(v)}\u00a0${UNITS[i]}`;
}

function fmtPercent(ratio) {
  if (ratio === undefined) return DASH;
  return `${oneDecimal.format(ratio * 100)}\u00a0%`;
}

function fmtDuration(seconds) {
  if (seconds === undefined) return DASH;
  const s = Math.floor(seconds);
  const d = Math.floor(s / 86400);
  const h = Math.floor((s % 86400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  if (d > 0) return `${d}d ${h}h`;
  if (h > 0) return `${h}h ${m}m`;
  if (m > 0) return `${m}m ${s % 60}s`;
  return `${s}s`;
}

function fmtInterval(ms) {
  return ms < 1000 ? `${ms} ms` : `${oneDecimal.format(ms / 1000).replace(/[.,]0$/, '')} s`;
}

function fmtAgo(ms) {
  return ms < 1500 ? 'just now' : `${fmtDuration(ms / 1000)} ago`;
}

function ratio(part, whole) {
  return part === undefined || whole === undefined || whole <= 0 ? undefined : part / whole;
}

// ---- DOM helpers ----------------------------------------------------------------------------

function byId(id) {
  return document.querySelector(`[data-testid="${id}"]`);
}

/** Sets an element's text and its raw value (data-value; removed when unknown). */
function show(id, text, value) {
  const el = byId(id);
  if (el === null) return;
  if (el.textContent !== text) el.textContent = text;
  if (value === undefined) el.removeAttribute('data-value');
  else el.dataset.value = String(value);
}

/** Like show(), with the unit in a smaller span after the number ("212" "MiB/s"). */
function showWithUnit(id, formatted, value) {
  const el = byId(id);
  if (el === null) return;
  const match = /^(.*\d)\s*(\D+)$/.exec(formatted);
  if (match === null) el.textContent = formatted;
  else el.replaceChildren(match[1], h('span', { class: 'unit' }, match[2]));
  if (value === undefined) el.removeAttribute('data-value');
  else el.dataset.value = String(value);
}

/** Creates an element with attributes and children (strings become text nodes, never HTML). */
function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === false) continue;
    if (name === 'style') el.style.cssText = value;
    else el.setAttribute(name, value === true ? '' : String(value));
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null) continue;
    el.append(typeof child === 'string' ? document.createTextNode(child) : child);
  }
  return el;
}

function setBar(id, fraction) {
  const bar = byId(id);
  if (bar === null) return;
  const pct = fraction === undefined ? 0 : Math.min(100, Math.max(0, fraction * 100));
  bar.firstElementChild.style.width = `${pct}%`;
  bar.classList.toggle('high', fraction !== undefined && fraction >= 0.9);
  if (fraction === undefined) {
    bar.removeAttribute('aria-valuenow');
    bar.setAttribute('aria-valuetext', 'unknown');
  } else {
    bar.setAttribute('aria-valuenow', pct.toFixed(1));
    bar.setAttribute('aria-valuetext', `${pct.toFixed(1)} percent full`);
  }
}

function replaceRows(tbody, rows) {
  tbody.replaceChildren(...rows);
}

// ---- rendering ------------------------------------------------------------------------------

function render(stats, now) {
  const traffic = stats.traffic ?? {};
  const byCache = traffic.byCache ?? undefined;
  const counters = stats.counters ?? {};
  const cache = stats.cache ?? {};
  const hot = cache.hot ?? {};

  // Header.
  const node = typeof stats.node === 'string' ? stats.node : typeof stats.cluster?.self === 'string' ? stats.cluster.self : location.origin;
  show('node', node, node);
  document.title = `hashedge · ${node.replace(/^https?:\/\//, '')}`;
  show('origin', typeof stats.origin === 'string' ? stats.origin : DASH, stats.origin);
  show('uptime', fmtDuration(num(stats.uptimeSeconds)), num(stats.uptimeSeconds));
  const ready = byId('ready');
  const readyText = stats.ready === true ? 'ready' : stats.ready === false ? 'not yet' : DASH;
  show('ready', readyText, typeof stats.ready === 'boolean' ? stats.ready : undefined);
  ready.className = `badge ${stats.ready === true ? 'good' : stats.ready === false ? 'warn' : ''}`;
  // --workers: the node adds its workers' figures up (stats.workers lists each one's own), so
  // which worker answered a poll changes nothing below; it is shown, with the node's count.
  const worker = Number.isInteger(stats.worker?.index) && Number.isInteger(stats.worker?.pid) ? stats.worker : undefined;
  const nodeWide = Array.isArray(stats.workers);
  // An older node answered with one worker's own counters: rates across two workers would be wrong.
  const workerKey = worker === undefined || nodeWide ? undefined : `${worker.index}:${worker.pid}`;
  byId('worker-fact').hidden = worker === undefined;
  const count = num(worker?.count);
  show('worker', worker === undefined ? DASH : `${worker.index}${count === undefined ? '' : ` of ${count}`} · pid ${worker.pid}`, worker === undefined ? undefined : `${worker.index}:${worker.pid}`);
  renderWorkers(nodeWide ? stats.workers : undefined, count);

  // Cumulative numbers and the samples for rates.
  const requests = num(traffic.requests);
  const bytesSent = num(traffic.bytesSent);
  const hit = num(byCache?.hit);
  // Hit ratio = byCache.hit / traffic.requests (every asset request has one cache result).
  const assetRequests = requests ?? (byCache && typeof byCache === 'object'
    ? Object.values(byCache).reduce((sum, v) => sum + (num(v) ?? 0), 0)
    : undefined);
  const originErrors = num(counters.originErrors);
  const history = Array.isArray(stats.history?.samples) ? stats.history.samples : undefined;
  const serverNow = num(stats.history?.now);
  let end = now;
  if (history !== undefined && history.length > 0 && serverNow !== undefined) {
    // The node's own per-second history (the last minute even for a page opened after a
    // burst), in the node's clock, ending with this answer's own counters.
    end = serverNow;
    samples = history
      .filter((s) => num(s?.t) !== undefined && s.t >= serverNow - WINDOW_MS - 1000 && s.t < serverNow)
      .map((s) => ({ t: s.t, requests: num(s.requests), bytesSent: num(s.bytesSent), hit: num(s.hit), assetRequests: num(s.requests), originErrors: num(s.originErrors), workerKey }));
    samples.push({ t: serverNow, requests, bytesSent, hit, assetRequests, originErrors, workerKey });
  } else {
    // A node without history (an older one): rates from this page's own polls.
    const sample = { t: now, requests, bytesSent, hit, assetRequests, originErrors, workerKey };
    const previous = samples.at(-1);
    // Another worker answered, or a counter went down (the node restarted behind the same URL):
    // rates across the two would be wrong, so the history starts again.
    if (previous && previous.workerKey !== workerKey) samples = [];
    if (previous && ['requests', 'bytesSent', 'originErrors'].some((k) => sample[k] !== undefined && previous[k] !== undefined && sample[k] < previous[k])) samples = [];
    samples.push(sample);
    while (samples.length > 2 && samples[1].t <= now - WINDOW_MS) samples.shift();
  }

  const rates = [];
  for (let i = 1; i < samples.length; i++) {
    const a = samples[i - 1];
    const b = samples[i];
    const dt = (b.t - a.t) / 1000;
    if (dt <= 0) continue;
    rates.push({
      t: b.t,
      rps: a.requests === undefined || b.requests === undefined ? undefined : (b.requests - a.requests) / dt,
      bps: a.bytesSent === undefined || b.bytesSent === undefined ? undefined : (b.bytesSent - a.bytesSent) / dt,
    });
  }
  const latest = rates.at(-1);
  show('req-rate', fmtRate(latest?.rps), latest?.rps);
  showWithUnit('byte-rate', latest?.bps === undefined ? DASH : `${fmtBytes(latest.bps)}/s`, latest?.bps);
  const rpsValues = rates.map((r) => r.rps).filter((v) => v !== undefined);
  const peak = rpsValues.length ? Math.max(...rpsValues) : undefined;
  show('req-rate-peak', peak === undefined ? DASH : `${fmtRate(peak)}/s`, peak);
  drawSparkline(rates, end);

  show('requests-total', fmtInt(requests), requests);
  show('bytes-sent', fmtBytes(bytesSent), bytesSent);

  const hitRatio = ratio(hit, assetRequests);
  showWithUnit('hit-ratio', fmtPercent(hitRatio), hitRatio);
  const oldest = samples[0];
  const recentHitRatio = samples.length > 1 && oldest.hit !== undefined && hit !== undefined && oldest.assetRequests !== undefined
    ? ratio(hit - oldest.hit, assetRequests - oldest.assetRequests)
    : undefined;
  show('hit-ratio-recent', fmtPercent(recentHitRatio), recentHitRatio);

  show('origin-fetches', fmtInt(num(counters.originFetches)), num(counters.originFetches));
  show('origin-not-found', fmtInt(num(counters.originNotFound)), num(counters.originNotFound));
  show('collapsed', fmtInt(num(counters.collapsed)), num(counters.collapsed));
  show('origin-errors', fmtInt(originErrors), originErrors);
  const recentErrors = originErrors !== undefined && oldest.originErrors !== undefined ? originErrors - oldest.originErrors : undefined;
  show('origin-errors-recent', fmtInt(recentErrors), recentErrors);
  byId('origin-errors-card').classList.toggle('alarm', (recentErrors ?? 0) > 0);
  show('evictions', fmtInt(num(counters.evictions)), num(counters.evictions));
  show('hot-admissions', fmtInt(num(counters.hotAdmissions)), num(counters.hotAdmissions));
  show('hot-hits', fmtInt(num(counters.hotHits)), num(counters.hotHits));
  show('negative-hits', fmtInt(num(counters.negativeHits)), num(counters.negativeHits));
  show('pass-through', fmtInt(num(counters.passThrough)), num(counters.passThrough));

  // Cache fill.
  renderFill('cache', cache);
  renderFill('hot', hot);
  renderDisk(stats.disk);

  renderByCache(byCache, assetRequests);
  renderByStatus(traffic.byStatus);
  renderCluster(stats.cluster);
  renderTopKeys(stats.topKeys);
}

/** Each worker's own figures (--workers), and a warning naming those whose figures are missing. */
function renderWorkers(workers, count) {
  byId('workers-panel').hidden = workers === undefined;
  const banner = byId('workers-missing');
  const missing = (workers ?? []).filter((w) => w?.answered !== true);
  banner.hidden = missing.length === 0;
  if (missing.length > 0) {
    const answered = (workers ?? []).length - missing.length;
    const named = missing.map((w) => `worker ${w.index}${num(w.pid) === undefined ? '' : ` (pid ${w.pid})`}: ${typeof w.reason === 'string' ? w.reason : 'no answer'}`);
    banner.textContent = `Not counted: ${named.join('; ')}. The figures below are of ${answered} of ${count ?? workers.length} workers.`;
  } else {
    banner.textContent = '';
  }
  if (workers === undefined) return;
  replaceRows(
    byId('workers').tBodies[0],
    workers.map((w) => {
      const index = num(w?.index);
      const label = `${index === undefined ? DASH : index}${num(w?.pid) === undefined ? '' : ` · pid ${w.pid}`}`;
      if (w?.answered !== true) {
        return h('tr', { 'data-testid': 'worker-row', 'data-index': index, 'data-answered': 'false', class: 'missing' },
          h('td', {}, label),
          h('td', { colspan: 4, 'data-testid': 'worker-state', 'data-value': 'missing' }, `not counted: ${typeof w?.reason === 'string' ? w.reason : 'no answer'}`),
          h('td', {}, ''));
      }
      const requests = num(w.traffic?.requests);
      const hitRatio = ratio(num(w.traffic?.byCache?.hit), requests);
      const bytes = num(w.cache?.bytes);
      const items = num(w.cache?.items);
      const member = typeof w.member === 'string' ? w.member : DASH;
      return h('tr', { 'data-testid': 'worker-row', 'data-index': index, 'data-answered': 'true' },
        h('td', {}, label),
        h('td', {}, h('span', { class: 'mono', title: member }, member.replace(/^https?:\/\//, ''))),
        h('td', { class: 'num' }, h('span', { 'data-testid': 'worker-requests', 'data-value': requests }, fmtInt(requests))),
        h('td', { class: 'num' }, h('span', { 'data-testid': 'worker-hit-ratio', 'data-value': hitRatio }, fmtPercent(hitRatio))),
        h('td', { class: 'num', title: `${fmtInt(items)} objects` }, h('span', { 'data-testid': 'worker-cache-bytes', 'data-value': bytes }, fmtBytes(bytes))),
        h('td', { 'data-testid': 'worker-state', 'data-value': w.ready === true ? 'ready' : 'not-ready' }, w.ready === true ? 'ready' : 'origin not reached yet'));
    }),
  );
}

function renderFill(prefix, part) {
  const bytes = num(part.bytes);
  const budget = num(part.budgetBytes);
  const items = num(part.items);
  show(`${prefix}-bytes`, fmtBytes(bytes), bytes);
  show(`${prefix}-budget`, budget === 0 ? 'off' : fmtBytes(budget), budget);
  show(`${prefix}-items`, fmtInt(items), items);
  const fill = ratio(bytes, budget);
  // A budget of 0: this cache is off (the hot cache outside a cluster).
  byId(`${prefix}-fill`)?.closest('.fill')?.classList.toggle('off', budget === 0);
  show(`${prefix}-percent`, budget === 0 ? (prefix === 'hot' ? 'only in a cluster' : '') : fmtPercent(fill), fill);
  setBar(`${prefix}-fill`, fill);
}

/** The disk tier (--disk-cache): hidden without one; its state stands out when it is not ok. */
function renderDisk(disk) {
  const section = byId('disk');
  if (!section) return;
  section.hidden = !disk || typeof disk !== 'object';
  if (section.hidden) return;
  renderFill('disk', { bytes: disk.bytes, budgetBytes: disk.budgetBytes, items: disk.objects });
  const state = typeof disk.state === 'string' ? disk.state : '—';
  show('disk-state', state === 'ok' ? 'ok' : `${state}: writes paused, serving from memory`, state);
  byId('disk-state')?.classList.toggle('alarm', state !== 'ok');
  for (const [id, value] of [['disk-hits', disk.hits], ['disk-writes', disk.writes], ['disk-queue', disk.queued], ['disk-evictions', disk.evictions], ['disk-verify-failures', disk.verifyFailures], ['disk-write-errors', disk.writeErrors]]) {
    show(id, fmtInt(num(value)), num(value));
  }
}

function renderByCache(byCache, total) {
  const stack = byId('by-cache');
  const legend = byId('by-cache-legend');
  if (!byCache || typeof byCache !== 'object') {
    stack.replaceChildren();
    legend.replaceChildren(h('li', { class: 'muted' }, DASH));
    return;
  }
  const known = CACHE_OUTCOMES.map((o) => o.key);
  const outcomes = [...CACHE_OUTCOMES.filter((o) => o.key in byCache), ...Object.keys(byCache).filter((k) => !known.includes(k)).map((key) => ({ key, label: key }))];
  stack.replaceChildren(
    ...outcomes
      .filter((o) => (num(byCache[o.key]) ?? 0) > 0)
      .map((o) => h('span', { class: `seg seg-${o.key}`, style: `flex-grow:${num(byCache[o.key])}`, title: `${o.label}: ${fmtInt(num(byCache[o.key]))}` })),
  );
  legend.replaceChildren(
    ...outcomes.map((o) => {
      const n = num(byCache[o.key]);
      return h('li', {},
        h('span', { class: `swatch seg-${o.key}`, 'aria-hidden': 'true' }),
        `${o.label} `,
        h('b', { 'data-testid': `by-cache-${o.key}`, 'data-value': n }, fmtInt(n)),
        h('span', { class: 'muted' }, ` ${total ? fmtPercent(ratio(n, total)) : ''}`));
    }),
  );
}

function renderByStatus(byStatus) {
  const list = byId('by-status');
  const entries = byStatus && typeof byStatus === 'object' ? Object.entries(byStatus).filter(([, n]) => num(n) !== undefined) : [];
  if (entries.length === 0) {
    list.replaceChildren(h('li', { class: 'muted' }, byStatus && typeof byStatus === 'object' ? 'no requests yet' : DASH));
    return;
  }
  entries.sort(([a], [b]) => a.localeCompare(b));
  list.replaceChildren(
    ...entries.map(([code, n]) =>
      h('li', { class: `chip s${code.charAt(0)}` }, h('span', { class: 'code' }, code), h('b', { 'data-testid': `status-${code}`, 'data-value': n }, fmtInt(n)))),
  );
}

function renderCluster(cluster) {
  const tbody = byId('cluster').tBodies[0];
  const members = Array.isArray(cluster?.members) ? cluster.members : undefined;
  if (cluster === null) {
    replaceRows(tbody, [h('tr', {}, h('td', { colspan: 3, class: 'muted', 'data-testid': 'cluster-none' }, 'Single node: not part of a cluster.'))]);
    return;
  }
  if (members === undefined) {
    replaceRows(tbody, [h('tr', {}, h('td', { colspan: 3, class: 'muted' }, DASH))]);
    return;
  }
  // --workers: the ring's members are workers; people think in nodes, so each node is a row
  // with its workers under it.
  const nodes = Array.isArray(cluster?.nodes) ? cluster.nodes : undefined;
  if (nodes !== undefined) {
    const maxNodeShare = Math.max(...nodes.map((n) => num(n?.share) ?? 0), 0);
    replaceRows(tbody, nodes.flatMap((n) => {
      const url = typeof n?.url === 'string' ? n.url : DASH;
      const workers = Array.isArray(n?.workers) ? n.workers : [];
      const health = ['unknown', 'up', 'degraded', 'down'].includes(n?.state) ? n.state : 'unknown';
      const up = workers.filter((w) => w?.state === 'up').length;
      return [
        h('tr', { 'data-testid': 'cluster-node', 'data-url': url, 'data-self': n?.self === true, class: `node-row${n?.self === true ? ' self' : ''}` },
          h('td', {}, h('div', { class: 'member' },
            h('span', { class: 'mono', 'data-testid': 'node-url', 'data-value': url, title: url }, url.replace(/^https?:\/\//, '')),
            n?.self === true ? h('span', { class: 'pill', title: 'This node' }, 'self') : null,
            h('span', { class: 'muted', 'data-testid': 'node-workers', 'data-value': workers.length }, `${workers.length} workers`))),
          h('td', { class: 'health' }, h('span', { class: `dot ${health === 'up' ? 'healthy' : health === 'degraded' ? 'suspect' : health}`, 'aria-hidden': 'true' }),
            h('span', { 'data-testid': 'node-health', 'data-value': health }, health === 'degraded' ? `${up} of ${workers.length} up` : health)),
          shareCell(num(n?.share), maxNodeShare, 'node-share')),
        ...workers.map((m) => memberRow(m, maxNodeShare, url, `worker ${num(m?.index) ?? DASH}`)),
      ];
    }));
    return;
  }
  const maxShare = Math.max(...members.map((m) => num(m?.share) ?? 0), 0);
  replaceRows(tbody, members.map((m) => memberRow(m, maxShare)));
}

/** A ring member's row; `node`: the node it is a worker of (shown indented under it). */
function memberRow(m, maxShare, node, label) {
  const url = typeof m?.url === 'string' ? m.url : DASH;
  const share = num(m?.share);
  // unknown: not yet probed (routed to); up: routed to; suspect: a fetch or probe failed;
  // down: probes fail (both routed around).
  const health = ['unknown', 'up', 'suspect', 'down'].includes(m?.state) ? m.state : 'unknown';
  return h('tr', { 'data-testid': 'member', 'data-url': url, 'data-node': node, 'data-self': m?.self === true, class: [node ? 'worker-of-node' : '', m?.self === true ? 'self' : ''].join(' ').trim() || undefined },
    h('td', {}, h('div', { class: 'member' },
      label ? h('span', { class: 'muted' }, label) : null,
      h('span', { class: 'mono', 'data-testid': 'member-url', 'data-value': url, title: url }, url.replace(/^https?:\/\//, '')),
      m?.self === true ? h('span', { class: 'pill', title: node ? 'The worker that answered' : 'This node' }, node ? 'answered' : 'self') : null)),
    h('td', { class: 'health' }, h('span', { class: `dot ${health === 'up' ? 'healthy' : health}`, 'aria-hidden': 'true' }), h('span', { 'data-testid': 'member-health', 'data-value': health }, health)),
    shareCell(share, maxShare, 'member-share'));
}

function shareCell(share, maxShare, testid) {
  return h('td', { class: 'num' },
    h('span', { class: 'minibar', 'aria-hidden': 'true' }, h('span', { style: `width:${maxShare > 0 ? ((share ?? 0) / maxShare) * 100 : 0}%` })),
    h('span', { 'data-testid': testid, 'data-value': share }, fmtPercent(share)));
}

function renderTopKeys(topKeys) {
  const tbody = byId('top-keys').tBodies[0];
  if (!Array.isArray(topKeys)) {
    replaceRows(tbody, [h('tr', {}, h('td', { colspan: 3, class: 'muted' }, DASH))]);
    return;
  }
  if (topKeys.length === 0) {
    replaceRows(tbody, [h('tr', {}, h('td', { colspan: 3, class: 'muted' }, 'No requests yet.'))]);
    return;
  }
  const max = Math.max(...topKeys.map((k) => num(k?.requests) ?? 0), 1);
  replaceRows(
    tbody,
    topKeys.map((k, i) => {
      const key = typeof k?.key === 'string' ? k.key : DASH;
      const n = num(k?.requests);
      return h('tr', { 'data-testid': 'topkey', 'data-key': key },
        h('td', { class: 'rank' }, String(i + 1)),
        h('td', { class: 'key' },
          h('span', { class: 'keybar', 'aria-hidden': 'true', style: `width:${((n ?? 0) / max) * 100}%` }),
          h('span', { class: 'mono', title: key, 'data-testid': 'topkey-key' }, key)),
        h('td', { class: 'num' }, h('span', { 'data-testid': 'topkey-requests', 'data-value': n }, fmtInt(n))));
    }),
  );
}

function drawSparkline(rates, now) {
  const svg = byId('sparkline');
  const points = rates.filter((r) => r.rps !== undefined);
  const [area, line] = svg.querySelectorAll('path');
  if (points.length < 2) {
    area.setAttribute('d', '');
    line.setAttribute('d', '');
    return;
  }
  const W = 120;
  const H = 32;
  const top = Math.max(1, ...points.map((p) => p.rps));
  // The x axis is the last minute; until a minute has passed, the history there is so far.
  const span = Math.min(WINDOW_MS, now - points[0].t) || 1;
  const x = (t) => Math.max(0, ((t - (now - span)) / span) * W).toFixed(2);
  const y = (v) => (H - 1.5 - (v / top) * (H - 4)).toFixed(2);
  const d = points.map((p, i) => `${i === 0 ? 'M' : 'L'}${x(p.t)},${y(p.rps)}`).join(' ');
  line.setAttribute('d', d);
  area.setAttribute('d', `${d} L${x(points.at(-1).t)},${H} L${x(points[0].t)},${H} Z`);
}

// ---- polling --------------------------------------------------------------------------------

function tickClock() {
  const el = byId('last-updated');
  if (lastOk === 0) {
    el.textContent = failure ? 'never' : 'connecting…';
    return;
  }
  const ago = fmtAgo(Math.max(0, Date.now() - lastOk));
  el.textContent = ago;
  el.title = new Date(lastOk).toLocaleString();
  if (failure) {
    byId('error').textContent = `Cannot reach ${STATS_URL.host}: ${failure}. The numbers below are from the last update (${ago}); retrying every ${fmtInterval(INTERVAL_MS)}.`;
  }
}

function setFailure(message) {
  failure = message;
  const banner = byId('error');
  if (message) {
    document.body.dataset.state = 'error';
    banner.hidden = false;
    if (lastOk === 0) banner.textContent = `Cannot reach ${STATS_URL.host}: ${message}. Retrying every ${fmtInterval(INTERVAL_MS)}.`;
    document.title = `⚠ ${document.title.replace(/^⚠ /, '')}`;
  } else {
    document.body.dataset.state = 'ok';
    banner.hidden = true;
    banner.textContent = '';
  }
  tickClock();
}

async function poll() {
  let stats;
  try {
    const res = await fetch(STATS_URL, { cache: 'no-store', headers: { accept: 'application/json' }, signal: AbortSignal.timeout(Math.max(2000, INTERVAL_MS * 2)) });
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    stats = await res.json();
    if (stats === null || typeof stats !== 'object') throw new Error('the answer is not a JSON object');
  } catch (err) {
    setFailure(err?.name === 'TimeoutError' ? 'no answer in time' : err instanceof TypeError ? 'the node is not answering' : String(err?.message ?? err));
    setTimeout(poll, INTERVAL_MS);
    return;
  }
  try {
    render(stats, performance.now());
    lastOk = Date.now();
    polls++;
    document.body.dataset.polls = String(polls);
    setFailure('');
  } catch (err) {
    console.error(err);
    setFailure(`the page could not show the answer (${String(err?.message ?? err)})`);
  }
  setTimeout(poll, INTERVAL_MS);
}

show('interval', fmtInterval(INTERVAL_MS), INTERVAL_MS);
setInterval(tickClock, 1000);
void poll();
