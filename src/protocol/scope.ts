// Scope derivation (cycles-protocol.md §3) and the canonical scope grammar used by configs and the CLI.
import {invalid} from './errors.js'
import {SCOPE_LEVELS, type ScopeLevel, type Subject} from './types.js'

/** Portable subject value charset; ':' and '/' are structural delimiters in scope paths. */
export const SCOPE_VALUE_PATTERN = /^[a-zA-Z0-9_.-]+$/

export interface DerivedScopes {
  /** Cumulative prefixes, root first. */
  affected_scopes: string[]
  /** The deepest prefix. */
  scope_path: string
}

/**
 * Derive the scopes a subject touches: present, non-blank standard fields in hierarchy order,
 * values lower-cased, gaps skipped (never filled). Throws INVALID_REQUEST on bad values.
 */
export function deriveScopes(subject: Subject): DerivedScopes {
  const affected: string[] = []
  let path = ''
  for (const level of SCOPE_LEVELS) {
    const raw = subject[level]
    if (raw === undefined || raw.trim() === '') continue
    if (!SCOPE_VALUE_PATTERN.test(raw)) {
      throw invalid(`Validation failed: subject.${level}: must match ^[a-zA-Z0-9_.-]+$`)
    }
    path = path === '' ? `${level}:${raw.toLowerCase()}` : `${path}/${level}:${raw.toLowerCase()}`
    affected.push(path)
  }
  if (affected.length === 0) {
    throw invalid('Validation failed: subject: at least one of tenant, workspace, app, workflow, agent, toolset is required')
  }
  return {affected_scopes: affected, scope_path: path}
}

/** The leaf segment of a scope path, as the reference sends in Balance.scope. */
export function leafSegment(scopePath: string): string {
  const i = scopePath.lastIndexOf('/')
  return i < 0 ? scopePath : scopePath.slice(i + 1)
}

/** The value of one level in a scope path, if present. */
export function scopeLevelValue(scopePath: string, level: ScopeLevel): string | undefined {
  for (const segment of scopePath.split('/')) {
    const colon = segment.indexOf(':')
    if (segment.slice(0, colon) === level) return segment.slice(colon + 1)
  }
  return undefined
}

export class ScopeSyntaxError extends Error {
  constructor(
    message: string,
    readonly suggestion?: string,
  ) {
    super(message)
    this.name = 'ScopeSyntaxError'
  }
}

function suggestLevel(word: string): ScopeLevel | undefined {
  const w = word.toLowerCase()
  let best: {level: ScopeLevel; d: number} | undefined
  for (const level of SCOPE_LEVELS) {
    const d = editDistance(w, level)
    if (!best || d < best.d) best = {level, d}
  }
  return best && best.d <= 3 ? best.level : undefined
}

function editDistance(a: string, b: string): number {
  const row = Array.from({length: b.length + 1}, (_, i) => i)
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0]
    row[0] = i
    for (let j = 1; j <= b.length; j++) {
      const tmp = row[j]
      row[j] = Math.min(row[j] + 1, row[j - 1] + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1))
      prev = tmp
    }
  }
  return row[b.length]
}

/**
 * Parse and normalise a canonical scope path such as `tenant:acme/workspace:prod/agent:bot`.
 * Tenant first, levels in hierarchy order (gaps allowed), each at most once; values lower-cased.
 * Throws ScopeSyntaxError with a suggestion (e.g. `agents:` → `agent:`).
 */
export function parseScope(input: string): string {
  if (typeof input !== 'string' || input.trim() === '') throw new ScopeSyntaxError('scope is empty; expected e.g. tenant:acme/agent:bot')
  const segments = input.trim().split('/')
  let lastIndex = -1
  const out: string[] = []
  for (const [position, segment] of segments.entries()) {
    const colon = segment.indexOf(':')
    if (colon <= 0) {
      throw new ScopeSyntaxError(`scope segment '${segment}' is not <level>:<value>`, `expected e.g. tenant:acme/agent:bot`)
    }
    const level = segment.slice(0, colon)
    const value = segment.slice(colon + 1)
    const index = (SCOPE_LEVELS as readonly string[]).indexOf(level)
    if (index < 0) {
      const guess = suggestLevel(level)
      throw new ScopeSyntaxError(
        `unknown scope level '${level}:' in '${input}'`,
        guess ? `did you mean '${guess}:'? levels are ${SCOPE_LEVELS.join(', ')}` : `levels are ${SCOPE_LEVELS.join(', ')}`,
      )
    }
    if (position === 0 && level !== 'tenant') {
      throw new ScopeSyntaxError(`scope must start with tenant:, got '${segment}'`, `e.g. tenant:acme/${segment}`)
    }
    if (index <= lastIndex) {
      throw new ScopeSyntaxError(
        `scope level '${level}:' is out of order or repeated in '${input}'`,
        `order is ${SCOPE_LEVELS.join(' → ')}`,
      )
    }
    if (!SCOPE_VALUE_PATTERN.test(value)) {
      throw new ScopeSyntaxError(`scope value '${value}' for '${level}:' must match ^[a-zA-Z0-9_.-]+$`)
    }
    lastIndex = index
    out.push(`${level}:${value.toLowerCase()}`)
  }
  return out.join('/')
}

/** The tenant id named by a canonical scope path (first segment). */
export function scopeTenant(scopePath: string): string | undefined {
  return scopeLevelValue(scopePath, 'tenant')
}
