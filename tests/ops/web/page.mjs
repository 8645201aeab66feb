// Drives the try-it page in a real headless Chromium (Debian's, through
// puppeteer-core): load it, upload an image, move the budget, check that
// the outputs and the plan update, open the budget curve; saves
// screenshots. Prints one JSON object of what it saw; tests/ops/web_test.py
// asserts on it.
// Usage: node page.mjs URL IMAGE OUT_DIR [CHROMIUM]

import puppeteer from 'puppeteer-core';
import path from 'node:path';

const [url, image, outDir, chromium = '/usr/bin/chromium'] = process.argv.slice(2);
const seen = {console: []};
const browser = await puppeteer.launch({
  executablePath: chromium,
  headless: true,
  // The test runs as root in a container-like sandbox.
  args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
});
try {
  const page = await browser.newPage();
  page.on('console', (m) => seen.console.push(`${m.type()}: ${m.text()}`));
  page.on('pageerror', (e) => seen.console.push(`pageerror: ${e.message}`));
  await page.setViewport({width: 1280, height: 900});
  await page.goto(url, {waitUntil: 'load'});
  await page.waitForSelector('body[data-ready="1"]', {timeout: 30000});
  seen.tasks = await page.$$eval('#weights input', (els) => els.map((e) => e.id.slice(2)));

  const answered = () => page.$eval('body', (b) => Number(b.dataset.answered || 0));
  const plan = () => page.$eval('#plan', (p) => ({
    mflops: Number(p.dataset.mflops), encoderWidth: Number(p.dataset.encoderWidth),
    text: p.textContent}));

  const input = await page.$('#file');
  await input.uploadFile(image);
  await page.waitForFunction(() => Number(document.body.dataset.answered || 0) >= 1, {timeout: 60000});
  seen.full = await plan();
  seen.error_full = await page.$eval('#error', (e) => e.textContent);
  // Every output drawn: a canvas of the output's size.
  seen.canvases = await page.$$eval('#outputs canvas', (cs) => cs.map((c) => [c.id, c.width, c.height]));
  await page.screenshot({path: path.join(outDir, 'page_budget_1.png')});

  // Move the budget: the page asks again and shows the new plan.
  const before = await answered();
  await page.$eval('#budget', (el) => { el.value = '0.25'; el.dispatchEvent(new Event('input')); });
  await page.waitForFunction((n) => Number(document.body.dataset.answered || 0) > n, {timeout: 60000}, before);
  seen.quarter = await plan();
  seen.budget_label = await page.$eval('#budget-value', (e) => e.textContent);

  // A weight at 0 leaves that task out.
  const before2 = await answered();
  await page.$eval('#w-edges', (el) => { el.value = '0'; el.dispatchEvent(new Event('input')); });
  await page.waitForFunction((n) => Number(document.body.dataset.answered || 0) > n, {timeout: 60000}, before2);
  seen.edges_caption = await page.$eval('#c-edges', (e) => e.textContent);
  seen.without_edges = await plan();
  await page.screenshot({path: path.join(outDir, 'page_budget_0.25.png')});

  // The curve view: the planner at 20 budgets.
  await page.click('#show-curve');
  await page.waitForSelector('body[data-curve]', {timeout: 60000});
  seen.curve_points = await page.$eval('body', (b) => Number(b.dataset.curve));
  seen.curve_table = await page.$eval('#curve-table', (e) => e.textContent);
  await page.screenshot({path: path.join(outDir, 'page_curve.png')});
} finally {
  await browser.close();
}
process.stdout.write(JSON.stringify(seen) + '\n');
