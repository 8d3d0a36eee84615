// Issue 16: the HTML reports opened in a real headless browser (Debian's chromium, driven by
// puppeteer-core): the page loads without console errors and without any request, every chart is
// an SVG with data marks, the scope table sorts and filters, and a screenshot is not blank. The
// second block breaks a page on purpose, once per check, to show each check fails when it should.
import fs from 'node:fs'
import path from 'node:path'

import type {Browser} from 'puppeteer-core'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {openShadowDb} from '../../src/analytics/db.js'
import {ingest} from '../../src/analytics/ingest.js'
import {runReport} from '../../src/analytics/run.js'
import {runCalibrate} from '../../src/calibration/run.js'
import {launchChromium} from '../support/browser.js'
import {tempDir} from '../support/daemon.js'
import {type PageFacts, inspectReport} from './html-check.js'
import {ACME, GLOBEX, trendConfigYaml, writeTrendLog} from './trend-traffic.js'

let dir: string
let browser: Browser
let shadowHtml: string
let calibrationHtml: string

beforeAll(async () => {
  dir = tempDir('cycles-html-')
  const dbPath = path.join(dir, 'shadow.duckdb')
  const db = await openShadowDb(dbPath, {create: true, threads: 1, memoryLimit: '256MB'})
  try {
    await ingest(db, [writeTrendLog(dir)])
  } finally {
    db.close()
  }
  fs.writeFileSync(path.join(dir, 'cycles.yaml'), trendConfigYaml())
  shadowHtml = path.join(dir, 'shadow-report.html')
  calibrationHtml = path.join(dir, 'calibration.html')
  await runReport(dbPath, {format: 'html', output: shadowHtml, compareWindow: {text: '5d', ms: 5 * 86_400_000}})
  await runCalibrate({db: dbPath, config: path.join(dir, 'cycles.yaml'), filter: {}, options: {threads: 1}, format: 'html', output: calibrationHtml})
  browser = await launchChromium()
}, 600_000)

afterAll(async () => {
  await browser?.close()
  if (dir) fs.rmSync(dir, {recursive: true, force: true})
})

const sortedAscending = (xs: number[]) => xs.every((x, i) => i === 0 || xs[i - 1] <= x)
const sortedDescending = (xs: number[]) => xs.every((x, i) => i === 0 || xs[i - 1] >= x)

function expectHealthy(facts: PageFacts, charts: string[]) {
  expect(facts.consoleErrors).toEqual([])
  expect(facts.requests).toEqual([])
  expect(facts.charts.map((c) => c.id)).toEqual(charts)
  for (const c of facts.charts) {
    expect(c.svg, c.id).toBe(true)
    expect(c.marks, `${c.id}: data marks`).toBeGreaterThan(0)
  }
  const sort = facts.sort!
  expect(new Set(sort.ascending).size).toBeGreaterThan(1)
  expect(sortedAscending(sort.ascending)).toBe(true)
  expect(sortedDescending(sort.descending)).toBe(true)
  expect(sort.orderChanged).toBe(true)
  // text and cards on white: a few per cent of the first screen is ink (a blank page has none), in many colours
  expect(facts.screenshot.inked).toBeGreaterThan(0.03)
  expect(facts.screenshot.colours).toBeGreaterThan(20)
}

