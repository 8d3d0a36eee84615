// Base of the runbook commands: the global backend flags (each with its env var), typed clients,
// confirmation, and output helpers. A command parses flags, calls src/, renders.
import {Flags, type Interfaces} from '@oclif/core'

import {AdminClient} from '../client/admin-client.js'
import {HttpClient} from '../client/http.js'
import {RuntimeClient} from '../client/runtime-client.js'
import {BaseCommand} from './base-command.js'
import {type ConfirmIO, confirmAction} from './confirm.js'
import {CliError, EXIT} from './errors.js'
import {actorFlag, defaultActor, urlFlag} from './flags.js'
import {auditHeaders} from '../client/admin-client.js'

export const DEFAULT_ADMIN_URL = 'http://127.0.0.1:7979'
export const DEFAULT_RUNTIME_URL = 'http://127.0.0.1:7878'

export abstract class RunbookCommand extends BaseCommand {
  static override baseFlags = {
    ...BaseCommand.baseFlags,
    'admin-url': urlFlag({description: 'Admin API base URL', env: 'CYCLES_ADMIN_URL', default: DEFAULT_ADMIN_URL, helpGroup: 'BACKEND'}),
    'admin-key': Flags.string({description: 'Admin API key (X-Admin-API-Key); prefer the env var', env: 'CYCLES_ADMIN_API_KEY', helpGroup: 'BACKEND'}),
    url: urlFlag({description: 'Runtime API base URL', env: 'CYCLES_BASE_URL', default: DEFAULT_RUNTIME_URL, helpGroup: 'BACKEND'}),
    'api-key': Flags.string({description: 'Tenant API key (X-Cycles-API-Key) for runtime calls', env: 'CYCLES_API_KEY', helpGroup: 'BACKEND'}),
    timeout: Flags.integer({description: 'HTTP timeout in seconds', default: 15, min: 1, helpGroup: 'BACKEND'}),
    actor: actorFlag(),
  }

  /** Every parsed flag; `reason` is there for the commands that have one. */
  protected backend!: {'admin-url': string; 'admin-key'?: string; url: string; 'api-key'?: string; timeout: number; actor?: string; reason?: string}

  /** Who makes the change: --actor, CYCLES_ACTOR, or user@host. */
  protected get actor(): string {
    return this.backend.actor ?? defaultActor()
  }

  /** Parse with the base flags kept for the clients. */
  protected async parseRunbook<F extends Record<string, any>, B extends Record<string, any>, A extends Record<string, any>>(cmd: Interfaces.Input<F, B, A>) {
    const parsed = await this.parse(cmd)
    this.backend = parsed.flags as unknown as typeof this.backend
    return parsed
  }

  protected admin(): AdminClient {
    const key = this.backend['admin-key']
    if (!key) {
      throw new CliError('ADMIN_KEY_MISSING', 'no admin key: set CYCLES_ADMIN_API_KEY (or pass --admin-key)', {exit: EXIT.AUTH})
    }
    return new AdminClient(
      new HttpClient({baseUrl: this.backend['admin-url'], headers: {'X-Admin-API-Key': key, ...auditHeaders({actor: this.actor, reason: this.backend.reason})}, timeoutMs: this.backend.timeout * 1000, label: 'admin API', urlHint: '--admin-url / CYCLES_ADMIN_URL', runtimeUrl: this.backend.url}),
    )
  }

  /** Runtime client: the tenant key when given, else the admin key (admin-on-behalf-of). */
  protected runtime(): RuntimeClient {
    const apiKey = this.backend['api-key']
    const adminKey = this.backend['admin-key']
    if (!apiKey && !adminKey) {
      throw new CliError('API_KEY_MISSING', 'no key for the runtime API: set CYCLES_ADMIN_API_KEY (admin-on-behalf-of) or CYCLES_API_KEY', {exit: EXIT.AUTH})
    }
    const headers: Record<string, string> = adminKey ? {'X-Admin-API-Key': adminKey} : {'X-Cycles-API-Key': apiKey!}
    return new RuntimeClient(new HttpClient({baseUrl: this.backend.url, headers, timeoutMs: this.backend.timeout * 1000, label: 'runtime API', urlHint: '--url / CYCLES_BASE_URL'}))
  }

  protected async confirm(action: string, yes: boolean | undefined, io?: ConfirmIO): Promise<void> {
    await confirmAction(action, {yes}, io)
  }

  /** Data line on stdout (human mode). */
  protected out(line = ''): void {
    process.stdout.write(`${line}\n`)
  }
}
