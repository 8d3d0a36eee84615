// The protocol's error codes and the one exception type the runtime and admin planes throw.
// The HTTP layer turns a ProtocolError into the error envelope {error, message, request_id, trace_id}.

export const ERROR_CODES = [
  'INVALID_REQUEST',
  'UNAUTHORIZED',
  'FORBIDDEN',
  'NOT_FOUND',
  'BUDGET_EXCEEDED',
  'BUDGET_FROZEN',
  'BUDGET_CLOSED',
  'RESERVATION_EXPIRED',
  'RESERVATION_FINALIZED',
  'IDEMPOTENCY_MISMATCH',
  'UNIT_MISMATCH',
  'OVERDRAFT_LIMIT_EXCEEDED',
  'DEBT_OUTSTANDING',
  'MAX_EXTENSIONS_EXCEEDED',
  'LIMIT_EXCEEDED',
  'TENANT_CLOSED',
  'INTERNAL_ERROR',
  // Added by cycles-protocol-extensions v0.1.26 (policies: access control and action quotas).
  'ACTION_QUOTA_EXCEEDED',
  'ACTION_KIND_NOT_ALLOWED',
  'ACTION_KIND_DENIED',
  // Admin-plane codes (cycles-admin.md §1.4); the runtime plane never sends them.
  'TENANT_NOT_FOUND',
  'TENANT_SUSPENDED',
  'BUDGET_NOT_FOUND',
  'POLICY_VIOLATION',
  'INSUFFICIENT_PERMISSIONS',
  'KEY_REVOKED',
  'KEY_EXPIRED',
  'DUPLICATE_RESOURCE',
  'WEBHOOK_NOT_FOUND',
  'WEBHOOK_URL_INVALID',
  'EVENT_NOT_FOUND',
  'REPLAY_IN_PROGRESS',
  'COUNT_MISMATCH',
] as const
export type ErrorCode = (typeof ERROR_CODES)[number]

const STATUS_BY_CODE: Record<ErrorCode, number> = {
  INVALID_REQUEST: 400,
  UNIT_MISMATCH: 400,
  UNAUTHORIZED: 401,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  BUDGET_EXCEEDED: 409,
  BUDGET_FROZEN: 409,
  BUDGET_CLOSED: 409,
  RESERVATION_FINALIZED: 409,
  IDEMPOTENCY_MISMATCH: 409,
  OVERDRAFT_LIMIT_EXCEEDED: 409,
  DEBT_OUTSTANDING: 409,
  MAX_EXTENSIONS_EXCEEDED: 409,
  TENANT_CLOSED: 409,
  ACTION_QUOTA_EXCEEDED: 409,
  ACTION_KIND_NOT_ALLOWED: 409,
  ACTION_KIND_DENIED: 409,
  RESERVATION_EXPIRED: 410,
  LIMIT_EXCEEDED: 429,
  INTERNAL_ERROR: 500,
  TENANT_NOT_FOUND: 404,
  TENANT_SUSPENDED: 409,
  BUDGET_NOT_FOUND: 404,
  POLICY_VIOLATION: 400,
  INSUFFICIENT_PERMISSIONS: 403,
  KEY_REVOKED: 409,
  KEY_EXPIRED: 409,
  DUPLICATE_RESOURCE: 409,
  WEBHOOK_NOT_FOUND: 404,
  WEBHOOK_URL_INVALID: 400,
  EVENT_NOT_FOUND: 404,
  REPLAY_IN_PROGRESS: 409,
  COUNT_MISMATCH: 409,
}

export class ProtocolError extends Error {
  readonly status: number
  /** Whatever the failing handler knew about the request, for the decision log. */
  context?: Record<string, unknown>

  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details?: Record<string, unknown>,
    status?: number,
  ) {
    super(message)
    this.name = 'ProtocolError'
    this.status = status ?? STATUS_BY_CODE[code]
  }
}

export const invalid = (message: string, details?: Record<string, unknown>) =>
  new ProtocolError('INVALID_REQUEST', message, details)