describe('the HTML reports in chromium', () => {
  it('shadow report: loads offline without errors, every chart has marks, the table sorts and filters, the screen is drawn', async () => {
    const facts = await inspectReport(browser, shadowHtml, {sortColumn: 'requests', filter: 'acme'})
    expectHealthy(facts, ['chart-spend-0', 'chart-tiers', 'chart-estimates', 'chart-timeline'])
    const rows = JSON.parse(/<script type="application\/json" id="report-data">(.*?)<\/script>/s.exec(fs.readFileSync(shadowHtml, 'utf8'))![1]).scopes.length
    expect(facts.filter).toEqual({query: 'acme', visible: 1, matching: 1, countText: '1 row(s)'})
    expect(rows).toBeGreaterThan(1)
  })

  it('calibration report: the same checks, with spend and denial-rate curves', async () => {
    const facts = await inspectReport(browser, calibrationHtml, {sortColumn: 'requests', filter: 'globex'})
    expectHealthy(facts, ['chart-spend-0', 'chart-spend-1', 'chart-curve-0', 'chart-curve-1', 'chart-tiers', 'chart-estimates'])
    expect(facts.filter).toMatchObject({visible: 1, matching: 1})
  })

  it('is one self-contained file: a policy that forbids requests, no external src or href, the data inline', () => {
    for (const file of [shadowHtml, calibrationHtml]) {
      const html = fs.readFileSync(file, 'utf8')
      expect(html).toContain(`<meta http-equiv="Content-Security-Policy" content="default-src 'none';`)
      expect(html).not.toMatch(/\s(src|href)\s*=\s*["']?(https?:)?\/\//i)
      expect(html).toMatch(/<script type="application\/json" id="report-data">\{/)
    }
    const shadow = fs.readFileSync(shadowHtml, 'utf8')
    // what the page must show: the run-out day, the drift, the new loop since the earlier window
    expect(shadow).toContain(`<code>${ACME.budget}</code> (${ACME.unit}) ran out on 2026-11-07`)
    expect(shadow).toContain('estimates left the 0.8–1.2 band on 2026-11-06')
    expect(shadow).toContain(`new loop: run <code>loop-late</code> in <code>${GLOBEX.scope_path}</code>`)
    expect(fs.readFileSync(calibrationHtml, 'utf8')).toContain(`<code>${ACME.budget}</code> (${ACME.unit}) reached its current limit of 10,000 on 2026-11-06`)
  })
})

describe('each browser check fails on a page broken for it', () => {
  const variant = (name: string, edit: (html: string) => string) => {
    const file = path.join(dir, `broken-${name}.html`)
    const html = fs.readFileSync(shadowHtml, 'utf8')
    const edited = edit(html)
    expect(edited, `the ${name} edit changed nothing`).not.toBe(html)
    fs.writeFileSync(file, edited)
    return inspectReport(browser, file, {sortColumn: 'requests', filter: 'acme'})
  }

  it('a request to the network is seen (policy removed), and a blocked one is a console error (policy kept)', async () => {
    const img = '<img alt="" src="http://127.0.0.1:9/tracker.png">'
    const open = await variant('network', (h) => h.replace(/<meta http-equiv="Content-Security-Policy"[^>]*>/, '').replace('<main>', `<main>${img}`))
    expect(open.requests).toEqual(['http://127.0.0.1:9/tracker.png'])
    const blocked = await variant('csp', (h) => h.replace('<main>', `<main>${img}`))
    expect(blocked.consoleErrors.join('\n')).toMatch(/Content Security Policy/)
  })

  it('a script error is a console error', async () => {
    const facts = await variant('script-error', (h) => h.replace('</main>', '</main><script>notDefinedAnywhere()</script>'))
    expect(facts.consoleErrors.join('\n')).toMatch(/notDefinedAnywhere/)
  })

  it('charts without data marks are counted as empty', async () => {
    const facts = await variant('empty-charts', (h) => h.replace(/(<g class="mark-(?:line|symbol|rect) role-mark[^>]*>).*?(<\/g>)/gs, '$1$2'))
    expect(facts.charts.length).toBe(4)
    expect(facts.charts.map((c) => c.marks)).toEqual([0, 0, 0, 0])
  })

  it('without the table script, sorting leaves the order alone and the filter hides nothing', async () => {
    const facts = await variant('no-script', (h) => h.replace(/<script>\s*\(function \(\) \{[\s\S]*?<\/script>/, ''))
    expect(facts.sort!.orderChanged).toBe(false)
    expect(sortedAscending(facts.sort!.ascending) && sortedDescending(facts.sort!.descending)).toBe(false)
    expect(facts.filter!.visible).toBeGreaterThan(facts.filter!.matching)
  })

  it('a blank page has no ink', async () => {
    const facts = await variant('blank', (h) => h.replace('</head>', '<style>body{visibility:hidden}</style></head>'))
    expect(facts.screenshot.inked).toBe(0)
    expect(facts.screenshot.colours).toBe(1)
  })
})
