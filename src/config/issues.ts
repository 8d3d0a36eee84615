// One line per zod issue, for config and scenario files: `path: message`.
import type {z} from 'zod'

export function formatIssues(issues: readonly z.core.$ZodIssue[]): string {
  return issues
    .slice(0, 5)
    .map((issue) => {
      const path = issue.path.length > 0 ? issue.path.join('.') : '(top level)'
      if (issue.code === 'unrecognized_keys') return `${path}: unknown field(s) ${issue.keys.join(', ')}`
      return `${path}: ${issue.message}`
    })
    .join(', ')
}
