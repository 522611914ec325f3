/**
 * Protocol-wide limits. Both servers enforce the same numbers, so a node never sends what the relay
 * refuses; units in names.
 */
export const LIMITS = Object.freeze({
  /** Ciphertext of one envelope, after decoding base64url: 256 KiB. */
  envelopeCiphertextBytes: 256 * 1024,
  /** Envelopes (recipients) in one bulk submit. */
  bulkRecipients: 1000,
  /**
   * One submit request or WebSocket frame: 64 MiB. A bulk send of 1,000 small messages fits easily; a
   * sender with large envelopes splits its bulk send into several submits.
   */
  submitBodyBytes: 64 * 1024 * 1024,
  /** One attachment's plaintext: 100 MB. */
  attachmentBytes: 100 * 1000 * 1000,
  attachmentsPerMessage: 5,
  /** All attachments of one message, plaintext: 500 MB. */
  messageAttachmentBytes: 500 * 1000 * 1000,
  /** Signed requests and webhooks are accepted within ±300 s of the receiver's clock. */
  clockSkewSeconds: 300,
  /** Sanitized HTML body of a message, in UTF-16 code units. */
  messageHtmlChars: 100_000,
  /** Receipts: envelope ids acknowledged by one signed receipt. */
  receiptEnvelopeIds: 1000,
  /** WebSocket flow control: unacknowledged deliveries per socket. */
  socketWindow: 256,
  /** Items in one webhook POST. */
  webhookItems: 50,
  /** Connection request message, in characters. */
  connectionMessageChars: 2000,
})
