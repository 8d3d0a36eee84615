// Denial-rate bands and verdicts (../shared/docs/shadow-analytics.md §1.3): > 5 % too tight,
// 3–5 % running warm, 1–3 % goldilocks, 0 % decorative; between 0 and 1 % we call it loose.
export const BANDS = ['too_tight', 'warm', 'goldilocks', 'loose', 'decorative', 'insufficient_data'] as const
export type Band = (typeof BANDS)[number]

/** Worst first: the order reports sort by. */
export const BAND_SEVERITY: Record<Band, number> = {too_tight: 0, warm: 1, decorative: 2, loose: 3, goldilocks: 4, insufficient_data: 5}

export function bandOf(requests: number, denials: number, minRequests: number): Band {
  if (requests < minRequests || requests === 0) return 'insufficient_data'
  const rate = denials / requests
  if (denials === 0) return 'decorative'
  if (rate < 0.01) return 'loose'
  if (rate <= 0.03) return 'goldilocks'
  if (rate <= 0.05) return 'warm'
  return 'too_tight'
}

export const pct = (x: number | null | undefined, digits = 1) => (x === null || x === undefined ? '–' : `${(x * 100).toFixed(digits)} %`)

export function verdictOf(s: {band: Band; denial_rate: number; requests: number; reserve_commit_ratio: number | null; overage_rate: number | null}, minRequests: number, overageThreshold: number): string {
  let text: string
  switch (s.band) {
    case 'too_tight':
      text = `too tight: ${pct(s.denial_rate)} would be denied — raise the limit or fix estimates`
      break
    case 'warm':
      text = `running warm: ${pct(s.denial_rate)} would be denied — investigate before enforcing`
      break
    case 'goldilocks':
      text = `goldilocks: ${pct(s.denial_rate)} would be denied — ready to enforce`
      break
    case 'loose':
      text = `loose: ${pct(s.denial_rate, 2)} would be denied — safe to enforce; the limit rarely bites`
      break
    case 'decorative':
      text = 'decorative: nothing would be denied — tighten the limit, it protects nothing'
      break
    default:
      text = `not enough data: ${s.requests} requests (need ${minRequests}) — keep observing`
  }
  const rc = s.reserve_commit_ratio
  if (rc !== null && rc > 2) text += `; estimates are ${rc.toFixed(1)}× actual — the budget is effectively ${rc.toFixed(1)}× tighter`
  else if (rc !== null && rc < 0.8) text += `; estimates are only ${rc.toFixed(2)}× actual — under-estimating`
  if (s.overage_rate !== null && s.overage_rate > overageThreshold) text += `; ${pct(s.overage_rate)} of commits exceed their estimate — recalibrate estimates`
  return text
}
