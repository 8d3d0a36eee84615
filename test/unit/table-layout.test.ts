// Issue 12 §2: tables fit where they go. Piped: TSV, no header, no colour, nothing truncated (the gh
// convention); on a terminal: a box table that fits the width by truncating the widest text columns;
// below RECORDS_BELOW columns, one block of `header: value` lines per row.
import chalk from 'chalk'
import stringWidth from 'string-width'
import {afterEach, describe, expect, it} from 'vitest'

import {RECORDS_BELOW, documentLayout, drawTable, fittedWidths, layoutFor} from '../../src/output/table.js'

const HEAD = ['scope', 'unit', 'used']
const ROWS = [
  ['tenant:acme/workspace:production/agent:summarizer-with-a-long-name', 'USD_MICROCENTS', '95.0%'],
  ['tenant:acme', 'TOKENS', '5.0%'],
]
const stream = (isTTY: boolean, columns?: number) => ({isTTY, columns}) as unknown as NodeJS.WriteStream

describe('layoutFor', () => {
  afterEach(() => {
    delete process.env.CYCLES_TABLE
  })
  it('is TSV when piped, a box of the terminal width on a wide terminal, records on a narrow one', () => {
    expect(layoutFor(stream(false))).toEqual({kind: 'tsv'})
    expect(layoutFor(stream(true, 120))).toEqual({kind: 'box', width: 120})
    expect(layoutFor(stream(true, RECORDS_BELOW - 1))).toEqual({kind: 'records'})
    expect(layoutFor(stream(true, RECORDS_BELOW))).toEqual({kind: 'box', width: RECORDS_BELOW})
  })
  it('CYCLES_TABLE overrides it; a document section is never TSV', () => {
    process.env.CYCLES_TABLE = 'box'
    expect(layoutFor(stream(false))).toEqual({kind: 'box', width: undefined})
    process.env.CYCLES_TABLE = 'records'
    expect(layoutFor(stream(true, 200))).toEqual({kind: 'records'})
    delete process.env.CYCLES_TABLE
    expect(documentLayout(stream(false))).toEqual({kind: 'box'})
    expect(documentLayout(stream(true, 100))).toEqual({kind: 'box', width: 100})
  })
})

describe('drawTable', () => {
  it('TSV: one line per row, cells tab-separated, colour stripped, tabs and newlines in cells made spaces, no header', () => {
    const out = drawTable(HEAD, [[chalk.red('a\tb'), 'x\ny', '1']], {kind: 'tsv'})
    expect(out).toBe('a b\tx y\t1')
    expect(drawTable(HEAD, ROWS, {kind: 'tsv'}).split('\n')).toEqual(ROWS.map((r) => r.join('\t')))
  })
  it('records: header-labelled lines, a blank line between rows', () => {
    expect(drawTable(HEAD, ROWS, {kind: 'records'})).toBe(
      ['scope  tenant:acme/workspace:production/agent:summarizer-with-a-long-name', 'unit   USD_MICROCENTS', 'used   95.0%', '', 'scope  tenant:acme', 'unit   TOKENS', 'used   5.0%'].join('\n'),
    )
  })
  it('box: fits the width by truncating the widest text column with …; right-aligned figures are kept whole', () => {
    const natural = drawTable(HEAD, ROWS, {kind: 'box'})
    const naturalWidth = Math.max(...natural.split('\n').map((l) => stringWidth(l)))
    expect(naturalWidth).toBeGreaterThan(80)
    const out = drawTable(HEAD, ROWS, {kind: 'box', width: 60}, {aligns: ['left', 'left', 'right']})
    const widths = out.split('\n').map((l) => stringWidth(l))
    expect(Math.max(...widths)).toBeLessThanOrEqual(60)
    expect(Math.max(...widths)).toBeGreaterThanOrEqual(58) // uses the room it has
    expect(out).toContain('…')
    expect(out).toContain('95.0%')
    expect(out).toContain('USD_MICROCENTS') // the narrower text column was not cut
    expect(out).toContain('tenant:acme ') // a short cell is whole
  })
  it('box: a table that fits is drawn as is', () => {
    expect(fittedWidths(HEAD, [['a', 'b', 'c']], ['left', 'left', 'left'], 80)).toBeUndefined()
    expect(drawTable(HEAD, [['a', 'b', 'c']], {kind: 'box', width: 80})).toBe(drawTable(HEAD, [['a', 'b', 'c']], {kind: 'box'}))
  })
  it('fittedWidths shrinks the widest left column first and never below 8 characters', () => {
    const w = fittedWidths(HEAD, ROWS, ['left', 'left', 'right'], 60)!
    expect(w.reduce((a, b) => a + b, 0) + w.length + 1).toBe(60)
    expect(w[1]).toBe('USD_MICROCENTS'.length + 2)
    expect(w[2]).toBe('used'.length + 3) // "95.0%" + padding
    const tiny = fittedWidths(HEAD, ROWS, ['left', 'left', 'right'], 10)!
    expect(tiny[0]).toBe(10)
    expect(tiny[1]).toBe(10)
  })
})
