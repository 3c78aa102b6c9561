import { accessSync, constants, statSync } from 'node:fs'
import { delimiter, join } from 'node:path'

export const REQUIRED_BINARIES = ['docker-registry', 'htpasswd', 'skopeo'] as const
export const INSTALL_HINT = 'apt-get install -y docker-registry apache2-utils skopeo'

function isExecutable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK)
    return statSync(file).isFile()
  } catch {
    return false
  }
}

export function findMissingBinaries(pathEnv = process.env.PATH ?? ''): string[] {
  const dirs = pathEnv.split(delimiter).filter(Boolean)
  return REQUIRED_BINARIES.filter((bin) => !dirs.some((dir) => isExecutable(join(dir, bin))))
}

// Missing tools must fail the run loudly: a silently skipped integration suite looks green in CI.
export default function setup(): void {
  const missing = findMissingBinaries()
  if (missing.length > 0) {
    throw new Error(
      `integration tests need ${missing.join(', ')} on PATH but could not find ${missing.length === 1 ? 'it' : 'them'}. ` +
        `Fix: ${INSTALL_HINT}`,
    )
  }
}
