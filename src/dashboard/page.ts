/** The page's HTML: a static shell that `app.js` fills from the report API. Nothing user-given is unescaped. */

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

function head(title: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>${escapeHtml(title)}</title>
<link rel="stylesheet" href="assets/uplot.css">
<link rel="stylesheet" href="assets/app.css">
</head>`;
}

/** The sign-in form: the key is posted once and kept in an HttpOnly cookie, never in the URL. */
export function signInPage(error?: string): string {
  return `${head('Sign in · tokenlay')}
<body>
<main class="signin">
  <h1>tokenlay</h1>
  <form method="post" action="signin" autocomplete="off">
    <label for="key">Tokenlay key</label>
    <input id="key" name="key" type="password" required autocomplete="off" spellcheck="false" placeholder="tl_…">
    ${error ? `<p class="error" role="alert">${escapeHtml(error)}</p>` : ''}
    <button type="submit">Sign in</button>
    <p class="hint">The key is kept in a cookie that page scripts cannot read; it is never put in the address bar.</p>
  </form>
</main>
</body>
</html>`;
}

/** The dashboard shell. `firstCall` is the snippet the empty state shows. */
export function dashboardPage(opts: { account?: string | undefined; refreshMs: number; firstCall: string; signOut: boolean }): string {
  const windows = [
    ['24h', 'Last 24 hours'],
    ['7d', 'Last 7 days'],
    ['30d', 'Last 30 days'],
    ['mtd', 'Month to date'],
  ];
  return `${head('Usage · tokenlay')}
<body data-refresh-ms="${opts.refreshMs}">
<header class="top">
  <h1>tokenlay <span class="sub">usage and spend</span></h1>
  ${opts.account ? `<p class="account">Account: <strong id="account">${escapeHtml(opts.account)}</strong></p>` : ''}
  ${opts.signOut ? '<form method="post" action="signout" class="signout"><button type="submit">Sign out</button></form>' : ''}
</header>
<main>
  <section class="controls" aria-label="What to show">
    <fieldset class="windows">
      <legend>Window</legend>
      ${windows.map(([id, label], i) => `<label><input type="radio" name="window" value="${id}"${i === 0 ? ' checked' : ''}> ${label}</label>`).join('\n      ')}
    </fieldset>
    <form id="filter" class="filter">
      <label for="filter-field">Filter by</label>
      <select id="filter-field">
        <option value="user">user</option><option value="org">org</option><option value="plan">plan</option>
        <option value="project">project</option><option value="feature">feature</option><option value="model">model</option>
      </select>
      <label for="filter-value" class="visually-hidden">Value</label>
      <input id="filter-value" type="text" placeholder="value, e.g. alice" spellcheck="false">
      <button type="submit">Apply</button>
      <button type="button" id="filter-clear">Clear</button>
    </form>
    <p id="active-filters" class="filters" aria-live="polite"></p>
  </section>

  <section id="empty" class="empty" hidden aria-labelledby="empty-title">
    <h2 id="empty-title">No calls yet</h2>
    <p>Send a first call with these four lines, then watch it appear here:</p>
    <pre><code>${escapeHtml(opts.firstCall)}</code></pre>
  </section>

  <div id="content">
  <section class="cards" aria-label="Totals">
    <div class="card"><h2>Spend</h2><p id="total-cost" class="big">–</p></div>
    <div class="card"><h2>Tokens</h2><p id="total-tokens" class="big">–</p></div>
    <div class="card"><h2>Calls</h2><p id="total-calls" class="big">–</p></div>
    <div class="card"><h2>Refused</h2><p id="total-blocked" class="big">–</p></div>
  </section>
  <p id="no-match" class="note nothing" role="status" hidden></p>

  <section aria-labelledby="chart-title">
    <h2 id="chart-title">Spend and tokens over time</h2>
    <div id="chart" class="chart" role="img" aria-label="Chart of spend and tokens over the window"></div>
  </section>

  <section aria-labelledby="limits-title">
    <h2 id="limits-title">Limits</h2>
    <p class="note">Counters above 80 % of a cap, and what their rule does at the cap (block, downgrade, queue or warn), with when each window resets.</p>
    <div class="scroll" tabindex="0"><table id="limits"><thead><tr><th scope="col">Who</th><th scope="col">Rule</th><th scope="col">Limit</th><th scope="col">Used</th><th scope="col">Status</th><th scope="col">Resets</th></tr></thead><tbody></tbody></table></div>
    <h3>Set at run time</h3>
    <p class="note">Overrides of the rules file (tokenlay limits set, the admin API), with who set them.</p>
    <div class="scroll" tabindex="0"><table id="overrides"><thead><tr><th scope="col">Who</th><th scope="col">Limit</th><th scope="col">Until</th><th scope="col">Set by</th><th scope="col">Note</th></tr></thead><tbody></tbody></table></div>
    <h3>Credits</h3>
    <div class="scroll" tabindex="0"><table id="credits"><thead><tr><th scope="col">Who</th><th scope="col" class="num">Granted</th><th scope="col" class="num">Used</th><th scope="col" class="num">Remaining</th></tr></thead><tbody></tbody></table></div>
  </section>

  <section aria-labelledby="breakdown-title">
    <h2 id="breakdown-title">Breakdown</h2>
    <div class="tabs" role="group" aria-label="Group by">
      ${['user', 'org', 'plan', 'project', 'feature', 'model'].map((g, i) => `<button type="button" class="tab" data-group="${g}" aria-pressed="${i === 0}">${g}</button>`).join('')}
    </div>
    <div class="scroll" tabindex="0"><table id="breakdown" class="sortable"><caption class="visually-hidden">Usage by the chosen field, with totals</caption><thead></thead><tbody></tbody><tfoot></tfoot></table></div>
  </section>

  <section id="margins-section" aria-labelledby="margins-title" hidden>
    <h2 id="margins-title">Margins this period</h2>
    <div class="scroll" tabindex="0"><table id="margins-plans"><caption>By plan</caption><thead></thead><tbody></tbody><tfoot></tfoot></table></div>
    <h3>Users whose LLM cost exceeds what their plan earns</h3>
    <p id="unprofitable-none" class="note" hidden>None: every user's plan covers their LLM cost.</p>
    <div class="scroll" tabindex="0"><table id="unprofitable"><thead></thead><tbody></tbody></table></div>
    <div class="scroll" tabindex="0"><table id="margins-users" class="sortable"><caption>By user</caption><thead></thead><tbody></tbody></table></div>
  </section>

  <section aria-labelledby="recent-title">
    <h2 id="recent-title">Recent calls</h2>
    <div class="scroll" tabindex="0"><table id="recent"><thead><tr><th scope="col">Time</th><th scope="col">Fields</th><th scope="col">Model asked</th><th scope="col">Model used</th><th scope="col" class="num">Tokens</th><th scope="col" class="num">Cost</th><th scope="col">Rule action</th></tr></thead><tbody></tbody></table></div>
  </section>
  </div>
  <p id="status" class="status" role="status" aria-live="polite"></p>
</main>
<script src="assets/uplot.js"></script>
<script src="assets/app.js"></script>
</body>
</html>`;
}
