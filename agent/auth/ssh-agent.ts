/**
 * A minimal ssh-agent client (draft-miller-ssh-agent): list identities (11 → 12) and sign
 * (13 → 14) over the agent's Unix socket, so the device key can stay inside an ssh-agent.
 *
 * Signing through an agent is asynchronous, and the NATS authenticator is synchronous. So an
 * agent-held key never signs at connect time: before connecting, it signs the user JWT
 * (nats-jwt.ts issueUserJwt, which does not depend on the server's nonce) for a fresh ephemeral
 * user key, and that in-memory ephemeral key signs the nonce. Permissions still follow the
 * device key, because they come from the template of the signing key that issued the JWT.
 */
import { connect, type Socket } from "node:net";
import { PublicDeviceKey } from "./identity.js";
import {
  ED25519_KEY_TYPE,
  KeyFormatError,
  publicKeyBlob,
  publicKeyFromBlob,
  sshFingerprint,
  equalBytes,
} from "./openssh-format.js";
import { SshReader, SshWireError, SshWriter } from "./ssh-wire.js";
import { UserError } from "../errors.js";

const SSH_AGENT_FAILURE = 5;
const SSH_AGENTC_REQUEST_IDENTITIES = 11;
const SSH_AGENT_IDENTITIES_ANSWER = 12;
const SSH_AGENTC_SIGN_REQUEST = 13;
const SSH_AGENT_SIGN_RESPONSE = 14;
/** OpenSSH's own bound on one agent message (AGENT_MAX_LEN). */
export const AGENT_MESSAGE_BYTES_MAX = 256 * 1024;
/** Long enough for an agent that asks the user to confirm (ssh-add -c). */
export const AGENT_TIMEOUT_MS = 30_000;
/** More identities than any agent holds; a larger count is a broken answer. */
const AGENT_IDENTITIES_MAX = 1024;

export class SshAgentError extends UserError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "SshAgentError";
  }
}

export interface AgentKey {
  /** The key's SSH wire blob, as the agent lists it (any key type). */
  blob: Uint8Array;
  type: string;
  comment: string;
  /** The 32 bytes of an ssh-ed25519 key; undefined for other types. */
  publicKey?: Uint8Array;
}

export interface SshAgentOptions {
  timeoutMs?: number;
}

export const defaultAgentSocket = (): string | undefined => process.env.SSH_AUTH_SOCK || undefined;

export class SshAgentClient {
  readonly #timeoutMs: number;

  constructor(
    readonly socketPath: string,
    options: SshAgentOptions = {},
  ) {
    this.#timeoutMs = options.timeoutMs ?? AGENT_TIMEOUT_MS;
  }

