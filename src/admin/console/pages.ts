// The console's pages, rendered on the server as plain HTML: landmarks, headings, labelled forms
// and empty tables that /assets/console.js fills from the JSON API. The pages hold no data, so
// they need no token; the data calls do (see the README, "Web console"). Nothing inline: the
// Content-Security-Policy allows scripts and styles from this origin only.

export interface PageDef {
  /** URL path. */
  path: string;
  /** data-page, read by the script. */
  id: string;
  title: string;
  body: string;
}

const esc = (s: string): string => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

const NAV: readonly { path: string; label: string }[] = [
  { path: '/', label: 'Overview' },
  { path: '/queries', label: 'Queries' },
  { path: '/clients', label: 'Clients' },
  { path: '/act', label: 'Act' },
];

/** A table with a caption, column headers and an empty body the script fills; scrolls sideways on a phone. */
function table(id: string, caption: string, columns: readonly string[], empty: string): string {
  return `<div class="scroll" role="region" aria-labelledby="${id}-caption" tabindex="0">
<table id="${id}">
<caption id="${id}-caption">${esc(caption)}</caption>
<thead><tr>${columns.map((c) => `<th scope="col">${esc(c)}</th>`).join('')}</tr></thead>
<tbody><tr class="empty"><td colspan="${columns.length}">${esc(empty)}</td></tr></tbody>
</table>
</div>`;
}

const ACTIONS = ['blocked', 'local-data', 'allowed', 'cached', 'refused', 'servfail', 'formerr', 'notimp', 'local'];

const overview = `
<h1>Overview</h1>
<section aria-labelledby="traffic-h">
<h2 id="traffic-h">Traffic, last hour</h2>
<dl class="stats">
<div><dt>Queries per second, last minute</dt><dd id="qps">–</dd></div>
<div><dt>Blocked</dt><dd id="blocked-pct">–</dd></div>
<div><dt>Queries in the hour</dt><dd id="hour-queries">–</dd></div>
<div><dt>Ready</dt><dd id="ready">–</dd></div>
</dl>
<figure class="spark">
<div id="sparkline" class="spark-box"></div>
<figcaption id="spark-caption">Queries (line) and blocked queries (red) per minute over the last hour.</figcaption>
</figure>
<ul id="problems" class="problems" hidden></ul>
</section>
<section aria-labelledby="hits-h">
<h2 id="hits-h">C2 hits, last 24 hours</h2>
${table('hits', 'Blocked queries for C2 names, newest first (one row per client and rule)', ['First seen', 'Client', 'Name asked', 'List / rule', 'Trigger', 'Hits'], 'No C2 hits in the last 24 hours.')}
</section>
<section aria-labelledby="quarantine-h">
<h2 id="quarantine-h">Quarantined clients</h2>
${table('quarantine', 'Clients whose queries are blocked', ['Client', 'Identity', 'Since', 'Until', 'Reason'], 'No client is quarantined.')}
</section>
<section aria-labelledby="lists-h">
<h2 id="lists-h">Lists</h2>
${table('lists', 'Block and allow lists', ['List', 'Kind', 'Entries', 'Last update', 'State', 'Last error'], 'Loading…')}
</section>
<section aria-labelledby="upstreams-h">
<h2 id="upstreams-h">Upstreams</h2>
${table('upstreams', 'Upstream resolvers', ['Upstream', 'Health', 'Last reply', 'Requests', 'Timeouts', 'Errors'], 'Loading…')}
</section>`;

const queries = `
<h1>Queries</h1>
<form id="tail-filters" class="filters" aria-describedby="tail-help">
<p id="tail-help" class="help">Live: every query as it is answered, newest first. Filters apply as you type.</p>
<div class="field"><label for="f-client">Client</label><input id="f-client" name="client" type="search" autocomplete="off" placeholder="IP, MAC or name" spellcheck="false"></div>
<div class="field"><label for="f-name">Name</label><input id="f-name" name="name" type="search" autocomplete="off" placeholder="part of the name" spellcheck="false"></div>
<div class="field"><label for="f-action">Action</label><select id="f-action" name="action"><option value="">any</option>${ACTIONS.map((a) => `<option>${a}</option>`).join('')}</select></div>
<div class="field"><label for="f-list">List</label><select id="f-list" name="list"><option value="">any</option><option>emergency</option></select></div>
<div class="buttons"><button type="button" id="tail-pause" aria-pressed="false">Pause</button><button type="button" id="tail-clear" class="secondary">Clear</button></div>
</form>
<p class="state"><span id="tail-state" role="status">Connecting…</span> · <span id="tail-count">0 shown</span></p>
${table('tail', 'Queries, newest first', ['Time', 'Client', 'Name', 'Type', 'Action', 'Why (decision)', 'Answer'], 'Waiting for queries…')}`;

