// POST /v1/decide: the evaluator's answer without a reservation; a would-be-allowed decide debits
// the shadow book with its estimate, and the answer is stored for idempotent replays.
import {ProtocolError} from '../protocol/errors.js'
import {decisionRequest, decisionRequestV26, parseRequest} from '../protocol/requests.js'
import {checkHeaderKey} from './request-facts.js'
import {IDEMPOTENCY_TTL_MS, MAX_ATTEMPTS, type CallContext, type ServiceResponse, type RuntimeCore} from './runtime-core.js'
import {beginAdmission, readAndEvaluate, shadowCharge} from './runtime-admission.js'
import {shadowHeaders} from './wire.js'
import {denyDetailOf, observeModeOf} from '../evaluator/policy-stage.js'

export class DecidePath {
  constructor(private readonly core: RuntimeCore) {}

  async decideStored(ctx: CallContext, raw: unknown): Promise<ServiceResponse> {
    const req = parseRequest(ctx.wireVersion === '0.1.26' ? decisionRequestV26 : decisionRequest, raw)
    checkHeaderKey(ctx, req.idempotency_key)
    const {facts, scopes, idemKey, hash} = beginAdmission(this.core, 'decide', ctx, req, false)

    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const read = await readAndEvaluate(this.core, ctx, req, scopes, idemKey, hash, facts, attempt === 0, facts.mode === 'enforce')
      if ('replay' in read) return read.replay
      const {tenant, real, realEval, shadowEval, stage} = read
      if (observeModeOf(undefined, tenant) === 'OBSERVE') facts.observe_mode = 'OBSERVE'
      if (real.unitMismatch && !stage.denial) throw this.core.unitMismatch(real, req.estimate.unit, facts)
      const body: Record<string, unknown> = {decision: realEval.decision}
      if (realEval.decision === 'ALLOW_WITH_CAPS') body.caps = realEval.caps
      if (realEval.reason_code) body.reason_code = realEval.reason_code
      body.affected_scopes = scopes.affected_scopes
      if (realEval.decision === 'DENY' && ctx.wireVersion === '0.1.26') body.deny_detail = denyDetailOf(realEval, stage, real, req.estimate)
      facts.decision = realEval.decision
      if (realEval.reason_code) facts.reason_code = realEval.reason_code
      if (facts.observe_mode === 'OBSERVE' && realEval.decision === 'ALLOW_WITH_CAPS' && realEval.caps) facts.caps = realEval.caps
      const text = JSON.stringify(body)
      const applied = await this.core.store.apply({
        ...shadowCharge(shadowEval, req.estimate),
        idempotency: {key: idemKey, record: {hash, status: 200, body: text}, ttl_ms: IDEMPOTENCY_TTL_MS},
      })
      if (!applied.ok) {
        if (applied.failed === 'idempotency') return (await this.core.replay(idemKey, hash, facts))!
        continue
      }
      const response: ServiceResponse = {status: 200, body: text, record: facts}
      response.headers = shadowHeaders(facts)
      return response
    }
    throw new ProtocolError('INTERNAL_ERROR', 'Budget state changed too often during evaluation; retry with the same idempotency_key')
  }
}
