import {fundCommand} from '../../src/runbook/fund-command.js'

export default fundCommand('REPAY_DEBT', 'Reduce debt by amount (capped at the debt)')
