// Opens shopgraph's GraphiQL in headless Chromium, runs the operation it was
// given (with the request headers it was given), waits until the result pane
// shows the expected text, and saves a screenshot. Prints one JSON object: the
// result pane's text, every URL the page opened (HTTP and WebSocket), console
// errors, uncaught page errors and Content-Security-Policy violations.
//
//   node graphiql.mjs '{"url": ..., "query": ..., "headers": {...}, "expect": ..., "screenshot": ...}'
//
// The browser is the machine's Chromium (CHROMIUM, default /usr/bin/chromium);
// playwright-core downloads none of its own.
import { chromium } from 'playwright-core';

const { url, query, headers, expect, screenshot } = JSON.parse(process.argv[2] ?? '{}');
if (!url || !query || !expect || !screenshot) {
  console.error('usage: node graphiql.mjs \'{"url", "query", "headers", "expect", "screenshot"}\'');
  process.exit(2);
}

// The result pane's whole text, from its CodeMirror editor (the DOM holds only
// the lines on screen, plus gutter markers).
function resultText(page) {
  return page.evaluate(() => document.querySelector('.graphiql-response .CodeMirror').CodeMirror.getValue());
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  // Headless, in a fresh temporary profile (playwright's defaults). No sandbox
  // as root; no background traffic, which a closed network refuses.
  headless: true,
  args: [
    '--no-sandbox',
    '--disable-gpu',
    '--disable-quic',
    '--no-first-run',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
  ],
  timeout: 60_000,
});

const report = {
  requests: [],
  websockets: [],
  consoleErrors: [],
  pageErrors: [],
  cspViolations: [],
};
try {
  const page = await browser.newPage({ viewport: { width: 1400, height: 800 } });
  page.on('request', (request) => report.requests.push(request.url()));
  page.on('websocket', (websocket) => report.websockets.push(websocket.url()));
  page.on('console', (message) => {
    if (message.type() === 'error') report.consoleErrors.push(message.text());
  });
  page.on('pageerror', (error) => report.pageErrors.push(String(error)));
  await page.addInitScript(() => {
    document.addEventListener('securitypolicyviolation', (event) => {
      (window.__cspViolations ??= []).push(`${event.violatedDirective} ${event.blockedURI}`);
    });
  });

  // strawberry's page takes the query and the headers from the URL, as its
  // own shareable links carry them: encodeURIComponent, so a space is %20
  // (the page does not read '+' as a space).
  const parameters = { q: query, ...(headers ? { headers: JSON.stringify(headers) } : {}) };
  const search = Object.entries(parameters)
    .map(([key, value]) => `${encodeURIComponent(key)}=${encodeURIComponent(value)}`)
    .join('&');
  await page.goto(`${url}?${search}`, { waitUntil: 'load', timeout: 60_000 });

  const run = page.locator('.graphiql-execute-button');
  await run.waitFor({ state: 'visible', timeout: 60_000 });
  await run.click();
  const result = page.locator('.graphiql-response');
  await result.getByText(expect).first().waitFor({ timeout: 30_000 });
  report.result = await resultText(page);
  report.title = await page.title();
  report.cspViolations = await page.evaluate(() => window.__cspViolations ?? []);
  await page.screenshot({ path: screenshot });
} catch (error) {
  report.failure = String(error);
  // What the page showed when it failed is the first thing to look at.
  const [page] = browser.contexts().flatMap((context) => context.pages());
  if (page) {
    report.result = await resultText(page).catch(() => null);
    await page.screenshot({ path: screenshot }).catch(() => {});
  }
} finally {
  await browser.close();
}
console.log(JSON.stringify(report));
