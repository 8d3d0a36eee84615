// The approval gate's call signature (built in src/approvals/gate.ts on the approvals branch). The
// runtime takes the gate as a dependency, so this module does not import it; until it is wired a
// policy that requires approval denies (the gate fails closed, and so does its absence).
import type {DocWrite, Store} from '../store/types.js'

export type ApprovalVerdict =
  | {admitted: true; consume: DocWrite[]}
  | {admitted: false; request_id: string; reason: 'APPROVAL_REQUIRED' | 'APPROVAL_EXPIRED' | 'STORE_UNAVAILABLE'; message: string}

export type ApprovalGate = (
  store: Store,
  ask: {tenant: string; subject: string; action_kind: string; estimate: {unit: string; amount: number}; nowMs: number},
) => Promise<ApprovalVerdict>

/** What a reservation gets when a policy requires approval and no gate is wired: a denial. */
export const NO_APPROVAL_GATE: ApprovalGate = async (_store, ask) => ({
  admitted: false,
  request_id: 'none',
  reason: 'APPROVAL_REQUIRED',
  message: `Approval required for ${ask.action_kind} on ${ask.subject}, and this daemon has no approval gate; denied (fails closed)`,
})
