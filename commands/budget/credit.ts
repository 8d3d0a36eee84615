import {fundCommand} from '../../src/runbook/fund-command.js'

export default fundCommand('CREDIT', 'Top up a budget: allocated and remaining += amount (both books)')
