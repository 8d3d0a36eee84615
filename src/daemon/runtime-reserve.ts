// POST /v1/reservations: reserve, live or dry-run. The request is evaluated once (runtime-admission.ts)
// and answered either as a dry run (also every v0.1.26 observe-mode request: nothing is held) or by
// the live reserve transaction (runtime-live-reserve.ts), retrying when the ledgers moved in between.
import {ProtocolError} from '../protocol/errors.js'
import {type ReservationCreateRequest, parseRequest, reservationCreateRequest, reservationCreateRequestV26} from '../protocol/requests.js'
import type {Tx} from '../store/types.js'
import {checkHeaderKey} from './request-facts.js'
import {IDEMPOTENCY_TTL_MS, MAX_ATTEMPTS, type CallContext, type ServiceResponse, type RuntimeCore} from './runtime-core.js'
import {type Admitted, beginAdmission, readAndEvaluate, shadowCharge} from './runtime-admission.js'
import {liveReserve} from './runtime-live-reserve.js'
import {shadowHeaders, jsonWithBalances} from './wire.js'
import {denyDetailOf, observeModeOf} from '../evaluator/policy-stage.js'

export class ReservePath {
  constructor(private readonly core: RuntimeCore) {}

  async reserveStored(ctx: CallContext, raw: unknown): Promise<ServiceResponse> {
    // observe_mode and action.policy_keys only from v0.1.26 clients: v0.1.25 ones get the v0.1.25 schema (unknown field → 400).
    const req = parseRequest(ctx.wireVersion === '0.1.26' ? reservationCreateRequestV26 : reservationCreateRequest, raw)
    checkHeaderKey(ctx, req.idempotency_key)
    const dryRun = req.dry_run ?? false
    const admission = beginAdmission(this.core, 'reserve', ctx, req, dryRun)
    const {mode, facts, scopes, idemKey, hash} = admission

    // Per-request observe mode is known now; the tenant's once it is read (observe-mode rules, v0.1.26).
    const observeAsked = req.observe_mode === 'OBSERVE'
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const read = await readAndEvaluate(this.core, ctx, req, scopes, idemKey, hash, facts, attempt === 0, mode === 'enforce' && !observeAsked)
      if ('replay' in read) return read.replay
      const observed = observeModeOf(req.observe_mode, read.tenant) === 'OBSERVE'
      if (observed) facts.observe_mode = 'OBSERVE'
      const wouldDenyHeaders = shadowHeaders(facts)

      const result =
        dryRun || observed
          ? await this.dryRunResponse(ctx, req, {...admission, ...read})
          : await liveReserve(this.core, ctx, req, {...admission, ...read})
      if (result === 'retry') continue
      if (result === 'replay') return (await this.core.replay(idemKey, hash, facts))!
      if (wouldDenyHeaders) result.headers = {...result.headers, ...wouldDenyHeaders}
      return result
    }
    throw new ProtocolError('INTERNAL_ERROR', 'Budget state changed too often during evaluation; retry with the same idempotency_key')
  }

  private async dryRunResponse(ctx: CallContext, req: ReservationCreateRequest, admitted: Admitted): Promise<ServiceResponse | 'retry' | 'replay'> {
    const {real, realEval, shadowEval, stage, scopes, idemKey, hash, facts} = admitted
    if (real.unitMismatch && !stage.denial) throw this.core.unitMismatch(real, req.estimate.unit, facts)
    const body: Record<string, unknown> = {decision: realEval.decision}
    if (realEval.decision === 'DENY') {
      body.reason_code = realEval.reason_code
      body.affected_scopes = scopes.affected_scopes
      body.scope_path = scopes.scope_path
      if (ctx.wireVersion === '0.1.26') body.deny_detail = denyDetailOf(realEval, stage, real, req.estimate)
    } else {
      if (realEval.caps) body.caps = realEval.caps
      body.affected_scopes = scopes.affected_scopes
      body.scope_path = scopes.scope_path
      body.reserved = req.estimate
    }
    facts.decision = realEval.decision
    if (realEval.reason_code) facts.reason_code = realEval.reason_code
    if (facts.observe_mode === 'OBSERVE' && realEval.decision === 'ALLOW_WITH_CAPS' && realEval.caps) facts.caps = realEval.caps
    // denied_scope stays the would-be denial's (schema v1): now that the real book counts shadowed
    // spend, the real book often denies where full enforcement would not, and the replay reads it so.
    const text = realEval.decision === 'DENY' ? JSON.stringify(body) : jsonWithBalances(body, real.ledgers)
    const tx: Tx = {
      ...shadowCharge(shadowEval, req.estimate),
      idempotency: {key: idemKey, record: {hash, status: 200, body: text}, ttl_ms: IDEMPOTENCY_TTL_MS},
    }
    const applied = await this.core.store.apply(tx)
    if (!applied.ok) return applied.failed === 'idempotency' ? 'replay' : 'retry'
    return {status: 200, body: text, record: facts}
  }
}
