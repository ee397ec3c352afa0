import { existsSync } from 'node:fs';
import { type Demo, runDemo } from '@backplane/cli';
import { type Browser, chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/** Debian's Chromium; `.ci/run` installs it. */
const CHROMIUM = '/usr/bin/chromium';
/** How long the page may take to show an expected message, in ms. */
const WAIT_MS = 10_000;

let demo: Demo;
let browser: Browser;

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} not found. Install it: apt-get install chromium`);
  demo = await runDemo(
    {
      port: 0,
      host: '127.0.0.1',
      driver: 'memory',
      url: undefined,
      prefix: 'demo:',
      durable: false,
      replicas: undefined,
      outbox: true,
      jwtSecret: undefined,
      tokenSecret: 'demo-test',
      nodeId: undefined,
      nodes: 3,
    },
    false,
  );
  browser = await chromium.launch({
    executablePath: CHROMIUM,
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
}, 60_000);
afterAll(async () => {
  await browser?.close();
  await demo?.close();
});

describe('demo page', () => {
  it('demo - three browser clients on three nodes: messages to all, a group and a user cross nodes, marked with the delivering node', async () => {
    const page = await browser.newPage({ viewport: { width: 1280, height: 820 } });
    // The page runs under its Content-Security-Policy: anything the policy blocks is a console error.
    const consoleErrors: string[] = [];
    page.on('console', (message) => {
      if (message.type() === 'error') consoleErrors.push(message.text());
    });
    const response = await page.goto(demo.url);
    expect(response?.headers()['content-security-policy']).toMatch(/script-src 'nonce-[^']+'/);
    expect(response?.headers()['x-content-type-options']).toBe('nosniff');
    await page.waitForSelector('body[data-ready="true"]', { timeout: WAIT_MS });
    const pane = (i: number) => page.locator(`section[data-pane="${i}"]`);
    for (let i = 0; i < 3; i++)
      await expect(pane(i).locator('[data-role="status"]').textContent()).resolves.toBe(
        `connected to node-${i + 1}`,
      );

    // everyone
    await pane(0).locator('[data-role="message"]').fill('hello everyone');
    await pane(0).locator('[data-role="send"]').click();
    for (let i = 0; i < 3; i++) {
      await pane(i).locator('ul.log li', { hasText: 'hello everyone' }).waitFor({ timeout: WAIT_MS });
      await expect(
        pane(i).locator('ul.log li', { hasText: 'hello everyone' }).textContent(),
      ).resolves.toContain(`via node-${i + 1}`);
    }

    // a group: only pane 2 joins; pane 3 sends to it
    await pane(1).locator('[data-role="join"]').click();
    await pane(1).locator('[data-role="groups"]', { hasText: 'room-1' }).waitFor({ timeout: WAIT_MS });
    await pane(2).locator('[data-role="target"]').selectOption('group');
    await pane(2).locator('[data-role="message"]').fill('just room-1');
    await pane(2).locator('[data-role="send"]').click();
    await pane(1).locator('ul.log li', { hasText: 'just room-1' }).waitFor({ timeout: WAIT_MS });

    // a user: pane 1 sends to grace (pane 2's user)
    await pane(0).locator('[data-role="target"]').selectOption('user');
    await pane(0).locator('[data-role="to"]').fill('grace');
    await pane(0).locator('[data-role="message"]').fill('psst grace');
    await pane(0).locator('[data-role="send"]').click();
    await pane(1).locator('ul.log li', { hasText: 'psst grace' }).waitFor({ timeout: WAIT_MS });

    // nobody else got the group or user messages (the user message came last: it is the barrier)
    for (const i of [0, 2]) {
      await expect(pane(i).locator('ul.log li', { hasText: 'just room-1' }).count()).resolves.toBe(0);
      await expect(pane(i).locator('ul.log li', { hasText: 'psst grace' }).count()).resolves.toBe(0);
    }
    expect(consoleErrors).toEqual([]);
    if (process.env.BACKPLANE_SCREENSHOT)
      await page.screenshot({ path: process.env.BACKPLANE_SCREENSHOT, fullPage: true });
    await page.close();
  });
});
