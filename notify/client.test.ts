import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { errorFromReply } from "./client.js";
import { AuthorizationError, PairingError } from "./errors.js";
import { UsageError, UserError } from "../agent/errors.js";

describe("errorFromReply", () => {
  it("turns each refusal the service names into that typed error", () => {
    assert.ok(errorFromReply({ name: "PairingError", message: "token expired" }) instanceof PairingError);
    const usage = errorFromReply({ name: "UsageError", message: "unknown notify operation" });
    assert.ok(usage instanceof UsageError);
    assert.equal(usage.message, "unknown notify operation");
  });

  it("turns a refusal with a name it does not know into an AuthorizationError, a UserError the CLI prints in one line", () => {
    for (const name of ["SomethingNewError", "constructor", "__proto__"]) {
      const error = errorFromReply({ name, message: "refused" });
      assert.ok(error instanceof AuthorizationError && error instanceof UserError, name);
    }
  });
});
