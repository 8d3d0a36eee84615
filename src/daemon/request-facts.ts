// The decision-record facts of a request and the checks every runtime handler starts with.
import {type RecordFacts, runIds} from '../decision-log/record.js'
import {ProtocolError, invalid} from '../protocol/errors.js'
import {deriveScopes} from '../protocol/scope.js'
import type {Action, Mode, Subject, Tier} from '../protocol/types.js'
import type {CallContext} from './runtime-service.js'

/** The facts every evaluated request starts with (decision fields are filled in as it is answered). */
export function baseFacts(
  endpoint: RecordFacts['endpoint'],
  subject: Subject,
  action: Action,
  metadata: Record<string, unknown> | undefined,
  extra: {tier: Tier; mode: Mode; dry_run: boolean},
): RecordFacts {
  return {
    endpoint,
    dry_run: extra.dry_run,
    mode: extra.mode,
    tier: extra.tier,
    subject,
    ...runIds(subject, metadata),
    action: {kind: action.kind, name: action.name},
    decision: 'DENY',
    would_decision: 'DENY',
  }
}

/** Derived scopes of a subject; 403 when subject.tenant is not the key's tenant or the scope is outside its scope filter, 400 on bad values. */
export function scopesFor(ctx: CallContext, subject: Subject, facts: RecordFacts) {
  if (subject.tenant !== undefined && subject.tenant !== ctx.tenant) {
    throw withContext(new ProtocolError('FORBIDDEN', 'subject.tenant does not match the API key'), facts)
  }
  let scopes: ReturnType<typeof deriveScopes>
  try {
    scopes = deriveScopes(subject)
  } catch (error) {
    throw withContext(error as ProtocolError, facts)
  }
  if (ctx.scopeFilter && !ctx.scopeFilter.allows(scopes.scope_path)) {
    throw withContext(new ProtocolError('FORBIDDEN', `Scope ${scopes.scope_path} is outside the API key's scope_filter [${ctx.scopeFilter.entries.join(', ')}]`), facts)
  }
  return scopes
}

export function checkHeaderKey(ctx: CallContext, bodyKey: string): void {
  if (ctx.headerIdempotencyKey !== undefined && ctx.headerIdempotencyKey !== bodyKey) {
    throw invalid('X-Idempotency-Key header does not match body idempotency_key')
  }
}

/** Attach what is known about the request to an error, for its decision record. */
export function withContext(error: ProtocolError, facts: RecordFacts): ProtocolError {
  if (error instanceof ProtocolError) {
    error.context = {...facts, decision: 'DENY', reason_code: error.code}
  }
  return error
}
