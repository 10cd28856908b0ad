// @ts-check
// c2dns web console: one hand-written ES module, no framework, no build step (type-checked by
// `npm run typecheck` through tsconfig.console.json). Every page is server-rendered HTML; this
// script fills it from the admin API with fetch() and, on the Queries page, an EventSource.
//
// The admin token lives in sessionStorage (this tab only, gone when it closes), is sent only as
// "Authorization: Bearer" to this origin, and never in a cookie or a URL. The live stream, which
// EventSource cannot give headers, is opened with a single-use ticket bought with the token.
// Nothing from the server is ever parsed as HTML: text goes into text nodes.

const TOKEN_KEY = 'c2dns.adminToken';
const MAX_TAIL_ROWS = 500;

/** @typedef {Record<string, any>} Json */

/** @param {string} id */
function byId(id) {
  const e = document.getElementById(id);
  if (e === null) throw new Error(`the page has no #${id}`);
  return e;
}

/**
 * An element with attributes and children (strings become text nodes).
 * @param {string} tag
 * @param {Record<string, string>} [attrs]
 * @param {...(Node | string | null | undefined)} kids
 * @returns {HTMLElement}
 */
function h(tag, attrs = {}, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  for (const k of kids) if (k !== null && k !== undefined) e.append(k);
  return e;
}

/** @param {string} text @param {'bad' | 'ok' | 'warn' | 'plain'} tone */
const badge = (text, tone) => h('span', { class: `badge ${tone}` }, text);

/** @param {string | null | undefined} s */
const sub = (s) => (s ? h('span', { class: 'sub' }, s) : null);

/** @param {number} n */
const num = (n) => n.toLocaleString();

/** @param {string | number | null | undefined} t */
function clock(t) {
  if (t === null || t === undefined) return '–';
  const d = new Date(t);
  return Number.isNaN(d.getTime()) ? String(t) : d.toLocaleString();
}

/** @param {string | null | undefined} t */
function ago(t) {
  if (!t) return 'never';
  const s = Math.round((Date.now() - new Date(t).getTime()) / 1000);
  if (s < 0) return `in ${duration(-s)}`;
  return `${duration(s)} ago`;
}

