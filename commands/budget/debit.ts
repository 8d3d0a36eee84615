import {fundCommand} from '../../src/runbook/fund-command.js'

export default fundCommand('DEBIT', 'Take funds away: allocated and remaining -= amount; refused if remaining would go below 0 (asks first)')
