// The action-kind registry of cycles-action-kinds-v0.1.26 (its built-in kinds and their risk classes,
// as facts) plus the operator's declared custom.* kinds. A kind's risk class feeds the risk-class
// quotas; an undeclared custom.* kind is refused (400), any other unknown kind counts as side_effect.
import type {RiskClass} from './types.js'

export const REGISTRY_VERSION = '0.1.26'

export interface PolicyKeySpec {
  host?: boolean
  recipient_domain?: boolean
  resource_type?: string
  path_prefix?: boolean
}

export interface ActionKindEntry {
  kind: string
  risk_class: RiskClass
  policy_key_spec?: PolicyKeySpec
  description?: string
}

type Row = [kind: string, risk: RiskClass, spec?: PolicyKeySpec]

// Built-in kinds in registry order (unknown.call last, as the spec keeps it).
const BUILT_IN: Row[] = [
  ['llm.completion', 'side_effect'],
  ['llm.embedding', 'read_only'],
  ['llm.structured_output', 'side_effect', {host: true}],
  ['agent.spawn', 'side_effect'],
  ['agent.delegate', 'side_effect', {host: true}],
  ['agent.message', 'side_effect'],
  ['agent.human_escalation', 'external_side_effect', {recipient_domain: true}],
  ['web.search', 'read_only'],
  ['http.get', 'read_only', {host: true}],
  ['http.post', 'external_side_effect', {host: true}],
  ['http.put', 'external_side_effect', {host: true}],
  ['http.delete', 'external_side_effect', {host: true}],
  ['http.graphql', 'side_effect', {host: true}],
  ['message.email.send', 'external_side_effect', {host: true,recipient_domain: true}],
  ['message.slack.post', 'external_side_effect', {host: true}],
  ['message.sms.send', 'external_side_effect', {recipient_domain: true}],
  ['message.chat.post', 'external_side_effect', {host: true}],
  ['db.query', 'read_only', {resource_type: 'table'}],
  ['db.write', 'side_effect', {resource_type: 'table'}],
  ['db.schema_change', 'high_risk', {resource_type: 'table'}],
  ['crm.record.read', 'read_only', {resource_type: 'object_type'}],
  ['crm.record.write', 'side_effect', {resource_type: 'object_type'}],
  ['crm.record.delete', 'external_side_effect', {resource_type: 'object_type'}],
  ['file.read', 'read_only', {path_prefix: true}],
  ['file.write', 'local_mutation', {path_prefix: true}],
  ['file.delete', 'side_effect', {path_prefix: true}],
  ['code.exec', 'high_risk', {path_prefix: true}],
  ['code.deploy', 'high_risk', {host: true}],
  ['code.lint', 'read_only', {path_prefix: true}],
  ['vector.query', 'read_only', {resource_type: 'collection'}],
  ['vector.upsert', 'side_effect', {resource_type: 'collection'}],
  ['vector.delete', 'side_effect', {resource_type: 'collection'}],
  ['memory.read', 'read_only', {resource_type: 'store'}],
  ['memory.write', 'local_mutation', {resource_type: 'store'}],
  ['memory.delete', 'side_effect', {resource_type: 'store'}],
  ['reasoning.plan', 'side_effect'],
  ['reasoning.reflect', 'side_effect'],
  ['calendar.read', 'read_only', {host: true}],
  ['calendar.write', 'external_side_effect', {host: true}],
  ['payment.charge', 'high_risk', {host: true}],
  ['payment.refund', 'high_risk', {host: true}],
  ['image.generate', 'external_side_effect', {host: true}],
  ['image.edit', 'external_side_effect', {host: true}],
  ['video.generate', 'high_risk', {host: true}],
  ['video.transcode', 'side_effect', {host: true,path_prefix: true}],
  ['audio.generate', 'external_side_effect', {host: true}],
  ['audio.transcribe', 'read_only', {host: true}],
  ['vision.analyze', 'side_effect', {host: true}],
  ['vision.ocr', 'side_effect', {host: true}],
  ['vision.parse_document', 'side_effect', {host: true,path_prefix: true}],
  ['social.post.create', 'external_side_effect', {host: true}],
  ['social.post.delete', 'external_side_effect', {host: true}],
  ['social.dm.send', 'external_side_effect', {host: true,recipient_domain: true}],
  ['notification.push.send', 'external_side_effect', {host: true}],
  ['notification.webhook.trigger', 'external_side_effect', {host: true}],
  ['storage.upload', 'side_effect', {host: true,path_prefix: true}],
  ['storage.download', 'read_only', {host: true,path_prefix: true}],
  ['storage.delete', 'side_effect', {host: true,path_prefix: true}],
  ['document.create', 'side_effect', {host: true}],
  ['document.edit', 'side_effect', {host: true}],
  ['document.share', 'external_side_effect', {host: true,recipient_domain: true}],
  ['unknown.call', 'side_effect'],]

export const BUILT_IN_KINDS: readonly ActionKindEntry[] = BUILT_IN.map(([kind, risk_class, spec]) => ({kind, risk_class, ...(spec ? {policy_key_spec: spec} : {})}))
const BY_KIND = new Map(BUILT_IN_KINDS.map((k) => [k.kind, k]))

/** The spec's default for a non-custom kind the registry does not know. */
export const UNREGISTERED_RISK_CLASS: RiskClass = 'side_effect'

/** custom.<org>.<operation>[.<qualifier>] */
export const CUSTOM_KIND_PATTERN = /^custom\.[a-z0-9_-]+\.[a-z0-9_-]+(\.[a-z0-9_.-]+)?$/i

export function builtInKind(kind: string): ActionKindEntry | undefined {
  return BY_KIND.get(kind)
}

export type KindResolution = {entry: ActionKindEntry; registered: boolean} | {undeclaredCustom: true}

/** A request's kind: built-in, declared custom, undeclared custom (refused), or unregistered (side_effect). */
export function resolveKind(kind: string, custom: ReadonlyMap<string, ActionKindEntry>): KindResolution {
  const known = BY_KIND.get(kind) ?? custom.get(kind)
  if (known) return {entry: known, registered: true}
  if (kind.startsWith('custom.')) return {undeclaredCustom: true}
  return {entry: {kind, risk_class: UNREGISTERED_RISK_CLASS}, registered: false}
}
