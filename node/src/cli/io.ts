/** Where a command reads its environment and writes its answers: the process, or a test. */
export type Io = {
  env: Record<string, string | undefined>
  out(text: string): void
  err(text: string): void
  /** What `mail-inbound` reads the message from. */
  stdin?: AsyncIterable<Buffer | string>
}
