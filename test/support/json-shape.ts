// The JSON Schema (2020-12) of a JSON value's shape: object keys (all required, no others), array
// item shapes merged, and the JSON type of every leaf. Numbers are `number` (never `integer`), so a
// figure that happens to be whole in one run does not change the schema. Used to pin each command's
// `--json` output (test/cli/json-contract.test.ts).
export type JsonSchema = {[key: string]: unknown}

export function shapeOf(value: unknown): JsonSchema {
  if (value === null) return {type: 'null'}
  if (Array.isArray(value)) return value.length === 0 ? {type: 'array'} : {type: 'array', items: mergeShapes(value.map(shapeOf))}
  if (typeof value === 'object') {
    const keys = Object.keys(value as object).sort()
    return {
      type: 'object',
      properties: Object.fromEntries(keys.map((k) => [k, shapeOf((value as Record<string, unknown>)[k])])),
      required: keys,
      additionalProperties: false,
    }
  }
  return {type: typeof value === 'bigint' ? 'number' : typeof value}
}

/** One schema for several shapes: objects merge their properties (required where every one has it); other mixes become anyOf. */
export function mergeShapes(shapes: JsonSchema[]): JsonSchema {
  const distinct = [...new Map(shapes.map((s) => [JSON.stringify(s), s])).values()]
  if (distinct.length === 1) return distinct[0]
  if (distinct.every((s) => s.type === 'object')) {
    const keys = [...new Set(distinct.flatMap((s) => Object.keys(s.properties as object)))].sort()
    const properties = Object.fromEntries(
      keys.map((k) => [k, mergeShapes(distinct.flatMap((s) => ((s.properties as JsonSchema)[k] ? [(s.properties as Record<string, JsonSchema>)[k]] : [])))]),
    )
    const required = keys.filter((k) => distinct.every((s) => (s.required as string[]).includes(k)))
    return {type: 'object', properties, required, additionalProperties: false}
  }
  if (distinct.every((s) => s.type === 'array')) {
    const items = distinct.flatMap((s) => (s.items ? [s.items as JsonSchema] : []))
    return items.length === 0 ? {type: 'array'} : {type: 'array', items: mergeShapes(items)}
  }
  return {anyOf: distinct.sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b)))}
}
