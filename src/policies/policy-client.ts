// The policy calls of `cycles policy …` against any Cycles admin API, and how a policy reads in a
// table. The commands stay thin: they parse flags, call one of these, render.
import fs from 'node:fs'

import YAML from 'yaml'

import {CliError, EXIT} from '../cli/errors.js'
import type {HttpClient} from '../client/http.js'

export interface PolicyWire {
  policy_id: string
  name: string
  scope_pattern: string
  priority: number
  status: string
  allowed_action_kinds?: string[]
  denied_action_kinds?: string[]
  action_quotas?: Array<{action_kind: string; max_calls: number; window: string}>
  risk_class_quotas?: Array<{risk_class: string; max_calls: number; window: string}>
  rate_limits?: Record<string, number>
  [key: string]: unknown
}

export async function listPolicies(http: HttpClient, tenant: string, status?: string): Promise<PolicyWire[]> {
  const out: PolicyWire[] = []
  let cursor: string | undefined
  do {
    const page = await http.request<{policies: PolicyWire[]; next_cursor?: string}>('GET', '/v1/admin/policies', {query: {tenant_id: tenant, limit: 100, ...(status ? {status} : {}), ...(cursor ? {cursor} : {})}})
    out.push(...page.policies)
    cursor = page.next_cursor
  } while (cursor)
  return out
}

export const getPolicy = (http: HttpClient, id: string) => http.request<PolicyWire>('GET', `/v1/admin/policies/${encodeURIComponent(id)}`)
export const createPolicy = (http: HttpClient, body: Record<string, unknown>) => http.request<PolicyWire>('POST', '/v1/admin/policies', {body})
export const updatePolicy = (http: HttpClient, id: string, body: Record<string, unknown>) =>
  http.request<PolicyWire>('PATCH', `/v1/admin/policies/${encodeURIComponent(id)}`, {body})
export const deletePolicy = (http: HttpClient, id: string, reason?: string) =>
  http.request<PolicyWire>('DELETE', `/v1/admin/policies/${encodeURIComponent(id)}`, {query: reason ? {reason} : {}})

/** The fields of a YAML or JSON file (a PolicyCreateRequest or a PATCH body). */
export function policyFile(file: string | undefined): Record<string, unknown> {
  if (!file) return {}
  let parsed: unknown
  try {
    parsed = YAML.parse(fs.readFileSync(file, 'utf8'))
  } catch (error) {
    throw new CliError('INVALID_FILE', `cannot read ${file}: ${(error as Error).message}`, {exit: EXIT.USAGE})
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw new CliError('INVALID_FILE', `${file} must hold one YAML/JSON object of policy fields`, {exit: EXIT.USAGE})
  return parsed as Record<string, unknown>
}

/** One line of rules: access lists, quotas, rate limits. */
export function rulesSummary(p: PolicyWire): string {
  const parts: string[] = []
  if (p.denied_action_kinds?.length) parts.push(`deny ${p.denied_action_kinds.join(',')}`)
  if (p.allowed_action_kinds?.length) parts.push(`allow ${p.allowed_action_kinds.join(',')}`)
  for (const q of p.risk_class_quotas ?? []) parts.push(`${q.risk_class} ≤${q.max_calls}/${q.window}`)
  for (const q of p.action_quotas ?? []) parts.push(`${q.action_kind} ≤${q.max_calls}/${q.window}`)
  for (const [k, v] of Object.entries(p.rate_limits ?? {})) parts.push(`${k}=${v}`)
  return parts.join('; ') || '—'
}
