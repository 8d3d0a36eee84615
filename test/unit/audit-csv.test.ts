// The audit CSV's field encoding: RFC 4180 quoting, and text a spreadsheet would run as a formula
// neutralised (a reason like =HYPERLINK(...) written by a key holder must not execute when an
// auditor opens the export).
import {describe, expect, it} from 'vitest'

import {csvField} from '../../src/runbook/audit-export.js'

describe('audit CSV fields', () => {
  it('quotes commas, quotes and line breaks, doubling quotes', () => {
    expect(csvField('plain')).toBe('plain')
    expect(csvField('a,b')).toBe('"a,b"')
    expect(csvField('say "hi"')).toBe('"say ""hi"""')
    expect(csvField('two\nlines')).toBe('"two\nlines"')
    expect(csvField(undefined)).toBe('')
    expect(csvField(null)).toBe('')
  })

  it('prefixes text that starts like a formula with a quote, and leaves numbers alone', () => {
    expect(csvField('=HYPERLINK("http://x","y")')).toBe(`"'=HYPERLINK(""http://x"",""y"")"`)
    expect(csvField('+1 overdraft')).toBe("'+1 overdraft")
    expect(csvField('-rf')).toBe("'-rf")
    expect(csvField('@SUM(A1)')).toBe("'@SUM(A1)")
    expect(csvField('\tcmd')).toBe("'\tcmd")
    expect(csvField('\rcmd')).toBe(`"'\rcmd"`)
    expect(csvField(-5)).toBe('-5')
    expect(csvField('a=b')).toBe('a=b')
  })
})
