import { warnIfReadableByOthers } from '../registry/credentials.js'

/** Warns when the rule file holds a literal password (not `${ENV}`) and others can read it. */
export function warnAboutLiteralPasswords(ruleFile: string, registries: string[]): void {
  if (registries.length === 0) return
  warnIfReadableByOthers(
    ruleFile,
    `holds a plain-text password (registries: ${registries.join(', ')}; better: password: "\${ENV_VAR}")`,
  )
}