  /** Every identity the agent holds, in its order. */
  async listIdentities(): Promise<AgentKey[]> {
    const answer = await this.#request(new SshWriter().byte(SSH_AGENTC_REQUEST_IDENTITIES).done());
    return this.#parse("identities answer", () => {
      const r = new SshReader(answer);
      expectType(r.byte(), SSH_AGENT_IDENTITIES_ANSWER, "list its keys");
      const count = r.u32();
      if (count > AGENT_IDENTITIES_MAX) throw new SshAgentError(`the agent claims ${count} keys`);
      const keys: AgentKey[] = [];
      for (let i = 0; i < count; i++) {
        const blob = new Uint8Array(r.bytes());
        const comment = r.string();
        const type = new SshReader(blob).string();
        keys.push({
          blob,
          type,
          comment,
          ...(type === ED25519_KEY_TYPE ? { publicKey: publicKeyFromBlob(blob) } : {}),
        });
      }
      r.end("identities answer");
      return keys;
    });
  }

  /** A raw 64-byte ed25519 signature of `data` by the agent's key `publicKey`. */
  async signEd25519(publicKey: Uint8Array, data: Uint8Array): Promise<Uint8Array> {
    const request = new SshWriter()
      .byte(SSH_AGENTC_SIGN_REQUEST)
      .bytes(publicKeyBlob(publicKey))
      .bytes(data)
      .u32(0)
      .done();
    const answer = await this.#request(request);
    return this.#parse("signature", () => {
      const r = new SshReader(answer);
      expectType(
        r.byte(),
        SSH_AGENT_SIGN_RESPONSE,
        `sign with ${sshFingerprint(publicKey)} (is the key still loaded? ssh-add -l)`,
      );
      const sig = new SshReader(r.bytes());
      r.end("sign response");
      const format = sig.string();
      if (format !== ED25519_KEY_TYPE) throw new SshAgentError(`the agent answered with a ${format} signature`);
      const raw = new Uint8Array(sig.bytes());
      sig.end("signature");
      if (raw.length !== 64) throw new SshAgentError(`an ed25519 signature has 64 bytes, the agent's ${raw.length}`);
      return raw;
    });
  }

  #parse<T>(what: string, parse: () => T): T {
    try {
      return parse();
    } catch (error) {
      if (error instanceof SshWireError || error instanceof KeyFormatError) {
        throw new SshAgentError(`the agent at ${this.socketPath} sent a malformed ${what} (${error.message})`, {
          cause: error,
        });
      }
      throw error;
    }
  }

  /** One request on a fresh connection: agents serve many, and nothing is left open between uses. */
  #request(body: Uint8Array): Promise<Uint8Array> {
    return new Promise((resolve, reject) => {
      const socket: Socket = connect(this.socketPath);
      let buffered = Buffer.alloc(0);
      const finish = (error: Error | undefined, answer?: Uint8Array) => {
        socket.destroy();
        if (error) reject(error);
        else resolve(answer as Uint8Array);
      };
      socket.setTimeout(this.#timeoutMs, () =>
        finish(new SshAgentError(`the agent at ${this.socketPath} did not answer within ${this.#timeoutMs} ms`)),
      );
      socket.once("error", (error: NodeJS.ErrnoException) =>
        finish(
          new SshAgentError(
            `cannot reach the ssh-agent at ${this.socketPath} (${error.code ?? error.message}); is it running and SSH_AUTH_SOCK right?`,
            { cause: error },
          ),
        ),
      );
      socket.once("close", () =>
        finish(new SshAgentError(`the agent at ${this.socketPath} closed the connection without answering`)),
      );
      socket.on("data", (chunk: Buffer) => {
        buffered = Buffer.concat([buffered, chunk]);
        if (buffered.length < 4) return;
        const length = buffered.readUInt32BE(0);
        if (length === 0 || length > AGENT_MESSAGE_BYTES_MAX)
          return finish(
            new SshAgentError(
              `the agent at ${this.socketPath} sent a ${length}-byte message (limit ${AGENT_MESSAGE_BYTES_MAX})`,
            ),
          );
        if (buffered.length < 4 + length) return;
        if (buffered.length > 4 + length)
          return finish(new SshAgentError(`the agent at ${this.socketPath} sent more than one answer`));
        finish(undefined, new Uint8Array(buffered.subarray(4)));
      });
      socket.write(new SshWriter().bytes(body).done());
    });
  }
}

function expectType(got: number, want: number, action: string): void {
  if (got === want) return;
  if (got === SSH_AGENT_FAILURE) throw new SshAgentError(`the ssh-agent refused to ${action}`);
  throw new SshAgentError(`the ssh-agent answered message type ${got} where ${want} was expected`);
}

/**
 * The device key held by an ssh-agent. `sign` is asynchronous (a socket round trip, perhaps a
 * user confirmation); each signature is verified before it is returned, so a confused agent
 * cannot hand back a signature by another key.
 */
export class AgentIdentity extends PublicDeviceKey {
  private constructor(
    readonly agent: SshAgentClient,
    publicKey: Uint8Array,
    comment: string,
  ) {
    super(publicKey, comment);
  }

  /**
   * Picks the agent's ed25519 key: the one matching `select` (a `SHA256:` fingerprint or the
   * 32 key bytes), or the only one it holds. Several without a choice is an error that lists them.
   */
  static async open(
    socketPath: string,
    select?: string | Uint8Array,
    options: SshAgentOptions = {},
  ): Promise<AgentIdentity> {
    const agent = new SshAgentClient(socketPath, options);
    const keys = (await agent.listIdentities()).filter(
      (k): k is AgentKey & { publicKey: Uint8Array } => k.publicKey !== undefined,
    );
    const matching =
      select === undefined
        ? keys
        : keys.filter((k) =>
            typeof select === "string" ? sshFingerprint(k.publicKey) === select : equalBytes(k.publicKey, select),
          );
    if (matching.length === 1) return new AgentIdentity(agent, matching[0].publicKey, matching[0].comment);
    if (keys.length === 0)
      throw new SshAgentError(
        `the ssh-agent at ${socketPath} holds no ed25519 key; add one with \`ssh-add ~/.edgesync/id_ed25519\``,
      );
    const listed = keys.map((k) => `${sshFingerprint(k.publicKey)} ${k.comment}`).join(", ");
    if (matching.length === 0)
      throw new SshAgentError(
        `the ssh-agent at ${socketPath} does not hold the key ${typeof select === "string" ? select : sshFingerprint(select!)} (it holds: ${listed})`,
      );
    throw new SshAgentError(
      `the ssh-agent at ${socketPath} holds ${keys.length} ed25519 keys (${listed}); choose one by its fingerprint`,
    );
  }

  async sign(message: Uint8Array): Promise<Uint8Array> {
    const signature = await this.agent.signEd25519(this.publicKey, message);
    if (!this.verify(signature, message))
      throw new SshAgentError(`the ssh-agent returned a signature that ${this.fingerprint} does not verify`);
    return signature;
  }
}
