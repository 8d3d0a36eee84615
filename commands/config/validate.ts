import {Flags} from '@oclif/core'

import {BaseCommand} from '../../src/cli/base-command.js'
import {EXIT} from '../../src/cli/errors.js'
import {validateConfigFile} from '../../src/config/validate.js'

export default class ConfigValidate extends BaseCommand {
  static override description = `Check a daemon config file without a daemon: every problem with the path of its field (exit ${EXIT.CONFIG}), and warnings for values that will not do what they say`
  static override examples = ['<%= config.bin %> config validate --config cycles.yaml', '<%= config.bin %> config validate --config cycles.yaml --json']
  static override flags = {
    config: Flags.string({description: 'Config file (YAML or JSON)', env: 'CYCLES_CONFIG', default: './cycles.yaml'}),
  }

  async run(): Promise<void> {
    const {flags} = await this.parse(ConfigValidate)
    const result = validateConfigFile(flags.config)
    if (this.jsonMode) this.printJson(result)
    else if (result.valid) {
      const s = result.summary!
      process.stdout.write(`${result.file}: valid — ${s.tenants} tenant(s), ${s.api_keys} API key(s), ${s.budgets} budget(s); tiers ${Object.entries(s.tiers).map(([t, m]) => `${t}=${m}`).join(' ')}\n`)
      for (const w of result.warnings) process.stdout.write(`  warning: ${w.path}: ${w.message}\n`)
    } else {
      process.stderr.write(`${result.file}: invalid (${result.issues.length} problem(s))\n`)
      for (const i of result.issues) process.stderr.write(`  ${i.path}: ${i.message}\n`)
    }
    if (!result.valid) process.exitCode = EXIT.CONFIG
  }
}
