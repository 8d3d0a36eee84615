// The one output layer: a table described once (columns, rows, colour by meaning) rendered as a
// terminal table (cli-table3), a Markdown table, or JSON. Commands describe; this file draws.
import {Chalk, type ChalkInstance} from 'chalk'
import Table from 'cli-table3'
import stringWidth from 'string-width'
import stripAnsi from 'strip-ansi'

export type Tone = 'bad' | 'warn' | 'good' | 'muted' | 'scope' | 'money' | undefined

export interface Column<T> {
  header: string
  value: (row: T) => string | number | null | undefined
  align?: 'left' | 'right'
  tone?: (row: T) => Tone
}

export interface TableSpec<T> {
  title?: string
  columns: Array<Column<T>>
  rows: T[]
  /** Shown instead of an empty table. */
  empty?: string
}

/** Colour only on a TTY, never with NO_COLOR or when writing a file. */
export function useColor(stream: NodeJS.WriteStream = process.stdout): boolean {
  return Boolean(stream.isTTY) && !('NO_COLOR' in process.env) && process.env.TERM !== 'dumb'
}

export function painter(color: boolean): (tone: Tone, text: string) => string {
  const c: ChalkInstance = new Chalk({level: color ? 1 : 0})
  return (tone, text) => {
    switch (tone) {
      case 'bad':
        return c.red.bold(text)
      case 'warn':
        return c.yellow(text)
      case 'good':
        return c.green(text)
      case 'muted':
        return c.dim(text)
      case 'scope':
        return c.cyan(text)
      case 'money':
        return c.magenta(text)
      default:
        return text
    }
  }
}

const cell = (v: string | number | null | undefined) => (v === null || v === undefined ? '–' : String(v))

/**
 * How a table is drawn where it is going (the `gh` convention): piped, tab-separated values, one row
 * per line, no header, no colour, nothing truncated; on a terminal, a box table that fits its width
 * (the widest text columns truncated with …), or one block of `header: value` lines per row when the
 * terminal is too narrow for a table. CYCLES_TABLE=box|tsv|records overrides it (e.g. box into a file).
 */
export type Layout = {kind: 'box'; width?: number} | {kind: 'tsv'} | {kind: 'records'}

/** Below this many columns a table becomes records. */
export const RECORDS_BELOW = 60
/** A truncated column keeps at least this many characters (… included). */
const MIN_COLUMN = 8

export function layoutFor(stream: NodeJS.WriteStream = process.stdout): Layout {
  const forced = process.env.CYCLES_TABLE
  if (forced === 'tsv' || forced === 'records') return {kind: forced}
  if (forced === 'box') return {kind: 'box', width: stream.isTTY ? stream.columns : undefined}
  if (!stream.isTTY) return {kind: 'tsv'}
  const width = stream.columns || 80
  return width < RECORDS_BELOW ? {kind: 'records'} : {kind: 'box', width}
}

/** For a table that is one section of a document (overview, a detail view, a status): never TSV, fitted on a terminal. */
export function documentLayout(stream: NodeJS.WriteStream = process.stdout): Layout {
  const layout = layoutFor(stream)
  return layout.kind === 'tsv' ? {kind: 'box'} : layout
}

/**
 * Draw a table of already formatted (possibly coloured) cells in a layout. The one place tables are
 * drawn: the analyzers' described tables (renderTable) and the runbook tables both come here.
 */
export function drawTable(head: string[], rows: string[][], layout: Layout, options: {aligns?: Array<'left' | 'right'>; color?: boolean} = {}): string {
  if (layout.kind === 'tsv') return rows.map((r) => r.map((c) => stripAnsi(c).replaceAll('\t', ' ').replaceAll('\n', ' ')).join('\t')).join('\n')
  if (layout.kind === 'records') {
    const label = Math.max(...head.map((h) => stringWidth(h)))
    return rows.map((r) => r.map((c, i) => `${head[i].padEnd(label)}  ${c}`).join('\n')).join('\n\n')
  }
  const aligns = options.aligns ?? head.map(() => 'left' as const)
  const colWidths = fittedWidths(head, rows, aligns, layout.width)
  const table = new Table({
    head,
    colAligns: aligns,
    ...(colWidths ? {colWidths, truncate: '…'} : {}),
    style: {head: options.color ? ['bold'] : [], border: options.color ? ['grey'] : [], compact: true},
  })
  for (const r of rows) table.push(r)
  return table.toString()
}

/** Column widths (padding included) that fit `width`, shrinking the widest text columns first; undefined when it fits as is. */
export function fittedWidths(head: string[], rows: string[][], aligns: Array<'left' | 'right'>, width: number | undefined): number[] | undefined {
  if (!width) return undefined
  // cli-table3: one space of padding each side, one border character between and around columns.
  const widths = head.map((h, i) => Math.max(stringWidth(h), ...rows.map((r) => stringWidth(stripAnsi(r[i] ?? '')))) + 2)
  const total = () => widths.reduce((a, b) => a + b, 0) + widths.length + 1
  if (total() <= width) return undefined
  const shrinkable = widths.map((_, i) => i).filter((i) => aligns[i] !== 'right')
  while (total() > width) {
    const widest = shrinkable.filter((i) => widths[i] > MIN_COLUMN + 2).sort((a, b) => widths[b] - widths[a])[0]
    if (widest === undefined) break
    widths[widest]--
  }
  return widths
}

/** A described table; a report's tables are boxes (sections of a document), fitted to `layout.width` when given. */
export function renderTable<T>(spec: TableSpec<T>, color = false, layout: Layout = {kind: 'box'}): string {
  const paint = painter(color)
  const title = spec.title ? `${color ? new Chalk({level: 1}).bold(spec.title) : spec.title}\n` : ''
  if (spec.rows.length === 0) return `${title}${spec.empty ?? '(none)'}\n`
  const rows = spec.rows.map((row) => spec.columns.map((c) => paint(c.tone?.(row), cell(c.value(row)))))
  return `${title}${drawTable(spec.columns.map((c) => c.header), rows, layout, {aligns: spec.columns.map((c) => c.align ?? 'left'), color})}\n`
}

const mdEscape = (s: string) => s.replaceAll('\\', '\\\\').replaceAll('|', '\\|').replaceAll('\n', ' ')

export function renderMarkdownTable<T>(spec: TableSpec<T>): string {
  if (spec.rows.length === 0) return `${spec.empty ?? '(none)'}\n`
  const head = `| ${spec.columns.map((c) => mdEscape(c.header)).join(' | ')} |`
  const sep = `|${spec.columns.map((c) => (c.align === 'right' ? '---:' : '---')).join('|')}|`
  const body = spec.rows.map((r) => `| ${spec.columns.map((c) => mdEscape(cell(c.value(r)))).join(' | ')} |`)
  return `${[head, sep, ...body].join('\n')}\n`
}

/** Rows as plain objects keyed by header (for JSON output of any table). */
export function tableRows<T>(spec: TableSpec<T>): Array<Record<string, string | number | null>> {
  return spec.rows.map((r) => Object.fromEntries(spec.columns.map((c) => [c.header, c.value(r) ?? null])))
}
