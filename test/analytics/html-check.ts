// What the browser test looks at in a report page, gathered in one pass by a real chromium: console
// errors, every request the page makes, the data marks of each chart, whether the scope table sorts
// and filters, and how much of a screenshot is not background.
import type {Browser, Page} from 'puppeteer-core'

// The project compiles without the DOM library: code that runs in the page reaches it through this.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Dom = any

export interface PageFacts {
  consoleErrors: string[]
  /** URLs requested other than the page itself. */
  requests: string[]
  charts: Array<{id: string; svg: boolean; marks: number}>
  /** The column's values after one click and after a second; whether the row order ever moved. */
  sort: {column: string; ascending: number[]; descending: number[]; orderChanged: boolean} | null
  filter: {query: string; visible: number; matching: number; countText: string} | null
  /** Share of screenshot pixels that differ from the top-left (background) pixel, and distinct colours. */
  screenshot: {inked: number; colours: number}
}

/** Marks that draw data (lines, points, bars, areas), not axes, rules or labels: each needs a non-empty path. */
const DATA_MARKS = 'g.role-mark.mark-line > path, g.role-mark.mark-symbol > path, g.role-mark.mark-rect > path, g.role-mark.mark-area > path'

async function sortFacts(page: Page, column: string): Promise<PageFacts['sort']> {
  const index = await page.$$eval('#scope-table thead th button', (buttons, name) => buttons.findIndex((b) => b.textContent!.trim() === name), column)
  if (index < 0) return null
  const values = () => page.$$eval('#scope-table tbody tr', (rows, i) => rows.map((r) => Number((r.children[i as number] as Dom).dataset.sort)), index)
  const order = () => page.$$eval('#scope-table tbody tr', (rows) => rows.map((r) => r.textContent).join('\n'))
  const before = await order()
  await page.click(`#scope-table thead th:nth-child(${index + 1}) button`)
  const ascending = await values()
  const afterFirst = await order()
  await page.click(`#scope-table thead th:nth-child(${index + 1}) button`)
  const descending = await values()
  const afterSecond = await order()
  return {column, ascending, descending, orderChanged: afterFirst !== before || afterSecond !== before}
}

async function filterFacts(page: Page, query: string): Promise<PageFacts['filter']> {
  const input = await page.$('input[data-filter-for="scope-table"]')
  if (!input) return null
  await input.type(query)
  const facts = await page.$$eval(
    '#scope-table tbody tr',
    (rows, q) => {
      const visible = rows.filter((r) => (globalThis as Dom).getComputedStyle(r).display !== 'none')
      return {visible: visible.length, matching: visible.filter((r) => r.textContent!.toLowerCase().includes(q as string)).length}
    },
    query,
  )
  const countText = await page.$eval('[data-count-for="scope-table"]', (e) => e.textContent ?? '')
  await page.click('input[data-filter-for="scope-table"]', {count: 3})
  await page.keyboard.press('Backspace')
  await input.evaluate((e) => e.dispatchEvent(new (globalThis as Dom).Event('input')))
  return {query, ...facts, countText}
}

/** Count non-background pixels of a PNG by drawing it on a canvas in a blank page (no decoder of our own). */
async function inkOf(browser: Browser, png: Uint8Array): Promise<PageFacts['screenshot']> {
  const page = await browser.newPage()
  try {
    return await page.evaluate(async (b64: string) => {
      const img = new (globalThis as Dom).Image()
      img.src = `data:image/png;base64,${b64}`
      await img.decode()
      const canvas = (globalThis as Dom).document.createElement('canvas')
      canvas.width = img.width
      canvas.height = img.height
      const ctx = canvas.getContext('2d')!
      ctx.drawImage(img, 0, 0)
      const data = ctx.getImageData(0, 0, img.width, img.height).data
      const colours = new Set<number>()
      let inked = 0
      for (let i = 0; i < data.length; i += 4) {
        if (data[i] !== data[0] || data[i + 1] !== data[1] || data[i + 2] !== data[2]) inked++
        if (colours.size < 1000) colours.add((data[i] << 16) | (data[i + 1] << 8) | data[i + 2])
      }
      return {inked: inked / (data.length / 4), colours: colours.size}
    }, Buffer.from(png).toString('base64'))
  } finally {
    await page.close()
  }
}

/** Open a report file and gather its facts; `sortColumn` is a numeric column header of the scope table. */
export async function inspectReport(browser: Browser, file: string, options: {sortColumn: string; filter: string}): Promise<PageFacts> {
  const page = await browser.newPage()
  const url = `file://${file}`
  const consoleErrors: string[] = []
  const requests: string[] = []
  page.on('console', (m) => {
    if (m.type() === 'error' || m.type() === 'warn') consoleErrors.push(`${m.type()}: ${m.text()}`)
  })
  page.on('pageerror', (e) => consoleErrors.push(`pageerror: ${String(e)}`))
  page.on('request', (r) => {
    if (r.url() !== url) requests.push(r.url())
  })
  try {
    await page.setViewport({width: 1366, height: 900})
    await page.goto(url, {waitUntil: 'networkidle0'})
    const charts = await page.$$eval(
      'figure.chart',
      (figures, selector) =>
        figures.map((f) => ({
          id: f.id,
          svg: f.querySelector('svg') !== null,
          marks: [...f.querySelectorAll(selector as string)].filter((p) => (p.getAttribute('d') ?? '').length > 0).length,
        })),
      DATA_MARKS,
    )
    const screenshot = await inkOf(browser, await page.screenshot({type: 'png'}))
    const sort = await sortFacts(page, options.sortColumn)
    const filter = await filterFacts(page, options.filter)
    return {consoleErrors, requests, charts, sort, filter, screenshot}
  } finally {
    await page.close()
  }
}
