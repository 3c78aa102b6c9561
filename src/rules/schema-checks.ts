import * as z from 'zod'

// The validators of checks.ts as schema issues, worded one way for every field they check.

/** A validator of checks.ts: undefined when the value is fine, else a one-line reason. */
export type Check = (value: string) => string | undefined

/**
 * Adds the issue of a failed check: `invalid WHAT "value"`, with the reason as `params.detail`
 * (the formatter prints it after the field). `path` leads from the refined value to the field.
 */
export function reportCheck(
  ctx: z.RefinementCtx<unknown>,
  check: Check,
  value: string,
  what: string,
  path?: PropertyKey[],
): void {
  const detail = check(value)
  if (!detail) return
  ctx.addIssue({
    code: 'custom',
    ...(path && { path }),
    message: `invalid ${what} ${JSON.stringify(value)}`,
    params: { detail },
  })
}

/** A string that must pass `check`; `what` names it in the error. */
export const checkedString = (check: Check, what: string) =>
  z.string().superRefine((value, ctx) => reportCheck(ctx, check, value, what))
