// What `cycles calibrate` calls: load the replay log, the current allocations, calibrate, gate,
// render, and optionally write the calibrated daemon config.
import {type CalibrationReport, calibrationExtras} from '../analytics/calibration-extras.js'
import {CompareError, loadSavedReport} from '../analytics/compare.js'
import {openShadowDb} from '../analytics/db.js'
import {policyDenialsByRule, renderPolicyDenialLines} from '../analytics/policy-denials.js'
import {renderCalibrationHtml} from '../analytics/html/calibrate.js'
import {checkLabelsKnown} from '../analytics/provenance.js'
import {CliError, EXIT} from '../cli/errors.js'
import {type Format, writeOutput} from '../output/write.js'
import type {CalibrationOptions, CalibrationResult} from './calibrate.js'
import {parseGateList} from './gates.js'
import {calibrateParallel} from './parallel-search.js'
import {type GateOutcome, evaluateCalibrationGates, renderCalibrationJUnit, renderCalibrationJson, renderCalibrationMarkdown, renderCalibrationText} from './render.js'
import {suggestActionQuotas, renderQuotaSuggestions} from './quota-suggest.js'
import {type LogFilter, loadReplayLog} from './replay-log.js'
import {type CurrentBudgets, budgetsFromAdmin, budgetsFromConfig} from './sources.js'
import {writeConfigFile} from './write-config.js'

export interface CalibrateRun {
  db: string
  config?: string
  adminUrl?: string
  adminKey?: string
  filter: LogFilter
  options: Partial<CalibrationOptions>
  format: Format | 'html'
  output?: string
  /** --compare FILE (a saved --format json calibration) or --compare-window. */
  compare?: string
  compareWindow?: {text: string; ms: number}
  writeConfig?: string
  withOverdraft?: boolean
  failOn?: string
  limit?: number
  color?: boolean
  width?: number
}

export function parseBand(value: string): [number, number] {
  const parts = value.split(',').map((s) => Number(s.trim()))
  if (parts.length !== 2 || parts.some((x) => !Number.isFinite(x) || x < 0 || x > 1) || parts[0] > parts[1]) {
    throw new CliError('USAGE', `--band: expected two rates "low,high" with 0 ≤ low ≤ high ≤ 1, got ${value}`, {exit: EXIT.USAGE})
  }
  return [parts[0], parts[1]]
}

export function parseRate(value: string, flag: string): number {
  const x = Number(value)
  if (!Number.isFinite(x) || x <= 0 || x >= 1) throw new CliError('USAGE', `${flag}: expected a rate between 0 and 1 (e.g. 0.02), got ${value}`, {exit: EXIT.USAGE})
  return x
}

export async function currentBudgets(run: Pick<CalibrateRun, 'config' | 'adminUrl' | 'adminKey'>): Promise<CurrentBudgets> {
  if (run.config) return budgetsFromConfig(run.config)
  if (run.adminUrl) {
    if (!run.adminKey) throw new CliError('ADMIN_KEY_MISSING', 'no admin key: set CYCLES_ADMIN_API_KEY (or pass --admin-key)', {exit: EXIT.AUTH})
    return budgetsFromAdmin(run.adminUrl, run.adminKey)
  }
  throw new CliError('USAGE', 'calibrate needs the current allocations: pass --config FILE (the daemon config) or --admin-url URL', {
    exit: EXIT.USAGE,
    suggestions: ['cycles calibrate --config cycles.yaml', 'cycles calibrate --admin-url http://127.0.0.1:7979 (with CYCLES_ADMIN_API_KEY)'],
  })
}

/** The action-quota suggestions and policy denials by rule, appended to the table and Markdown output. */
function policyRuleLines(result: CalibrationResult, limit: number, markdown: boolean): string {
  const lines = [...(result.action_quotas ? renderQuotaSuggestions(result.action_quotas, limit) : []), ...renderPolicyDenialLines(result.policy_denials ?? [], limit)]
  if (lines.length === 0) return ''
  return `${(markdown ? lines.map((l) => (l.startsWith('  ') ? `- ${l.trim()}` : l)) : lines).join('\n')}\n`
}

export async function runCalibrate(run: CalibrateRun): Promise<{result: CalibrationReport; gates: GateOutcome; text: string; written?: number}> {
  let gateList: string[]
  try {
    gateList = parseGateList(run.failOn)
  } catch (error) {
    throw new CliError('USAGE', (error as Error).message, {exit: EXIT.USAGE})
  }
  if (run.writeConfig && !run.config) throw new CliError('USAGE', '--write-config needs --config (the config file to rewrite)', {exit: EXIT.USAGE})
  const current = await currentBudgets(run)
  let previous
  try {
    previous = run.compare ? {comparable: loadSavedReport(run.compare, 'calibrate'), source: run.compare} : undefined
  } catch (error) {
    throw new CliError('USAGE', (error as Error).message, {exit: EXIT.USAGE})
  }
  const db = await openShadowDb(run.db, {create: false})
  let result: CalibrationReport
  try {
    await checkLabelsKnown(db, run.filter.labels).catch((error: Error) => {
      throw new CliError('USAGE', error.message, {exit: EXIT.USAGE})
    })
    const log = await loadReplayLog(db, run.filter).catch((error: Error) => {
      if (/^--(since|until)/.test(error.message)) throw new CliError('USAGE', error.message, {exit: EXIT.USAGE})
      throw error
    })
    const calibrated: CalibrationResult = await calibrateParallel({log, budgets: current.budgets, tenants: current.tenants}, run.options)
    // The new rules (v0.1.26 policies): per-run and per-minute action quotas by replay, and policy denials by rule.
    calibrated.action_quotas = await suggestActionQuotas(db, run.filter)
    calibrated.policy_denials = await policyDenialsByRule(db)
    const extras = {db, log, budgets: current.budgets, tenants: current.tenants, filter: run.filter, options: run.options, result: calibrated, previous, compareWindow: run.compareWindow}
    result = run.format === 'junit' ? calibrated : await calibrationExtras({...extras, curves: run.format === 'html' || run.format === 'json'}).catch((error: Error) => {
      throw error instanceof CompareError ? new CliError('USAGE', error.message, {exit: EXIT.USAGE}) : error
    })
  } finally {
    db.close()
  }
  const gates = evaluateCalibrationGates(result, gateList)
  let text: string
  switch (run.format) {
    case 'json':
      text = renderCalibrationJson(result, gates)
      break
    case 'markdown':
      text = renderCalibrationMarkdown(result, gates, {limit: run.limit ?? 50})
      break
    case 'junit':
      text = renderCalibrationJUnit(result, gates)
      break
    case 'html':
      text = await renderCalibrationHtml(result, gates)
      break
    default:
      text = renderCalibrationText(result, gates, {color: Boolean(run.color) && !run.output, limit: run.limit ?? 50, width: run.width ?? 120})
  }
  if (run.format === 'table' || run.format === 'markdown') text += policyRuleLines(result, run.limit ?? 50, run.format === 'markdown')
  writeOutput(text, run.output)
  let written: number | undefined
  if (run.writeConfig && run.config) {
    const changes = result.budgets
      .filter((b) => b.status === 'calibrated' && b.suggested_allocated !== null)
      .map((b) => ({
        scope: b.scope,
        unit: b.unit,
        allocated: b.suggested_allocated!,
        ...(run.withOverdraft && b.suggested_overdraft_limit !== null ? {overdraft_limit: b.suggested_overdraft_limit} : {}),
      }))
    written = writeConfigFile(run.config, run.writeConfig, changes)
  }
  return {result, gates, text, written}
}
