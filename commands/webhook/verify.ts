import {Flags} from '@oclif/core'
import fs from 'node:fs'

import {BaseCommand} from '../../src/cli/base-command.js'
import {signatureMismatch, verifySignature} from '../../src/runbook/webhook-flows.js'

export default class WebhookVerify extends BaseCommand {
  static override description = 'Check a delivery signature: the raw body on stdin, the secret and the X-Cycles-Signature header as flags. Exit 0 valid, 8 invalid, 2 usage'
  static override examples = ["<%= config.bin %> webhook verify --secret \"$WHSEC\" --signature 'sha256=5d41…' < body.json"]
  static override flags = {
    secret: Flags.string({description: 'The subscription signing secret (whsec_…)', env: 'CYCLES_WEBHOOK_SECRET'}),
    signature: Flags.string({description: 'The X-Cycles-Signature header value (sha256=<hex>)'}),
    file: Flags.string({description: 'Read the body from this file instead of stdin'}),
  }

  async run(): Promise<void> {
    const {flags} = await this.parse(WebhookVerify)
    const body = flags.file ? fs.readFileSync(flags.file) : process.stdin.isTTY ? Buffer.alloc(0) : fs.readFileSync(0)
    const result = verifySignature(body, flags.secret, flags.signature)
    if (this.jsonMode) this.printJson(result)
    else process.stdout.write(`${result.valid ? 'valid: the body was signed with this secret' : `INVALID: with this secret the body would be signed ${result.expected}`}\n`)
    if (!result.valid) {
      if (this.jsonMode) process.exitCode = signatureMismatch().exit
      else throw signatureMismatch()
    }
  }
}
