import {fundCommand} from '../../src/runbook/fund-command.js'

export default fundCommand('RESET', 'Resize the ceiling: allocated = amount; spent, reserved and debt kept (asks first)')
