import { expect } from 'vitest'
import { ImgsyncError } from '../../src/errors.js'

/** The ImgsyncError a promise rejects with; fails the test when it resolves or rejects otherwise. */
export async function rejection(p: Promise<unknown>): Promise<ImgsyncError> {
  try {
    await p
  } catch (err) {
    expect(err).toBeInstanceOf(ImgsyncError)
    return err as ImgsyncError
  }
  throw new Error('expected a rejection')
}

/** The ImgsyncError `fn` throws; fails the test when it returns or throws something else. */
export function thrown(fn: () => unknown, what = 'a throw'): ImgsyncError {
  try {
    fn()
  } catch (err) {
    expect(err).toBeInstanceOf(ImgsyncError)
    return err as ImgsyncError
  }
  throw new Error(`expected ${what}`)
}
