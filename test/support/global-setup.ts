// Printed once at the start of every vitest run, so a run without the official spec files says so
// instead of passing quietly (see test/support/spec.ts).
import {specChecksBanner} from './spec.js'

export default function setup(): void {
  process.stdout.write(`\n${specChecksBanner()}\n\n`)
}