/** @param {number} s */
function duration(s) {
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.round(s / 60)} min`;
  if (s < 86400) return `${Math.round(s / 360) / 10} h`;
  return `${Math.round(s / 8640) / 10} d`;
}

/** @param {string} action */
function actionTone(action) {
  if (action === 'blocked' || action === 'local-data') return 'bad';
  if (action === 'allowed' || action === 'cached') return 'plain';
  return 'warn';
}

// ---------------------------------------------------------------- token and API

function getToken() {
  return sessionStorage.getItem(TOKEN_KEY);
}

class ApiError extends Error {
  /** @param {number} status @param {string} code @param {string} detail */
  constructor(status, code, detail) {
    super(detail);
    this.status = status;
    this.code = code;
  }
}

/**
 * One admin API call; rejects with ApiError on a 4xx/5xx (after asking for the token on 401).
 * @param {'GET' | 'POST' | 'DELETE'} method
 * @param {string} path
 * @param {unknown} [body]
 * @returns {Promise<Json>}
 */
async function api(method, path, body) {
  /** @type {Record<string, string>} */
  const headers = { accept: 'application/json' };
  const token = getToken();
  if (token !== null) headers.authorization = `Bearer ${token}`;
  /** @type {RequestInit} */
  const init = { method, headers, cache: 'no-store', credentials: 'omit' };
  if (body !== undefined) {
    headers['content-type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(path, init);
  } catch (err) {
    throw new ApiError(0, 'network', `c2dns did not answer (${err instanceof Error ? err.message : String(err)})`);
  }
  /** @type {Json | null} */
  let data = null;
  try {
    data = await res.json();
  } catch {
    // not JSON
  }
  if (!res.ok) {
    const detail = typeof data?.detail === 'string' ? data.detail : `${res.status} ${res.statusText}`;
    if (res.status === 401) needToken(getToken() === null ? 'This needs the admin token: enter it at the top of the page.' : `The admin token was refused: ${detail}`);
    throw new ApiError(res.status, typeof data?.error === 'string' ? data.error : 'error', detail);
  }
  return data ?? {};
}

/** @param {string} message */
function needToken(message) {
  showAlert(message);
  const form = byId('token-form');
  form.classList.remove('has-token');
  const input = /** @type {HTMLInputElement} */ (byId('token-input'));
  input.focus();
}

/** @param {string | null} message */
function showAlert(message) {
  const a = byId('alert');
  a.hidden = message === null;
  a.textContent = message ?? '';
}

function showTokenState() {
  const has = getToken() !== null;
  byId('token-form').classList.toggle('has-token', has);
  byId('token-forget').hidden = !has;
  byId('token-state').textContent = has ? 'Admin token set for this browser tab.' : 'No token in this browser tab.';
}

/** @param {() => void} reload */
function setupToken(reload) {
  const form = /** @type {HTMLFormElement} */ (byId('token-form'));
  const input = /** @type {HTMLInputElement} */ (byId('token-input'));
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const v = input.value.trim();
    if (v === '') {
      input.focus();
      return;
    }
    sessionStorage.setItem(TOKEN_KEY, v);
    input.value = '';
    showAlert(null);
    showTokenState();
    byId('token-forget').focus();
    reload();
  });
  byId('token-forget').addEventListener('click', () => {
    sessionStorage.removeItem(TOKEN_KEY);
    showTokenState();
    input.focus();
  });
  showTokenState();
}

/**
 * Replaces a table's rows; an empty list shows `empty`.
 * @param {string} id
 * @param {Node[][]} rows cells per row
 * @param {string} empty
 * @param {(row: number) => string} [rowClass]
 */
function fill(id, rows, empty, rowClass) {
  const table = /** @type {HTMLTableElement} */ (byId(id));
  const body = table.tBodies[0] ?? table.createTBody();
  const cols = table.tHead?.rows[0]?.cells.length ?? 1;
  const out = rows.map((cells, i) => {
    const cls = rowClass?.(i);
    return h('tr', cls ? { class: cls } : {}, ...cells.map((c) => (c instanceof HTMLTableCellElement ? c : h('td', {}, c))));
  });
  if (out.length === 0) out.push(h('tr', { class: 'empty' }, h('td', { colspan: String(cols) }, empty)));
  body.replaceChildren(...out);
}

/** @param {string | number} n */
const numCell = (n) => h('td', { class: 'num' }, typeof n === 'number' ? num(n) : n);

/** @param {unknown} err */
function errorText(err) {
  return err instanceof Error ? err.message : String(err);
}

/**
 * A status line (role=status) that says what happened.
 * @param {string} id @param {string} text @param {'good' | 'bad' | ''} [tone]
 */
function say(id, text, tone = '') {
  const e = byId(id);
  e.className = `result ${tone}`.trim();
  e.textContent = text;
}

// ---------------------------------------------------------------- Overview

const SVG = 'http://www.w3.org/2000/svg';

/** @param {Json} t traffic */
function drawSparkline(t) {
  const s = t.sparkline;
  const svg = document.createElementNS(SVG, 'svg');
  svg.setAttribute('viewBox', `0 0 ${s.width} ${s.height}`);
  svg.setAttribute('preserveAspectRatio', 'none');
  svg.setAttribute('role', 'img');
  const total = t.series.queries.reduce((/** @type {number} */ a, /** @type {number} */ b) => a + b, 0);
  const label = `Queries per minute over the last hour: ${num(total)} in all, at most ${num(s.max)} in one minute; blocked shown in red.`;
  svg.setAttribute('aria-label', label);
  const title = document.createElementNS(SVG, 'title');
  title.textContent = label;
  const axis = document.createElementNS(SVG, 'line');
  axis.setAttribute('class', 'axis');
  axis.setAttribute('x1', '0');
  axis.setAttribute('x2', String(s.width));
  axis.setAttribute('y1', String(s.height - 1));
  axis.setAttribute('y2', String(s.height - 1));
  const line = (/** @type {string} */ cls, /** @type {string} */ points) => {
    const p = document.createElementNS(SVG, 'polyline');
    p.setAttribute('class', cls);
    p.setAttribute('points', points);
    return p;
  };
  svg.append(title, axis, line('q', s.queries), line('b', s.blocked));
  byId('sparkline').replaceChildren(svg);
}

async function loadOverview() {
  const o = await api('GET', '/api/console/overview');
  const t = o.traffic;
  byId('qps').replaceChildren(`${t.lastMinute.perSecond}`, sub(`hour average ${t.lastHour.perSecond}/s`) ?? '');
  byId('blocked-pct').replaceChildren(`${t.lastHour.blockedPercent} %`, sub(`${num(t.lastHour.blocked)} of ${num(t.lastHour.queries)} queries`) ?? '');
  byId('hour-queries').replaceChildren(num(t.lastHour.queries), sub(`${num(t.sinceStart.queries)} since start`) ?? '');
  byId('ready').replaceChildren(o.ready ? badge('ready', 'ok') : badge('not ready', 'bad'));
  drawSparkline(t);
  const problems = byId('problems');
  problems.hidden = o.problems.length === 0;
  problems.replaceChildren(...o.problems.map((/** @type {string} */ p) => h('li', {}, p)));
  byId('foot').textContent = `c2dns ${o.version} · updated ${new Date(o.now).toLocaleTimeString()}`;

  fill(
    'hits',
    o.c2Hits.map((/** @type {Json} */ x) => [
      h('td', {}, clock(x.time), sub(x.lastSeen !== x.time ? `last ${clock(x.lastSeen)}` : null)),
      h('td', {}, x.client ? h('a', { href: `/clients?client=${encodeURIComponent(x.client)}` }, x.client) : '–', sub(x.identity)),
      h('td', { class: 'name' }, x.name),
      h('td', {}, h('code', {}, `list=${x.list} rule=${x.rule}`), sub(x.chain.length > 1 ? `chain ${x.chain.join(' › ')}` : null)),
      h('td', {}, x.trigger),
      numCell(x.count),
    ]),
    'No C2 hits in the last 24 hours.',
  );
  fill('quarantine', o.quarantine.map(quarantineCells), 'No client is quarantined.');
  fill(
    'lists',
    o.lists.map((/** @type {Json} */ l) => [
      h('td', {}, l.list),
      h('td', {}, l.kind),
      numCell(l.entries),
      h('td', {}, ago(l.lastSuccess), sub(l.fromLastGood ? 'from the last good copy on disk' : null)),
      h('td', {}, !l.loaded ? badge('not loaded', 'bad') : l.stale ? badge('stale', 'warn') : badge('fresh', 'ok')),
      h('td', {}, l.lastFailure ? `${l.lastFailure.reason}: ${l.lastFailure.message}` : '–', sub(l.lastFailure ? clock(l.lastFailure.at) : null)),
    ]),
    'No lists configured.',
  );
  fill(
    'upstreams',
    o.upstreams.map((/** @type {Json} */ u) => [
      h('td', {}, u.upstream),
      h('td', {}, u.healthy ? badge('healthy', 'ok') : badge('unhealthy', 'bad'), sub(u.reason)),
      h('td', {}, ago(u.lastResponse)),
      numCell(u.requests),
      numCell(u.timeouts),
      numCell(u.errors),
    ]),
    'No upstreams.',
  );
}

/** @param {Json} q */
function quarantineCells(q) {
  const ident = [q.name, q.mac, q.address && q.address !== q.client ? q.address : null, q.via ? `via ${q.via}` : null].filter(Boolean).join(' · ');
  return [h('td', {}, q.client), h('td', {}, ident || '–'), h('td', {}, clock(q.since)), h('td', {}, q.until ? clock(q.until) : 'until released'), h('td', {}, q.reason)];
}

function overviewPage() {
  /** @type {number | undefined} */
  let timer;
  const run = () => {
    loadOverview().then(
      () => showAlert(null),
      (err) => {
        if (!(err instanceof ApiError && err.status === 401)) showAlert(`Could not load the overview: ${errorText(err)}`);
      },
    );
  };
  setupToken(run);
  run();
  timer = window.setInterval(() => {
    if (!document.hidden) run();
  }, 10_000);
  window.addEventListener('pagehide', () => window.clearInterval(timer));
}

// ---------------------------------------------------------------- Queries (live tail)

function queriesPage() {
  const form = /** @type {HTMLFormElement} */ (byId('tail-filters'));
  const pause = /** @type {HTMLButtonElement} */ (byId('tail-pause'));
  const table = /** @type {HTMLTableElement} */ (byId('tail'));
  const tbody = table.tBodies[0] ?? table.createTBody();
  // Connection state in a live region (announced); the running count is not, or every query would be read out.
  const state = byId('tail-state');
  const count = byId('tail-count');
  /** @type {EventSource | null} */
  let es = null;
  let paused = false;
  let lastId = 0;
  let shown = 0;
  let dropped = 0;
  /** @type {number | undefined} */
  let retry;
  /** @type {number | undefined} */
  let debounce;

  /** @param {string} text */
  const setState = (text) => {
    if (state.textContent !== text) state.textContent = text;
  };
  const showCount = () => {
    count.textContent = `${shown} shown${dropped > 0 ? `, ${dropped} not sent (too many per second)` : ''}`;
  };

  const params = () => {
    const p = new URLSearchParams();
    for (const k of ['client', 'name', 'action', 'list']) {
      const el = /** @type {HTMLInputElement | HTMLSelectElement | null} */ (form.elements.namedItem(k));
      const v = el?.value.trim() ?? '';
      if (v !== '') p.set(k, v);
    }
    return p;
  };

  /** @param {Json} e */
  const addRow = (e) => {
    if (e.id <= lastId) return;
    lastId = e.id;
    const empty = tbody.querySelector('tr.empty');
    if (empty) empty.remove();
    const who = [e.clientName, e.mac, e.via ? `via ${e.via}` : null].filter(Boolean).join(' · ');
    const row = h(
      'tr',
      e.action === 'blocked' ? { class: 'hit' } : {},
      h('td', {}, new Date(e.time).toLocaleTimeString(), sub(e.transport)),
      h('td', {}, e.client, sub(who)),
      h('td', { class: 'name' }, e.qname),
      h('td', {}, e.qtype),
      h('td', {}, badge(e.action, actionTone(e.action))),
      h('td', {}, e.reason ? h('code', { class: 'reason' }, e.reason) : '–', sub(e.decidedBy ? `${e.decidedBy} · ${e.verdict}` : null)),
      h('td', {}, e.rcode, sub(`${e.latencyMs} ms${e.upstream ? ` · ${e.upstream}` : ''}`)),
    );
    tbody.prepend(row);
    shown++;
    while (tbody.rows.length > MAX_TAIL_ROWS) tbody.deleteRow(-1);
    showCount();
  };

  const disconnect = () => {
    window.clearTimeout(retry);
    if (es !== null) es.close();
    es = null;
  };

  const connect = async () => {
    disconnect();
    const p = params();
    if (lastId > 0) p.set('after', String(lastId));
    if (getToken() !== null) {
      try {
        const t = await api('POST', '/api/console/ticket');
        p.set('ticket', t.ticket);
      } catch (err) {
        setState(`Not connected: ${errorText(err)}`);
        return;
      }
    }
    if (paused) return;
    const source = new EventSource(`/api/console/stream?${p}`);
    es = source;
    source.addEventListener('open', () => setState('Live'));
    source.addEventListener('query', (ev) => addRow(JSON.parse(/** @type {MessageEvent} */ (ev).data)));
    source.addEventListener('dropped', (ev) => {
      dropped += JSON.parse(/** @type {MessageEvent} */ (ev).data).dropped;
      showCount();
    });
    source.addEventListener('error', () => {
      if (es !== source) return;
      if (source.readyState !== EventSource.CLOSED) {
        setState('Connection lost: reconnecting…');
        return;
      }
      // Refused (token, ticket spent, too many streams) or the server went away: find out which, then retry.
      source.close();
      es = null;
      setState('Disconnected: retrying…');
      api('GET', '/api/console/queries?limit=1').then(
        () => {
          retry = window.setTimeout(() => void connect(), 2000);
        },
        (err) => setState(`Not connected: ${errorText(err)}`),
      );
    });
  };

  const restart = () => {
    tbody.replaceChildren(h('tr', { class: 'empty' }, h('td', { colspan: '7' }, 'Waiting for queries…')));
    lastId = 0;
    shown = 0;
    dropped = 0;
    showCount();
    if (!paused) void connect();
  };

  form.addEventListener('submit', (ev) => ev.preventDefault());
  form.addEventListener('input', () => {
    window.clearTimeout(debounce);
    debounce = window.setTimeout(restart, 400);
  });
  pause.addEventListener('click', () => {
    paused = !paused;
    pause.setAttribute('aria-pressed', String(paused));
    pause.textContent = paused ? 'Resume' : 'Pause';
    if (paused) {
      disconnect();
      setState('Paused: queries answered meanwhile are fetched on resume');
    } else {
      setState('Resuming…');
      void connect();
    }
  });
  byId('tail-clear').addEventListener('click', () => {
    tbody.replaceChildren(h('tr', { class: 'empty' }, h('td', { colspan: '7' }, 'Cleared: new queries appear here.')));
    shown = 0;
    showCount();
  });
  setupToken(() => {
    restart();
    void loadListOptions();
  });
  const listSel = /** @type {HTMLSelectElement} */ (byId('f-list'));
  const loadListOptions = async () => {
    try {
      const r = await api('GET', '/api/lists');
      const have = new Set([...listSel.options].map((o) => o.value));
      for (const l of r.lists) if (!have.has(l.list)) listSel.append(h('option', {}, l.list));
    } catch {
      // the stream says what is wrong
    }
  };
  void loadListOptions();
  void connect();
  window.addEventListener('pagehide', disconnect);
}

// ---------------------------------------------------------------- Clients

function clientsPage() {
  const windowSel = /** @type {HTMLSelectElement} */ (byId('window'));
  const timelineInput = /** @type {HTMLInputElement} */ (byId('timeline-client'));

  const loadTop = async () => {
    byId('clients-source').textContent = 'Loading…';
    try {
      const r = await api('GET', `/api/console/clients?window=${encodeURIComponent(windowSel.value)}`);
      byId('clients-source').textContent = `${num(r.records)} queries from ${num(r.clients)} clients: ${r.note}.`;
      fill(
        'top-clients',
        r.topClients.map((/** @type {Json} */ c) => {
          const button = h('button', { type: 'button', class: 'small', 'aria-label': `Timeline of ${c.client}` }, 'Timeline');
          button.addEventListener('click', () => {
            timelineInput.value = c.client;
            void loadTimeline(c.client);
          });
          return [h('td', {}, c.client, sub([c.clientName, c.mac].filter(Boolean).join(' · '))), numCell(c.queries), numCell(c.blocked), h('td', {}, button)];
        }),
        'No queries in this window.',
      );
      fill(
        'top-blocked',
        r.topBlocked.map((/** @type {Json} */ b) => [h('td', { class: 'name' }, b.name), numCell(b.queries), numCell(b.clients)]),
        'Nothing was blocked in this window.',
      );
    } catch (err) {
      byId('clients-source').textContent = `Could not load: ${errorText(err)}`;
    }
  };

  /** @param {string} client */
  const loadTimeline = async (client) => {
    byId('timeline-source').textContent = 'Loading…';
    try {
      const r = await api('GET', `/api/console/clients/${encodeURIComponent(client)}?window=${encodeURIComponent(windowSel.value)}`);
      const id = r.identity;
      /** @type {[string, Node | string][]} */
      const facts = [
        ['IP address', r.client],
        ['MAC address', id?.mac ?? 'unknown'],
        ['Name', id?.clientName ?? 'unknown'],
        ['Via (forwarder)', id?.via ?? 'direct'],
        ['Last seen', id ? clock(id.lastSeen) : 'not since c2dns started'],
        ['Queries / blocked since start', id ? `${num(id.queries)} / ${num(id.blocked)}` : '–'],
        ['Quarantine', r.quarantine ? badge(`since ${clock(r.quarantine.since)}: ${r.quarantine.reason}`, 'bad') : 'no'],
        ['Marks', r.marks.length > 0 ? r.marks.map((/** @type {Json} */ m) => `${m.mark} (${m.name})`).join(', ') : 'none'],
      ];
      byId('identity-list').replaceChildren(...facts.map(([k, v]) => h('div', {}, h('dt', {}, k), h('dd', { class: 'small' }, v))));
      byId('identity').hidden = false;
      byId('timeline-source').textContent = `${r.timeline.length} queries: ${r.note}.`;
      fill(
        'timeline',
        r.timeline.map((/** @type {Json} */ q) => [
          h('td', {}, clock(q.time)),
          h('td', { class: 'name' }, q.name),
          h('td', {}, q.qtype),
          h('td', {}, badge(q.action, actionTone(q.action)), sub(q.rcode)),
          h('td', {}, q.reason ? h('code', { class: 'reason' }, q.reason) : (q.answer ?? '–')),
        ]),
        'No queries from this client in this window.',
        (i) => (r.timeline[i].action === 'blocked' ? 'hit' : ''),
      );
    } catch (err) {
      byId('timeline-source').textContent = `Could not load the timeline: ${errorText(err)}`;
    }
  };

  byId('window-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    void loadTop();
    if (timelineInput.value.trim() !== '') void loadTimeline(timelineInput.value.trim());
  });
  windowSel.addEventListener('change', () => void loadTop());
  byId('timeline-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    void loadTimeline(timelineInput.value.trim());
  });
  setupToken(() => void loadTop());
  void loadTop();
  const wanted = new URLSearchParams(location.search).get('client');
  if (wanted) {
    timelineInput.value = wanted;
    void loadTimeline(wanted);
  }
}

// ---------------------------------------------------------------- Act

function actPage() {
  const loadBlocks = async () => {
    const r = await api('GET', '/api/block');
    fill(
      'blocks',
      r.blocks.map((/** @type {Json} */ b) => {
        const button = h('button', { type: 'button', class: 'small danger', 'aria-label': `Unblock ${b.name}` }, 'Unblock');
        button.addEventListener('click', () => void act(button, 'block-result', `Unblocked ${b.name}.`, () => api('DELETE', `/api/block/${encodeURIComponent(b.name)}`), loadBlocks));
        return [h('td', { class: 'name' }, b.name), h('td', {}, b.reason), h('td', {}, clock(b.addedAt)), h('td', {}, b.expiresAt ? clock(b.expiresAt) : 'never'), h('td', {}, b.actor), h('td', {}, button)];
      }),
      'No emergency blocks.',
    );
  };
  const loadQuarantine = async () => {
    const r = await api('GET', '/api/quarantine');
    fill(
      'act-quarantine',
      r.clients.map((/** @type {Json} */ q) => {
        const button = h('button', { type: 'button', class: 'small', 'aria-label': `Release ${q.client}` }, 'Release');
        button.addEventListener('click', () => void act(button, 'release-result', `Released ${q.client}.`, () => api('DELETE', `/api/quarantine/${encodeURIComponent(q.client)}`), loadQuarantine));
        const cells = quarantineCells(q);
        return [cells[0], cells[1], cells[2], cells[4], h('td', {}, button)].map((c) => c ?? h('td'));
      }),
      'No client is quarantined.',
    );
  };
  const loadLists = async () => {
    const r = await api('GET', '/api/lists');
    fill(
      'act-lists',
      r.lists.map((/** @type {Json} */ l) => {
        const button = h('button', { type: 'button', class: 'small', 'aria-label': `Refresh ${l.list}` }, 'Refresh');
        button.addEventListener('click', () => void refresh(button, [l.list]));
        return [
          h('td', {}, l.list, sub(l.origin)),
          numCell(l.entries),
          h('td', {}, ago(l.lastSuccess)),
          h('td', {}, l.lastFailure ? `${l.lastFailure.reason}: ${l.lastFailure.message}` : '–'),
          h('td', {}, button),
        ];
      }),
      'No lists configured.',
    );
  };

  /**
   * Runs one change with its button disabled; says the outcome in `resultId` and reloads.
   * @param {HTMLElement} button @param {string} resultId @param {string} done
   * @param {() => Promise<Json>} call @param {() => Promise<void>} reload
   */
  const act = async (button, resultId, done, call, reload) => {
    if (getToken() === null) {
      needToken('Changes need the admin token: enter it at the top of the page.');
      return;
    }
    button.setAttribute('disabled', '');
    try {
      await call();
      say(resultId, done, 'good');
      await reload();
    } catch (err) {
      say(resultId, `Not done: ${errorText(err)}`, 'bad');
    } finally {
      button.removeAttribute('disabled');
    }
  };

  /** @param {HTMLElement} button @param {string[]} names */
  const refresh = async (button, names) => {
    if (getToken() === null) {
      needToken('Changes need the admin token: enter it at the top of the page.');
      return;
    }
    button.setAttribute('disabled', '');
    say('refresh-result', `Refreshing ${names.length === 0 ? 'every list' : names.join(', ')}…`);
    try {
      const r = await api('POST', '/api/lists/refresh', names.length === 0 ? {} : { names });
      const failed = r.results.filter((/** @type {Json} */ x) => x.outcome === 'failed');
      say(
        'refresh-result',
        r.results.map((/** @type {Json} */ x) => `${x.list}: ${x.outcome}${x.failure ? ` (${x.failure.reason}: ${x.failure.message})` : ''}`).join('; ') || 'Nothing to refresh.',
        failed.length > 0 ? 'bad' : 'good',
      );
      await loadLists();
    } catch (err) {
      say('refresh-result', `Not done: ${errorText(err)}`, 'bad');
    } finally {
      button.removeAttribute('disabled');
    }
  };

  const blockForm = /** @type {HTMLFormElement} */ (byId('block-form'));
  blockForm.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const names = /** @type {HTMLTextAreaElement} */ (byId('block-names')).value.split(/[\s,]+/).filter((n) => n !== '');
    const reason = /** @type {HTMLInputElement} */ (byId('block-reason')).value.trim();
    const expiresIn = /** @type {HTMLSelectElement} */ (byId('block-expires')).value;
    const submit = /** @type {HTMLElement} */ (blockForm.querySelector('button[type="submit"]'));
    void act(
      submit,
      'block-result',
      `Blocked ${names.join(', ')}${expiresIn ? ` for ${expiresIn}` : ' until unblocked'}.`,
      () => api('POST', '/api/block', { names, reason, ...(expiresIn ? { expiresIn } : {}) }),
      async () => {
        /** @type {HTMLTextAreaElement} */ (byId('block-names')).value = '';
        await loadBlocks();
      },
    );
  });
  const releaseForm = /** @type {HTMLFormElement} */ (byId('release-form'));
  releaseForm.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const client = /** @type {HTMLInputElement} */ (byId('release-client')).value.trim();
    const submit = /** @type {HTMLElement} */ (releaseForm.querySelector('button[type="submit"]'));
    void act(submit, 'release-result', `Released ${client}.`, () => api('DELETE', `/api/quarantine/${encodeURIComponent(client)}`), loadQuarantine);
  });
  const refreshAll = byId('refresh-all');
  refreshAll.addEventListener('click', () => void refresh(refreshAll, []));
  byId('check-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const name = /** @type {HTMLInputElement} */ (byId('check-name')).value.trim();
    const out = byId('check-result');
    api('GET', `/api/check?name=${encodeURIComponent(name)}`).then(
      (r) => {
        out.className = `result ${r.decision === 'blocked' ? 'bad' : 'good'}`;
        /** @type {[string, string][]} */
        const facts = [
          ['Decision', r.decision],
          ['Answer', r.action ?? 'forwarded to the upstream'],
          ['Why', r.reason ?? (r.detail?.reason ?? 'no list mentions it')],
          ['Tags', (r.tags ?? []).join(', ') || '–'],
        ];
        if (r.watch) facts.push(['Watch list', `${r.watch.list} (${r.watch.rule})`]);
        out.replaceChildren(h('p', {}, h('strong', {}, r.name)), h('dl', { class: 'stats' }, ...facts.map(([k, v]) => h('div', {}, h('dt', {}, k), h('dd', { class: 'small' }, v)))));
      },
      (err) => {
        out.className = 'result bad';
        out.textContent = `Could not check: ${errorText(err)}`;
      },
    );
  });

  const loadAll = () =>
    Promise.all([loadBlocks(), loadQuarantine(), loadLists()]).then(
      () => showAlert(null),
      (err) => {
        if (!(err instanceof ApiError && err.status === 401)) showAlert(`Could not load: ${errorText(err)}`);
      },
    );
  setupToken(() => void loadAll());
  void loadAll();
}

// ---------------------------------------------------------------- start

const pages = /** @type {Record<string, () => void>} */ ({ overview: overviewPage, queries: queriesPage, clients: clientsPage, act: actPage });
const start = pages[document.body.dataset.page ?? ''];
if (start !== undefined) start();
