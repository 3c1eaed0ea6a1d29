/** Notify's typed errors: each is a UserError, which the CLI prints as one line. */
import { UserError } from "../agent/errors.js";

/** Bad user input: oversized body, unknown priority, malformed action spec, missing project… */
export class NotifyInputError extends UserError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "NotifyInputError";
  }
}

/** A pairing token that is unknown, expired, already used, or a device that is not (or no longer) paired. */
export class PairingError extends UserError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "PairingError";
  }
}

/** The notify service refused a request (the message says why). */
export class AuthorizationError extends UserError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "AuthorizationError";
  }
}

/** No notify service answered in time. */
export class TimeoutError extends UserError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "TimeoutError";
  }
}

/** `ask` saw no answer to its question before its deadline. */
export class NoAnswerError extends UserError {
  constructor(
    readonly questionId: string,
    message = `no answer to ${questionId} in time`,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = "NoAnswerError";
  }
}
