// Which policy governs a request: the admin spec's scope patterns ("tenant:acme" exact,
// "tenant:acme/*" that scope and everything beneath, "agent:*" every agent scope, "*/agent:x" that
// agent under any parent), matched against each of the request's affected scopes; among the
// tenant's ACTIVE policies in their effective window, the highest priority wins (earliest created
// on a tie) and only its rules apply (cycles-protocol-extensions MULTI-POLICY SEMANTICS).
import {SCOPE_VALUE_PATTERN} from '../protocol/scope.js'
import {SCOPE_LEVELS} from '../protocol/types.js'
import type {Policy} from './types.js'

const compiled = new Map<string, RegExp>()

/** Why a scope pattern is malformed, or undefined when it is well formed. */
export function scopePatternProblem(pattern: string): string | undefined {
  if (pattern.length === 0 || pattern.length > 1024) return 'expected 1 to 1024 characters'
  const segments = pattern.split('/')
  for (let i = 0; i < segments.length; i++) {
    const s = segments[i]
    if (s === '*') {
      if (i !== 0 && i !== segments.length - 1) return `'*' may only be the first or the last segment`
      if (segments.length === 1) return `'*' alone would match every scope; name a level, e.g. tenant:acme/*`
      continue
    }
    const colon = s.indexOf(':')
    const level = s.slice(0, colon)
    const value = s.slice(colon + 1)
    if (colon < 0 || !(SCOPE_LEVELS as readonly string[]).includes(level)) return `segment '${s}': expected <level>:<value> with a level of ${SCOPE_LEVELS.join(', ')}`
    if (value !== '*' && !SCOPE_VALUE_PATTERN.test(value)) return `segment '${s}': value must be * or match ^[a-zA-Z0-9_.-]+$`
  }
  return undefined
}

/**
 * A pattern as a regular expression over scope paths. A pattern that does not start at the tenant
 * level matches under any parent; a trailing '*' matches the scope itself and everything beneath.
 */
export function patternRegExp(pattern: string): RegExp {
  let re = compiled.get(pattern)
  if (re) return re
  const segments = pattern.toLowerCase().split('/')
  let head = ''
  if (segments[0] === '*') {
    segments.shift()
    head = '(?:[^/]+/)*'
  } else if (!segments[0].startsWith('tenant:')) head = '(?:[^/]+/)*'
  let tail = ''
  if (segments.at(-1) === '*') {
    segments.pop()
    tail = '(?:/[^/]+)*'
  }
  const body = segments
    .map((s) => {
      const colon = s.indexOf(':')
      const level = s.slice(0, colon)
      const value = s.slice(colon + 1)
      return value === '*' ? `${level}:[^/]+` : `${level}:${value.replace(/[.]/g, '\\.')}`
    })
    .join('/')
  re = new RegExp(`^${head}${body}${tail}$`)
  if (compiled.size < 10_000) compiled.set(pattern, re)
  return re
}

/** The deepest of the request's affected scopes the pattern matches (root first in), or undefined. */
export function deepestMatch(pattern: string, affectedScopes: readonly string[]): string | undefined {
  const re = patternRegExp(pattern)
  for (let i = affectedScopes.length - 1; i >= 0; i--) if (re.test(affectedScopes[i])) return affectedScopes[i]
  return undefined
}

export function inEffect(p: Policy, nowMs: number): boolean {
  if (p.status !== 'ACTIVE') return false
  if (p.effective_from_ms !== undefined && nowMs < p.effective_from_ms) return false
  if (p.effective_until_ms !== undefined && nowMs >= p.effective_until_ms) return false
  return true
}

export interface SelectedPolicy {
  policy: Policy
  /** The scope the policy's counters are kept at: the deepest affected scope its pattern matches. */
  scope: string
}

/** The governing policy of a request, or undefined. `policies` are the tenant's, in any order. */
export function selectPolicy(policies: readonly Policy[], affectedScopes: readonly string[], nowMs: number): SelectedPolicy | undefined {
  let best: SelectedPolicy | undefined
  for (const p of policies) {
    if (!inEffect(p, nowMs)) continue
    if (best && (p.priority < best.policy.priority || (p.priority === best.policy.priority && p.created_at_ms >= best.policy.created_at_ms))) continue
    const scope = deepestMatch(p.scope_pattern, affectedScopes)
    if (scope) best = {policy: p, scope}
  }
  return best
}
