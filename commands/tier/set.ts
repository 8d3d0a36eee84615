import {Args, Flags} from '@oclif/core'

import {CliError, EXIT} from '../../src/cli/errors.js'
import {RunbookCommand} from '../../src/cli/runbook-command.js'
import {ControlClient, describeControl, type ModeName, type TierName} from '../../src/client/control-client.js'
import {RolloutClient} from '../../src/client/rollout-client.js'
import {describePreview, previewEnforce} from '../../src/rollout/status-preview.js'
import {enumValue, yesFlag} from '../../src/cli/flags.js'

export default class TierSet extends RunbookCommand {
  static override description =
    "Set a risk tier's mode (shadow or enforce) and enforce percent at run time, on every daemon instance sharing the store within 1 s. Enforcing needs --reason, shows what it would have denied in the last hour, and asks (--yes in scripts). Audited."
  static override examples = [
    '<%= config.bin %> tier set low enforce --reason "calibrated, CHG-12"',
    '<%= config.bin %> tier set low enforce --percent 10 --reason "ramp" --yes',
    '<%= config.bin %> tier set high shadow --reason "rollback"',
  ]
  static override args = {
    tier: Args.string({description: 'Risk tier: low | medium | high', required: true}),
    mode: Args.string({description: 'Mode: shadow | enforce', required: true}),
  }
  static override flags = {
    reason: Flags.string({description: 'Why (kept in the audit log; required to enforce)'}),
    percent: Flags.integer({description: 'Share of runs enforced in enforce mode (0–100; default: keep the current one)', min: 0, max: 100}),
    yes: yesFlag('Enforce without asking (scripts)'),
  }

  async run(): Promise<void> {
    const {args, flags} = await this.parseRunbook(TierSet)
    const tier = enumValue(['low', 'medium', 'high'] as const, args.tier, 'tier') as TierName
    const mode = enumValue(['shadow', 'enforce'] as const, args.mode, 'mode') as ModeName
    const http = this.admin().http
    let preview: Awaited<ReturnType<typeof previewEnforce>> | undefined
    if (mode === 'enforce') {
      if (!flags.reason) throw new CliError('REASON_REQUIRED', `enforcing tier ${tier} needs --reason (kept in the audit log)`, {exit: EXIT.USAGE, suggestions: [`cycles tier set ${tier} enforce --reason "…"`]})
      const control = await new ControlClient(http).status()
      preview = await previewEnforce(new RolloutClient(http), tier, flags.percent ?? control.enforce_percent[tier])
      for (const line of describePreview(preview)) this.note(line)
      if (control.killswitch.engaged) this.note('the kill switch is engaged: the tier answers in shadow until it is released (`cycles killswitch release` will say so)')
      await this.confirm(`enforce tier ${tier} at ${preview.enforce_percent} % of runs`, flags.yes)
    }
    const control = await new ControlClient(http).setTier(tier, mode, flags.reason, flags.percent, this.actor)
    if (this.jsonMode) this.printJson({...control, ...(preview ? {preview} : {})})
    else for (const line of describeControl(control)) this.out(line)
  }
}
