/**
 * Real headless Chromium for tests, driven by playwright-core: the Debian `chromium` package
 * (/usr/bin/chromium, or CHROMIUM_PATH), not a browser Playwright downloads. Each launch gets
 * a fresh profile directory, removed on close. The flags keep it off the network: no
 * background fetches, component updates, sync or QUIC probes, which on a closed network
 * would only stall start-up.
 */
import { access, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';

export const CHROMIUM_PATH = process.env['CHROMIUM_PATH'] ?? '/usr/bin/chromium';

const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

export interface TestBrowser {
  readonly context: BrowserContext;
  newPage(): Promise<Page>;
  /** Closes the browser and removes its profile directory. */
  close(): Promise<void>;
}

/** Whether the Chromium binary exists (tests skip with a message when it does not). */
export async function chromiumInstalled(): Promise<boolean> {
  try {
    await access(CHROMIUM_PATH);
    return true;
  } catch {
    return false;
  }
}

/** `args`: more Chromium flags (e.g. --ignore-certificate-errors-spki-list for a test certificate). */
export async function launchBrowser(options: { colorScheme?: 'light' | 'dark'; timeoutMs?: number; args?: readonly string[] } = {}): Promise<TestBrowser> {
  const userDataDir = await mkdtemp(join(tmpdir(), 'hashedge-chromium-'));
  let context: BrowserContext;
  try {
    // A persistent context is how Playwright takes a --user-data-dir of our choosing.
    context = await chromium.launchPersistentContext(userDataDir, {
      executablePath: CHROMIUM_PATH,
      headless: true,
      args: [...CHROMIUM_ARGS, ...(options.args ?? [])],
      viewport: { width: 1280, height: 900 },
      colorScheme: options.colorScheme ?? 'light',
      timeout: 15_000,
    });
  } catch (err) {
    await rm(userDataDir, { recursive: true, force: true });
    throw err;
  }
  context.setDefaultTimeout(options.timeoutMs ?? 5_000);
  return {
    context,
    async newPage() {
      return context.newPage();
    },
    async close() {
      try {
        await context.close();
      } finally {
        await rm(userDataDir, { recursive: true, force: true });
      }
    },
  };
}
