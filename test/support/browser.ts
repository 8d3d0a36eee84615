// A real headless browser for tests: Debian's chromium (installed by the shared apt helper when
// missing, like redis-server), driven over the DevTools protocol by puppeteer-core, which never
// downloads a browser of its own. A test that cannot get chromium fails with what is missing.
import type {Browser} from 'puppeteer-core'

import {ensureDebianCommand} from './apt.js'

/** Path of Debian's chromium, installing the package if it is missing. */
export function ensureChromium(): string {
  return ensureDebianCommand('chromium', 'chromium')
}

export async function launchChromium(): Promise<Browser> {
  const executablePath = ensureChromium()
  const {launch} = await import('puppeteer-core')
  return launch({
    executablePath,
    headless: true,
    // --no-sandbox: CI runs the suite as root, where chromium refuses its sandbox.
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--no-first-run', '--no-default-browser-check', '--disable-extensions'],
  })
}
