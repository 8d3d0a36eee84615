// Tier classification: the riskiest matching tier wins; unmatched kinds are high.
import {describe, expect, it} from 'vitest'

import {modeFor, TierClassifier, type TierPatterns} from '../../src/evaluator/tiers.js'
import type {TierControl} from '../../src/store/types.js'

const PATTERNS: TierPatterns = {
  low: {match: ['search.*', '*.read']},
  medium: {match: ['llm.*', 'email.draft']},
  high: {match: ['email.*', 'db.wr?te']},
}

describe('TierClassifier', () => {
  it('the riskiest matching tier wins: email.read matches *.read (low) and email.* (high) → high', () => {
    const c = new TierClassifier(PATTERNS)
    expect(c.classify('email.read')).toBe('high')
    // Asked twice: the cached answer is the same.
    expect(c.classify('email.read')).toBe('high')
  })

  it('medium beats low, high beats medium', () => {
    const c = new TierClassifier({low: {match: ['*']}, medium: {match: ['llm.*']}, high: {match: ['llm.tool']}})
    expect(c.classify('llm.chat')).toBe('medium')
    expect(c.classify('llm.tool')).toBe('high')
    expect(c.classify('search.web')).toBe('low')
  })

  it('classifies single matches, is case-insensitive, treats ? as one character and . literally', () => {
    const c = new TierClassifier(PATTERNS)
    expect(c.classify('search.web')).toBe('low')
    expect(c.classify('SEARCH.Web')).toBe('low')
    expect(c.classify('llm.chat')).toBe('medium')
    expect(c.classify('db.write')).toBe('high')
    expect(c.classify('db.wrote')).toBe('high')
    // '.' is not a wildcard: "searchXweb" does not match "search.*"; unmatched → high.
    expect(c.classify('searchXweb')).toBe('high')
    // anchored: a prefix does not match
    expect(c.classify('my.search.web')).toBe('high')
    expect(c.classify('file.read.more')).toBe('high')
  })

  it('an unmatched kind is high', () => {
    expect(new TierClassifier({low: {match: ['a']}, medium: {match: []}, high: {match: []}}).classify('b')).toBe('high')
  })
})

describe('modeFor', () => {
  const control = (engaged: boolean): TierControl => ({tiers: {low: 'enforce', medium: 'shadow', high: 'enforce'}, killswitch: {engaged}, version: 1})
  it('returns the tier mode, and shadow everywhere while the kill switch is engaged', () => {
    expect(modeFor(control(false), 'low')).toBe('enforce')
    expect(modeFor(control(false), 'medium')).toBe('shadow')
    expect(modeFor(control(true), 'high')).toBe('shadow')
  })
})
