/**
 * Fault injection for the kill-and-resume tests: with `BIREAL_KILL_AT=<point>#<n>` the process
 * sends itself SIGKILL the n-th time it reaches the named point (n defaults to 1), as `kill -9`
 * at that moment would. The points are
 * - `eval`: during an evaluation, after its first batch;
 * - `write:<file name>`: while `<file name>` (e.g. `1-binary.ckpt`) is being written atomically,
 *   after its first part is on disk and before the rest.
 *
 * Unset (always, outside tests), a kill point does nothing.
 */
// `evaluate` runs in browsers too, where there is no `process`.
const spec = typeof process === 'undefined' ? '' : (process.env['BIREAL_KILL_AT'] ?? '');
const [target, nth = '1'] = spec.split('#');
let reached = 0;

/** Kills this process here if `BIREAL_KILL_AT` names `point` and this is its n-th arrival. */
export function killPoint(point: string): void {
  if (point === target && ++reached === Number(nth)) process.kill(process.pid, 'SIGKILL');
}
