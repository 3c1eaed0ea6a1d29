/**
 * The one base class for errors meant for the user. The CLI prints a UserError as the single line
 * `edgesync: <first line of the message>` and exits 1; any other error is a bug and prints its stack
 * (cmd/base-command.ts reportError). So a UserError's message must say what went wrong and how to
 * fix it, in words the user knows (flags, files, commands).
 *
 * This module imports nothing: the agent, notify, the bridge and the browser client (bridge/client)
 * all extend it. Each subclass sets `name` itself, as a string literal, because the browser bundle
 * is minified and `this.constructor.name` would not survive.
 */
export class UserError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "UserError";
  }
}

/** A flag, argument or setting the user gave that cannot work; the message names it and the fix. */
export class UsageError extends UserError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "UsageError";
  }
}