const clients = `
<h1>Clients</h1>
<form id="window-form" class="filters">
<div class="field"><label for="window">Window</label><select id="window" name="window"><option value="15m">15 minutes</option><option value="1h" selected>1 hour</option><option value="6h">6 hours</option><option value="24h">24 hours</option><option value="7d">7 days</option></select></div>
<div class="buttons"><button type="submit">Show</button></div>
</form>
<p id="clients-source" class="help" role="status"></p>
<div class="two">
<section aria-labelledby="top-clients-h">
<h2 id="top-clients-h">Top clients</h2>
${table('top-clients', 'Clients by number of queries', ['Client', 'Queries', 'Blocked', ''], 'Loading…')}
</section>
<section aria-labelledby="top-blocked-h">
<h2 id="top-blocked-h">Top blocked names</h2>
${table('top-blocked', 'Blocked names by number of queries', ['Name', 'Queries', 'Clients'], 'Loading…')}
</section>
</div>
<section aria-labelledby="timeline-h">
<h2 id="timeline-h">Client timeline</h2>
<form id="timeline-form" class="filters">
<div class="field"><label for="timeline-client">Client</label><input id="timeline-client" name="client" type="search" required autocomplete="off" placeholder="IP, MAC or name" spellcheck="false"></div>
<div class="buttons"><button type="submit">Show timeline</button></div>
</form>
<div id="identity" hidden>
<dl class="stats" id="identity-list"></dl>
</div>
<p id="timeline-source" class="help" role="status"></p>
${table('timeline', 'What the client asked, newest first', ['Time', 'Name', 'Type', 'Action', 'Answer / why'], 'Choose a client.')}
</section>`;

const act = `
<h1>Act</h1>
<p class="help">Every action here goes through the admin API with the admin token (see the top of the page).</p>
<section aria-labelledby="block-h">
<h2 id="block-h">Emergency block</h2>
<form id="block-form" class="stack">
<div class="field"><label for="block-names">Names <span class="hint" id="block-names-hint">(one per line; a name blocks its subdomains too)</span></label><textarea id="block-names" name="names" rows="3" required spellcheck="false" aria-describedby="block-names-hint"></textarea></div>
<div class="field"><label for="block-reason">Reason</label><input id="block-reason" name="reason" required maxlength="500" placeholder="incident, ticket, source"></div>
<div class="field"><label for="block-expires">Expires</label><select id="block-expires" name="expiresIn"><option value="30m">in 30 minutes</option><option value="1h">in 1 hour</option><option value="24h" selected>in 24 hours</option><option value="7d">in 7 days</option><option value="">never (until unblocked)</option></select></div>
<div class="buttons"><button type="submit">Block</button></div>
</form>
<p id="block-result" class="result" role="status"></p>
${table('blocks', 'Emergency blocks in force', ['Name', 'Reason', 'Added', 'Expires', 'By', ''], 'No emergency blocks.')}
</section>
<section aria-labelledby="release-h">
<h2 id="release-h">Quarantine</h2>
<form id="release-form" class="filters">
<div class="field"><label for="release-client">Client</label><input id="release-client" name="client" required autocomplete="off" placeholder="IP, MAC or name" spellcheck="false"></div>
<div class="buttons"><button type="submit">Release</button></div>
</form>
<p id="release-result" class="result" role="status"></p>
${table('act-quarantine', 'Quarantined clients', ['Client', 'Identity', 'Since', 'Reason', ''], 'No client is quarantined.')}
</section>
<section aria-labelledby="refresh-h">
<h2 id="refresh-h">Lists</h2>
<div class="buttons"><button type="button" id="refresh-all">Refresh all lists</button></div>
<p id="refresh-result" class="result" role="status"></p>
${table('act-lists', 'Lists', ['List', 'Entries', 'Last update', 'Last error', ''], 'Loading…')}
</section>
<section aria-labelledby="check-h">
<h2 id="check-h">Check a name</h2>
<form id="check-form" class="filters">
<div class="field"><label for="check-name">Name or IP address</label><input id="check-name" name="name" required autocomplete="off" spellcheck="false" placeholder="cdn.example.com"></div>
<div class="buttons"><button type="submit">Check</button></div>
</form>
<div id="check-result" class="result" role="status"></div>
</section>`;

export const PAGES: readonly PageDef[] = [
  { path: '/', id: 'overview', title: 'Overview', body: overview },
  { path: '/queries', id: 'queries', title: 'Queries', body: queries },
  { path: '/clients', id: 'clients', title: 'Clients', body: clients },
  { path: '/act', id: 'act', title: 'Act', body: act },
];

export function renderPage(p: PageDef): string {
  const nav = NAV.map((n) => `<li><a href="${n.path}"${n.path === p.path ? ' aria-current="page"' : ''}>${esc(n.label)}</a></li>`).join('');
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>${esc(p.title)} · c2dns</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/assets/console.css">
<script type="module" src="/assets/console.js"></script>
</head>
<body data-page="${p.id}">
<a class="skip" href="#main">Skip to content</a>
<header class="top">
<p class="brand"><a href="/">c2dns</a></p>
<nav aria-label="Console"><ul>${nav}</ul></nav>
<form id="token-form" class="token" autocomplete="off">
<label for="token-input">Admin token</label>
<input id="token-input" type="password" autocomplete="off" spellcheck="false" aria-describedby="token-state">
<button type="submit">Use token</button>
<button type="button" id="token-forget" class="secondary" hidden>Forget token</button>
<span id="token-state" class="token-state">No token in this browser session.</span>
</form>
</header>
<div id="alert" class="alert" role="alert" hidden></div>
<main id="main" tabindex="-1">
${p.body}
</main>
<footer class="foot"><p id="foot">c2dns web console</p></footer>
<noscript><p class="alert">The console needs JavaScript from this c2dns (no other site): everything it shows comes from the admin API, which also works without it.</p></noscript>
</body>
</html>
`;
}
