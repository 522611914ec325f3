/**
 * Why a backup or a restore stopped, as a stable code and a message that says what to do next. The
 * command line prints the message; the scheduler logs both.
 */
export type BackupErrorCode =
  /** The backup file is encrypted and no passphrase was given. */
  | 'E_BACKUP_PASSPHRASE_NEEDED'
  /**
   * A passphrase was given but the file is not encrypted: an encrypted backup may have been swapped
   * for a plain one by whoever can write where backups are kept.
   */
  | 'E_BACKUP_NOT_ENCRYPTED'
  /** The passphrase does not open the file (or its header was altered). */
  | 'E_BACKUP_PASSPHRASE_WRONG'
  /** A passphrase too short to protect a file kept off the server. */
  | 'E_BACKUP_PASSPHRASE_WEAK'
  /** Truncated, altered, or not a backup: a checksum or an authentication tag does not match. */
  | 'E_BACKUP_DAMAGED'
  /** Written by a newer ochat-node (a newer file format or a newer database schema). */
  | 'E_BACKUP_TOO_NEW'
  /** The restore's target directory holds files already. */
  | 'E_BACKUP_TARGET_NOT_EMPTY'
  /** The output file exists already. */
  | 'E_BACKUP_OUT_EXISTS'
  /** The output file's directory cannot be created or written to. */
  | 'E_BACKUP_OUT_UNWRITABLE'
  /** No node database where one was expected. */
  | 'E_BACKUP_NO_DATABASE'
  /** An attachment on disk does not match its content address. */
  | 'E_BACKUP_SOURCE_DAMAGED'

export class BackupError extends Error {
  override name = 'BackupError'
  constructor(
    readonly code: BackupErrorCode,
    message: string,
  ) {
    super(message)
  }
}
