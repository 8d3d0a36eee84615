import {PassThrough} from 'node:stream'

import {describe, expect, it} from 'vitest'

import {adminKeyMatcher} from '../../src/admin/auth.js'
import {confirmAction, requireExactConfirm} from '../../src/cli/confirm.js'
import {CliError} from '../../src/cli/errors.js'
import {formatAmount, humanAmount, resolveAmount, usdToMicrocents} from '../../src/cli/money.js'
import {checkScope} from '../../src/cli/scope-input.js'

const tty = (answer: string) => {
  const input = new PassThrough()
  const output = new PassThrough()
  setTimeout(() => input.write(`${answer}\n`), 5)
  return {isTTY: true, input, output}
}

describe('runbook helpers', () => {
  it('converts dollars exactly: 1 USD = 100,000,000 USD_MICROCENTS', () => {
    expect(usdToMicrocents('1')).toBe(100_000_000)
    expect(usdToMicrocents('1.50')).toBe(150_000_000)
    expect(usdToMicrocents('0.00000001')).toBe(1)
    expect(usdToMicrocents('10')).toBe(1_000_000_000)
    expect(() => usdToMicrocents('0.000000001')).toThrow(CliError)
    expect(() => usdToMicrocents('-1')).toThrow(CliError)
    expect(() => resolveAmount('TOKENS', {usd: '1'})).toThrow(/USD_MICROCENTS budgets only/)
    expect(() => resolveAmount('TOKENS', {amount: '1.5'})).toThrow(CliError)
    expect(resolveAmount('TOKENS', {amount: '1_000'})).toBe(1000)
    expect(formatAmount(150_000_000, 'USD_MICROCENTS')).toBe('150000000 USD_MICROCENTS ($1.50)')
    expect(humanAmount(10_000_000, 'USD_MICROCENTS')).toBe('$0.10')
    expect(humanAmount(1, 'USD_MICROCENTS')).toBe('$0.00000001')
    expect(humanAmount(-5_000_000_000, 'USD_MICROCENTS')).toBe('-$50.00')
    expect(humanAmount(12000, 'TOKENS')).toBe('12,000 tokens')
  })

  it('checks scopes locally with a suggestion', () => {
    expect(checkScope('tenant:Acme/agent:Bot')).toBe('tenant:acme/agent:bot')
    try {
      checkScope('tenant:acme/agents:bot')
      expect.unreachable()
    } catch (error) {
      expect((error as CliError).exit).toBe(2)
      expect((error as CliError).suggestions[0]).toContain("did you mean 'agent:'")
    }
  })

  it('asks on a TTY, refuses without one, and needs an exact --confirm for irreversible actions', async () => {
    await expect(confirmAction('freeze x', {}, tty('y'))).resolves.toBeUndefined()
    await expect(confirmAction('freeze x', {}, tty('n'))).rejects.toMatchObject({code: 'ABORTED', exit: 2})
    await expect(confirmAction('freeze x', {}, {isTTY: false, input: new PassThrough(), output: new PassThrough()})).rejects.toMatchObject({code: 'CONFIRMATION_REQUIRED', exit: 2})
    await expect(confirmAction('freeze x', {yes: true}, {isTTY: false, input: new PassThrough(), output: new PassThrough()})).resolves.toBeUndefined()
    expect(() => requireExactConfirm('acme', 'acme', 'closing')).not.toThrow()
    expect(() => requireExactConfirm('acme', 'Acme', 'closing')).toThrow(/does not match/)
    expect(() => requireExactConfirm('acme', undefined, 'closing')).toThrow(/--confirm acme/)
  })

  it('compares admin keys by digest', () => {
    const matches = adminKeyMatcher('adm_0123456789abcdef')
    expect(matches('adm_0123456789abcdef')).toBe(true)
    expect(matches('adm_0123456789abcdeF')).toBe(false)
    expect(matches('short')).toBe(false)
    expect(matches('')).toBe(false)
  })

  it('gives every runbook command --json', async () => {
    const files = [
      'tenant/list', 'tenant/show', 'tenant/create', 'tenant/suspend', 'tenant/reactivate', 'tenant/close',
      'budget/list', 'budget/show', 'budget/create', 'budget/credit', 'budget/debit', 'budget/reset', 'budget/reset-spent', 'budget/repay-debt', 'budget/freeze', 'budget/unfreeze',
      'api-key/create', 'api-key/list', 'api-key/revoke', 'api-key/rotate',
      'audit/list', 'audit/tail', 'reservation/list', 'reservation/show', 'reservation/release', 'overview',
    ]
    for (const f of files) {
      const file = new URL(`../../commands/${f}.ts`, import.meta.url).href
      const mod = await import(/* @vite-ignore */ file)
      const flags = {...mod.default.baseFlags, ...mod.default.flags}
      expect(flags.json, f).toBeDefined()
      expect(flags['admin-url'].env, f).toBe('CYCLES_ADMIN_URL')
      expect(flags.url.env, f).toBe('CYCLES_BASE_URL')
    }
  })
})
