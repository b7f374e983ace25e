/** A command-line mistake: the CLI prints it with the usage and exits with code 2. */
export class UsageError extends Error {}

/** Parses a positive integer option; throws a {@link UsageError} naming the flag otherwise. */
export function positiveInt(flag: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) {
    throw new UsageError(`--${flag} must be a positive integer, got '${value}'`);
  }
  return n;
}
