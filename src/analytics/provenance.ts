// Where a report's records came from: each ingested file, the label it was ingested under
// (`cycles shadow ingest --label NAME`), and how many of its records the report read, so sources
// merged into one database are never mixed silently. `--label` on the reports keeps only the
// records of files ingested under those labels.
import type {ShadowDb} from './db.js'
import {sqlString} from './schema.js'

export const LABEL_TABLE = `CREATE TABLE IF NOT EXISTS file_labels (file_id INTEGER, label VARCHAR)`

export interface ProvenanceFile {
  path: string
  label: string | null
  /** Records of this file the report read (after its filters). */
  records: number
}

export interface Provenance {
  /** The --label filter, when given. */
  labels_selected: string[] | null
  /** Every label among the files read (null: files ingested without one). */
  labels: Array<string | null>
  files: ProvenanceFile[]
}

const LABEL_RE = /^[\w.:@+-]{1,64}$/

/** A label names a source: letters, digits and . _ : @ + - (up to 64). */
export function checkLabel(label: string): string {
  if (!LABEL_RE.test(label)) throw new Error(`--label: expected up to 64 letters, digits or . _ : @ + -, got ${JSON.stringify(label)}`)
  return label
}

/** Record `label` for the files of this ingest run (every stored version of each path; re-labelling replaces). */
export async function labelFiles(db: ShadowDb, paths: string[], label: string): Promise<number> {
  if (paths.length === 0) return 0
  await db.run(LABEL_TABLE)
  const ids = await db.all<{file_id: number}>(`SELECT DISTINCT file_id FROM ingested_files WHERE path IN (${paths.map(sqlString).join(', ')})`)
  if (ids.length === 0) return 0
  const list = ids.map((r) => r.file_id).join(', ')
  await db.run(`DELETE FROM file_labels WHERE file_id IN (${list})`)
  await db.run(`INSERT INTO file_labels SELECT file_id, ${sqlString(label)} FROM ingested_files WHERE file_id IN (${list})`)
  return ids.length
}

async function hasLabelTable(db: ShadowDb): Promise<boolean> {
  const [row] = await db.all<{n: number}>(`SELECT count(*)::INTEGER AS n FROM duckdb_tables() WHERE table_name = 'file_labels' AND NOT temporary`)
  return row.n > 0
}

/** SQL condition keeping the records of files ingested under one of `labels` (column prefix `alias`). */
export function labelCondition(labels: string[], alias = ''): string {
  return `${alias}file_id IN (SELECT file_id FROM file_labels WHERE label IN (${labels.map(sqlString).join(', ')}))`
}

/** Fails with a clear message when --label is asked of a database that has no labels at all. */
export async function checkLabelsKnown(db: ShadowDb, labels: string[] | undefined): Promise<void> {
  if (!labels || labels.length === 0) return
  if (!(await hasLabelTable(db))) throw new Error(`--label: no file in ${db.path} was ingested with a label (cycles shadow ingest --label NAME)`)
  const known = new Set((await db.all<{label: string}>('SELECT DISTINCT label FROM file_labels')).map((r) => r.label))
  const unknown = labels.filter((l) => !known.has(l))
  if (unknown.length > 0) throw new Error(`--label: unknown label(s) ${unknown.join(', ')}; known: ${[...known].sort().join(', ') || '(none)'}`)
}

/** Files behind the records in `relation` (a view or a filtered subquery of records). */
export async function provenanceOf(db: ShadowDb, relation: string, labels?: string[]): Promise<Provenance> {
  const labelled = await hasLabelTable(db)
  const rows = await db.all<{path: string | null; label: string | null; n: number}>(`
    WITH per_file AS (SELECT file_id, count(*)::DOUBLE AS n FROM ${relation} GROUP BY file_id)
    SELECT i.path, ${labelled ? 'l.label' : 'NULL::VARCHAR AS label'}, p.n
    FROM per_file p LEFT JOIN (SELECT file_id, any_value(path) AS path FROM ingested_files GROUP BY file_id) i ON i.file_id = p.file_id
    ${labelled ? 'LEFT JOIN file_labels l ON l.file_id = p.file_id' : ''}
    ORDER BY i.path, p.file_id`)
  const files = rows.map((r) => ({path: r.path ?? '(unknown file)', label: r.label, records: r.n}))
  const labelSet = [...new Set(files.map((f) => f.label))].sort((a, b) => (a ?? '').localeCompare(b ?? ''))
  return {labels_selected: labels && labels.length > 0 ? labels : null, labels: labelSet, files}
}
