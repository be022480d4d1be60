/**
 * Which system errors of a dial mean "a server is there but busy": its
 * listen backlog is full (EAGAIN, EWOULDBLOCK on Unix) or every instance of
 * its pipe is taken (EBUSY, ERROR_PIPE_BUSY on Windows). Not a refusal and
 * not a missing server: the connector retries these, and `check` reports
 * them as busy rather than down.
 */

const BUSY_ERRNOS: ReadonlySet<string> = new Set(['EAGAIN', 'EWOULDBLOCK', 'EBUSY', 'ERROR_PIPE_BUSY']);

/**
 * Whether a dial failed because the server is busy.
 * @param err - a LocalSocketError (its `cause` is the system error) or anything else
 * @returns true when the system error under `err` is one of the busy errnos
 */
export function isBusyDialError(err: unknown): boolean {
  const code = (err as { cause?: { code?: unknown } } | null | undefined)?.cause?.code;
  return typeof code === 'string' && BUSY_ERRNOS.has(code);
}
