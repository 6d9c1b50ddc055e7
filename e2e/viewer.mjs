// Drives the session viewer in real headless Chromium (playwright-core, system chromium).
// Usage: node viewer.mjs <base-url> [chromium-path]. Prints one JSON object; pytest asserts on it.
import { chromium } from 'playwright-core';

const [base, executablePath = '/usr/bin/chromium'] = process.argv.slice(2);
const out = {};
const words = (n) => Array.from({ length: n }, (_, i) => `w${i}`).join(' ');

const browser = await chromium.launch({
  executablePath,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
try {
  const context = await browser.newContext();
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));

  await page.goto(`${base}/sessions/chat/viewer-1`);
  await page.waitForFunction(() => window.__viewer && window.__viewer.connects.length >= 1);

  // 1. Live text: send through the page, see deltas before the run settles.
  await page.fill('#message', 'long 700');
  await page.click('#send');
  await page.waitForFunction(() => (document.querySelector('.msg-assistant .text')?.textContent || '').includes('w20 '));
  out.liveBeforeSettled = (await page.locator('.settled').count()) === 0;

  // 2. A network drop mid-stream: the page reconnects from its last offset.
  await context.setOffline(true);
  await page.evaluate(() => window.__viewer.drop());
  await page.waitForTimeout(400);
  out.statusWhileDown = await page.textContent('#status');
  await context.setOffline(false);
  await page.waitForSelector('.settled[data-outcome="completed"]', { timeout: 20000 });
  const text = await page.textContent('.msg-assistant .text');
  out.textExact = text === words(700);
  out.textLength = text.length;
  out.connects = await page.evaluate(() => window.__viewer.connects);
  out.skipped = await page.evaluate(() => window.__viewer.skipped);
  out.userMessages = await page.locator('.msg-user').count();

  // 3. Stop: a long answer, then the Stop button; the run settles aborted.
  await page.fill('#message', 'long 6000');
  await page.click('#send');
  await page.waitForFunction(() => document.querySelectorAll('.msg-assistant').length === 2 &&
    (document.querySelectorAll('.msg-assistant .text')[1]?.textContent || '').length > 30);
  // Send while the run is live: the message steers it (logged as a steering message, shown at once).
  await page.fill('#message', 'also this');
  await page.click('#send');
  await page.waitForSelector('.msg-user.steer');
  out.steerShown = await page.textContent('.msg-user.steer');
  await page.click('#stop');
  await page.waitForSelector('.settled[data-outcome="aborted"]', { timeout: 10000 });
  out.aborted = true;
  // The steering message was queued behind the stopped turn: Stop ends queued work too, so it settles aborted.
  await page.waitForFunction(() => document.querySelectorAll('.settled[data-outcome="aborted"]').length === 2);
  out.settledCount = await page.locator('.settled').count();

  // 4. The index lists agents, workflows and this session.
  await page.goto(`${base}/`);
  await page.waitForSelector('#sessions a');
  out.index = {
    agents: await page.locator('#agents li').allTextContents(),
    workflows: await page.locator('#workflows li').allTextContents(),
    sessions: await page.locator('#sessions a').allTextContents(),
  };
  out.pageErrors = errors;
  console.log(JSON.stringify(out));
} catch (e) {
  console.log(JSON.stringify({ ...out, error: String(e?.stack || e) }));
  process.exitCode = 1;
} finally {
  await browser.close();
}
