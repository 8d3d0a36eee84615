// The one output layer: a table described once (columns, rows, colour by meaning) rendered as a
// terminal table (cli-table3), a Markdown table, or JSON. Commands describe; this file draws.
import {Chalk, type ChalkInstance} from 'chalk'
import Table from 'cli-table3'

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

export function renderTable<T>(spec: TableSpec<T>, color = false): string {
  const paint = painter(color)
  const title = spec.title ? `${color ? new Chalk({level: 1}).bold(spec.title) : spec.title}\n` : ''
  if (spec.rows.length === 0) return `${title}${spec.empty ?? '(none)'}\n`
  const table = new Table({
    head: spec.columns.map((c) => c.header),
    colAligns: spec.columns.map((c) => c.align ?? 'left'),
    style: {head: color ? ['bold'] : [], border: color ? ['grey'] : [], compact: true},
  })
  for (const row of spec.rows) table.push(spec.columns.map((c) => paint(c.tone?.(row), cell(c.value(row)))))
  return `${title}${table.toString()}\n`
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
