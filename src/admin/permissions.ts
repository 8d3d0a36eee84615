// What a tenant API key may do: its permissions (which endpoints) and its scope filter (which
// scopes). One module for both planes; the runtime plane asks it on every request.
//
// Permissions (admin spec, Permission): admin:read satisfies any *:read, admin:write any *:write,
// admin:read never a write; a granular admin:<resource>:<op> satisfies <resource>:<op> for budgets,
// policies, webhooks and events (the capability table). The runtime spec names no permission per endpoint, so the mapping is
// ours (README "API keys: permissions and scope filters"): reserve and decide need
// reservations:create (decide is the reserve path without the hold), commit and events need
// reservations:commit (both record spend), release / extend their own, balances balances:read and
// both reservation reads reservations:list. reservations:list counts as a read and the other four
// reservations:* as writes for the admin:* wildcards, as the spec's capability table does.
//
// Scope filters (admin spec, ApiKey.scope_filter: `["workspace:eng", "agent:*"]` "limits key to eng
// workspace"). Each entry is one of
//   - a segment `<level>:<value>`: the scope path contains that segment;
//   - a segment `<level>:*`: the scope path has a segment of that level;
//   - a path from the tenant (`tenant:acme/workspace:eng`): exactly that scope; any value may be
//     `*`; a trailing `/*` also admits every scope beneath it (as webhook scope filters do).
// Entries of the same level (a path counts as level `tenant`) are alternatives; every level the
// filter names must be satisfied. That is what makes the spec's example a limit to the eng
// workspace rather than "eng, or any agent anywhere". No filter, or an empty one, admits all.
import {SCOPE_VALUE_PATTERN} from '../protocol/scope.js'
import {SCOPE_LEVELS} from '../protocol/types.js'

export const RUNTIME_PERMISSIONS = {
  reserve: 'reservations:create',
  decide: 'reservations:create',
  commit: 'reservations:commit',
  event: 'reservations:commit',
  release: 'reservations:release',
  extend: 'reservations:extend',
  balances: 'balances:read',
  listReservations: 'reservations:list',
  getReservation: 'reservations:list',
  listEvents: 'events:read',
} as const
export type RuntimeOperation = keyof typeof RUNTIME_PERMISSIONS

const READS = new Set(['reservations:list'])
/** The tenant permissions a granular admin:<resource>:<read|write> also grants. */
const GRANULAR = new Set(['budgets:read', 'budgets:write', 'policies:read', 'policies:write', 'webhooks:read', 'webhooks:write', 'events:read'])
const WRITES = new Set(['reservations:create', 'reservations:commit', 'reservations:release', 'reservations:extend'])

/** Does a key holding `held` satisfy `required` (wildcards per the Permission schema)? */
export function permits(held: readonly string[], required: string): boolean {
  if (held.includes(required)) return true
  if (required.startsWith('admin:')) return false
  // A legacy granular admin permission stands for its resource's tenant permission (the spec's
  // capability table: view_policies is policies:read · admin:read · admin:policies:read).
  if (GRANULAR.has(required) && held.includes(`admin:${required}`)) return true
  if ((required.endsWith(':read') || READS.has(required)) && held.includes('admin:read')) return true
  if ((required.endsWith(':write') || WRITES.has(required)) && held.includes('admin:write')) return true
  return false
}

// ---------------------------------------------------------------- scope filters

interface Segment {
  level: string
  /** Lower-cased value, or '*' for any. */
  value: string
}

interface Pattern {
  /** The level this entry constrains: its first segment's. */
  group: string
  segments: Segment[]
  /** A path ending in `/*`: the scope may continue below. */
  open: boolean
  /** A path from the tenant (positional) rather than a single segment found anywhere. */
  path: boolean
}

export class ScopeFilterError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'ScopeFilterError'
  }
}

