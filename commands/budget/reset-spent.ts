import {fundCommand} from '../../src/runbook/fund-command.js'

export default fundCommand('RESET_SPENT', 'Start a new period: allocated = amount, spent = --spent (default 0); reserved and debt kept (asks first)')
