// Drives the dashboard in Debian's chromium through playwright-core (never a
// downloaded browser): waits for the charts, clicks Pause, waits for the phase
// shown to change, and saves a screenshot. test_dashboard.py starts the
// processes and runs this script; it prints one JSON object on stdout.
//
//   node dashboard_browser.mjs --url http://127.0.0.1:PORT/ --rollout NAME
//        --screenshot OUT.png --web-dir web/ [--chromium /usr/bin/chromium]
//        [--min-points 8] [--user-data-dir DIR]
import { createRequire } from 'node:module';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

function parse_args(argv) {
  const out = { chromium: '/usr/bin/chromium', minPoints: 8 };
  for (let i = 0; i < argv.length; i += 2) {
    const key = argv[i].replace(/^--/, '').replace(/-(\w)/g, (_, c) => c.toUpperCase());
    out[key] = argv[i + 1];
  }
  for (const need of ['url', 'rollout', 'screenshot', 'webDir']) {
    if (!out[need]) {
      throw new Error(`missing --${need}`);
    }
  }
  out.minPoints = Number(out.minPoints);
  return out;
}

const args = parse_args(process.argv.slice(2));
// playwright-core lives in web/node_modules (a devDependency of the dashboard).
const require = createRequire(path.join(path.resolve(args.webDir), 'package.json'));
const { chromium } = require('playwright-core');

const profile = args.userDataDir ?? mkdtempSync(path.join(tmpdir(), 'cohort-chromium-'));
const report = { console_errors: [], page_errors: [], failed_requests: [] };
let context = null;
try {
  context = await chromium.launchPersistentContext(profile, {
    executablePath: args.chromium,
    headless: true,
    viewport: { width: 1400, height: 1100 },
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  const page = context.pages()[0] ?? (await context.newPage());
  page.on('console', (m) => {
    if (m.type() === 'error') {
      report.console_errors.push(m.text());
    }
  });
  page.on('pageerror', (e) => report.page_errors.push(String(e)));
  page.on('requestfailed', (r) => {
    // The events stream is cut when the browser closes: not a failure.
    if (!r.url().endsWith('/api/v1/events')) {
      report.failed_requests.push(`${r.url()}: ${r.failure()?.errorText}`);
    }
  });

  await page.goto(`${args.url}#${encodeURIComponent(args.rollout)}`, { waitUntil: 'load' });
  await page.waitForSelector(`[data-rollout="${args.rollout}"]`, { timeout: 15000 });
  await page.waitForSelector('#chart-share canvas', { timeout: 15000 });
  await page.waitForSelector('#chart-success canvas', { timeout: 15000 });
  await page.waitForSelector('#chart-latency canvas', { timeout: 15000 });
  // Charts render from /api/v1/stats history and then grow with the stream.
  await page.waitForFunction(
    (min) => ['chart-share', 'chart-success', 'chart-latency'].every((id) => Number(document.getElementById(id).dataset.points || 0) > min),
    args.minPoints,
    { timeout: 30000 },
  );
  await page.waitForFunction(() => document.getElementById('stream-status').dataset.state === 'live', null, { timeout: 15000 });
  const points_before = Number(await page.getAttribute('#chart-share', 'data-points'));
  report.phase_before = (await page.textContent('[data-testid="phase"]')).trim();
  report.steps_shown = await page.locator('#r-steps .step').count();
  report.current_step = await page.getAttribute('#r-steps .step.current', 'data-step');

  // A token entered in the page rides on the operator's calls (loopback does
  // not need it, but the page cannot know where it is seen from).
  await page.fill('#token-input', 'e2e-token');
  await page.click('#token-form button[type="submit"]');
  report.token_state = (await page.textContent('#token-state')).trim();
  const pause_request = page.waitForRequest((r) => r.url().endsWith(`/rollouts/${args.rollout}/pause`));
  await page.click('#act-pause');
  report.pause_authorization = (await pause_request).headers()['authorization'] ?? null;
  await page.waitForFunction(() => document.querySelector('[data-testid="phase"]').textContent.trim() === 'Paused', null, {
    timeout: 10000,
  });
  report.phase_after = (await page.textContent('[data-testid="phase"]')).trim();
  report.pause_disabled = await page.isDisabled('#act-pause');
  report.resume_enabled = await page.isEnabled('#act-resume');
  // The live stream keeps the charts moving and shows the pause in the log.
  await page.waitForFunction(
    (before) => Number(document.getElementById('chart-share').dataset.points) > before,
    points_before,
    { timeout: 10000 },
  );
  await page.waitForFunction(() => /paus/i.test(document.getElementById('events').textContent), null, { timeout: 10000 });
  report.points = Number(await page.getAttribute('#chart-share', 'data-points'));
  report.analysis_rows = await page.locator('#analysis table.analysis tbody tr').count();
  report.event_lines = await page.locator('#events .event').count();
  mkdirSync(path.dirname(args.screenshot), { recursive: true });
  await page.screenshot({ path: args.screenshot, fullPage: true });
  report.screenshot = args.screenshot;
  report.ok = true;
} catch (e) {
  report.ok = false;
  report.error = String(e && e.stack ? e.stack : e);
  if (context) {
    try {
      const page = context.pages()[0];
      const failed = args.screenshot.replace(/\.png$/, '-failed.png');
      await page.screenshot({ path: failed, fullPage: true });
      report.screenshot = failed;
    } catch {
      // no page to capture
    }
  }
} finally {
  if (context) {
    await context.close();
  }
  if (!args.userDataDir) {
    rmSync(profile, { recursive: true, force: true });
  }
}
process.stdout.write(`${JSON.stringify(report)}\n`);
process.exit(report.ok ? 0 : 1);
