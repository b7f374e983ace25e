/** A problem with the data itself (missing folder, bad image, checksum mismatch), named in the message. */
export class DataError extends Error {
  override name = 'DataError';
}

/** The message of any thrown value. */
export function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
