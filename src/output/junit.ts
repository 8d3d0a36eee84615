// JUnit XML (the subset CI systems read: testsuites > testsuite > testcase [> failure]).
export interface JUnitCase {
  name: string
  classname: string
  time?: number
  failure?: {message: string; type?: string; body?: string}
  /** Written as <system-out>. */
  output?: string
}

export interface JUnitSuite {
  name: string
  cases: JUnitCase[]
  timestamp?: string
}

export function xmlEscape(s: string): string {
  // Characters XML 1.0 forbids are dropped; markup characters escaped.
  return s
    .replace(/[^\x09\x0A\x0D\x20-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/gu, '')
    .replaceAll('&', '&amp;')
    .replaceAll('<', '&lt;')
    .replaceAll('>', '&gt;')
    .replaceAll('"', '&quot;')
    .replaceAll("'", '&apos;')
}

export function renderJUnit(suites: JUnitSuite[], name = 'cycles'): string {
  const total = suites.reduce((n, s) => n + s.cases.length, 0)
  const failures = suites.reduce((n, s) => n + s.cases.filter((c) => c.failure).length, 0)
  const out = ['<?xml version="1.0" encoding="UTF-8"?>', `<testsuites name="${xmlEscape(name)}" tests="${total}" failures="${failures}" errors="0">`]
  for (const s of suites) {
    const f = s.cases.filter((c) => c.failure).length
    out.push(`  <testsuite name="${xmlEscape(s.name)}" tests="${s.cases.length}" failures="${f}" errors="0" skipped="0"${s.timestamp ? ` timestamp="${xmlEscape(s.timestamp)}"` : ''}>`)
    for (const c of s.cases) {
      const open = `    <testcase name="${xmlEscape(c.name)}" classname="${xmlEscape(c.classname)}" time="${(c.time ?? 0).toFixed(3)}"`
      if (!c.failure && !c.output) {
        out.push(`${open}/>`)
        continue
      }
      out.push(`${open}>`)
      if (c.failure) {
        out.push(`      <failure message="${xmlEscape(c.failure.message)}" type="${xmlEscape(c.failure.type ?? 'gate')}">${xmlEscape(c.failure.body ?? c.failure.message)}</failure>`)
      }
      if (c.output) out.push(`      <system-out>${xmlEscape(c.output)}</system-out>`)
      out.push('    </testcase>')
    }
    out.push('  </testsuite>')
  }
  out.push('</testsuites>')
  return `${out.join('\n')}\n`
}
