// Denial-rate bands (../shared/docs/shadow-analytics.md §1.3; verdicts: src/calibration/verdict.ts): > 5 % too tight,
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