function parseSegment(text: string, entry: string): Segment {
  const colon = text.indexOf(':')
  const level = colon < 0 ? '' : text.slice(0, colon)
  const value = colon < 0 ? '' : text.slice(colon + 1)
  if (!(SCOPE_LEVELS as readonly string[]).includes(level)) {
    throw new ScopeFilterError(`scope_filter entry '${entry}': '${text}' is not <level>:<value> with a level of ${SCOPE_LEVELS.join(', ')}`)
  }
  if (value !== '*' && !SCOPE_VALUE_PATTERN.test(value)) {
    throw new ScopeFilterError(`scope_filter entry '${entry}': value of '${level}:' must be * or match ^[a-zA-Z0-9_.-]+$`)
  }
  return {level, value: value.toLowerCase()}
}

/** Parse one entry; throws ScopeFilterError naming the entry. */
export function parseScopeFilterEntry(entry: string): Pattern {
  const parts = entry.trim().split('/')
  const open = parts.length > 1 && parts[parts.length - 1] === '*'
  if (open) parts.pop()
  const segments = parts.map((p) => parseSegment(p, entry))
  const path = segments[0].level === 'tenant'
  if (!path && (segments.length > 1 || open)) {
    throw new ScopeFilterError(`scope_filter entry '${entry}': a path must start with tenant:; a single segment such as workspace:eng matches anywhere`)
  }
  let last = -1
  for (const s of segments) {
    const index = (SCOPE_LEVELS as readonly string[]).indexOf(s.level)
    if (index <= last) throw new ScopeFilterError(`scope_filter entry '${entry}': levels out of order or repeated (order is ${SCOPE_LEVELS.join(' → ')})`)
    last = index
  }
  return {group: segments[0].level, segments, open, path}
}

/** Validate a whole filter (for key create/update and the config); returns the first problem, if any. */
export function scopeFilterProblem(filter: readonly string[]): string | undefined {
  for (const entry of filter) {
    try {
      parseScopeFilterEntry(entry)
    } catch (error) {
      if (error instanceof ScopeFilterError) return error.message
      throw error
    }
  }
  return undefined
}

function segmentsOf(scopePath: string): Segment[] {
  return scopePath.split('/').map((s) => {
    const colon = s.indexOf(':')
    return {level: s.slice(0, colon), value: s.slice(colon + 1)}
  })
}

const same = (pattern: Segment, actual: Segment) => pattern.level === actual.level && (pattern.value === '*' || pattern.value === actual.value)

function patternMatches(p: Pattern, scope: Segment[]): boolean {
  if (!p.path) return scope.some((s) => same(p.segments[0], s))
  if (p.open ? scope.length < p.segments.length : scope.length !== p.segments.length) return false
  return p.segments.every((s, i) => same(s, scope[i]))
}

/** A compiled filter: `allows(scopePath)` for canonical (lower-cased) scope paths. */
export interface ScopeFilter {
  readonly entries: readonly string[]
  allows(scopePath: string): boolean
}

/** Compile a filter; throws ScopeFilterError on an entry that does not parse. */
export function buildScopeFilter(entries: readonly string[]): ScopeFilter {
  const byGroup = new Map<string, Pattern[]>()
  for (const entry of entries) {
    const p = parseScopeFilterEntry(entry)
    byGroup.set(p.group, [...(byGroup.get(p.group) ?? []), p])
  }
  const groups = [...byGroup.values()]
  return {
    entries,
    allows(scopePath: string): boolean {
      if (groups.length === 0) return true
      const scope = segmentsOf(scopePath)
      return groups.every((alternatives) => alternatives.some((p) => patternMatches(p, scope)))
    },
  }
}

/**
 * The filter of a key, or undefined when it admits everything. A stored entry that no longer parses
 * admits nothing (fail closed) rather than failing every request with a 500.
 */
export function compileScopeFilter(entries: readonly string[] | undefined): ScopeFilter | undefined {
  if (!entries || entries.length === 0) return undefined
  // Stores hand out the same key object while it is unchanged, so its filter is parsed once.
  let filter = compiled.get(entries)
  if (filter) return filter
  try {
    filter = buildScopeFilter(entries)
  } catch (error) {
    if (!(error instanceof ScopeFilterError)) throw error
    filter = {entries, allows: () => false}
  }
  compiled.set(entries, filter)
  return filter
}

const compiled = new WeakMap<readonly string[], ScopeFilter>()
