/**
 * The web inbox page script (bundled by esbuild for the browser). Holds this browser's key, proves
 * it to the service, pairs with a token when needed, then shows threads and messages live and sends
 * replies and action choices — each signed here, with the same model code the CLI uses.
 */
import * as ed from "@noble/ed25519";
import { sha512 } from "@noble/hashes/sha2.js";
import { base64urlEncode, peerIdFromPublicKey, utf8 } from "../encoding.js";
import { newMessage, NOTIFY_LIMITS, type NotifyMessage, type Signer } from "../model.js";
import { signRequest } from "../rpc.js";
import { parsePairingInput } from "../pair-url.js";
import type { DeviceRecord } from "../devices.js";
import { AUTH_DOMAIN, CLOSE_REVOKED, type ClientFrame, type ServerFrame } from "./protocol.js";
import { loadOrCreateSecretKey } from "./keystore.js";

ed.hashes.sha512 = sha512;

const RECONNECT_MS_MAX = 10_000;
const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const el = <K extends keyof HTMLElementTagNameMap>(tag: K, cls?: string, text?: string) => {
  const node = document.createElement(tag);
  if (cls) node.className = cls;
  if (text !== undefined) node.textContent = text;
  return node;
};

interface State {
  signer: Signer;
  device?: DeviceRecord;
  messages: Map<string, NotifyMessage>;
  selected?: string;
  replyTo?: NotifyMessage;
  ws?: WebSocket;
  ref: number;
  backoffMs: number;
}

const threadKey = (m: { project: string; thread: string }) => `${m.project}\u0000${m.thread}`;

async function main(): Promise<void> {
  const secret = await loadOrCreateSecretKey();
  const peerId = peerIdFromPublicKey(ed.getPublicKey(secret));
  const state: State = {
    signer: { peerId, sign: (bytes) => ed.sign(bytes, secret) },
    messages: new Map(),
    ref: 0,
    backoffMs: 500,
  };
  const link = parsePairingInput(location.hash);
  if (link) $<HTMLInputElement>("token").value = link.token;
  $("pair-form").addEventListener("submit", (event) => {
    event.preventDefault();
    pair(state);
  });
  $("composer").addEventListener("submit", (event) => {
    event.preventDefault();
    sendReply(state);
  });
  connect(state);
}

function status(text: string): void {
  $("status").textContent = text;
}

function connect(state: State): void {
  const ws = new WebSocket(`${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws`);
  state.ws = ws;
  ws.onmessage = (event) => onFrame(state, JSON.parse(String(event.data)) as ServerFrame);
  ws.onopen = () => {
    state.backoffMs = 500;
    status("connected");
  };
  ws.onclose = (event) => {
    status(event.code === CLOSE_REVOKED ? "this browser was unpaired" : "disconnected; reconnecting…");
    setTimeout(() => connect(state), state.backoffMs);
    state.backoffMs = Math.min(state.backoffMs * 2, RECONNECT_MS_MAX);
  };
}

function send(state: State, frame: ClientFrame): void {
  if (state.ws?.readyState === WebSocket.OPEN) state.ws.send(JSON.stringify(frame));
}

function onFrame(state: State, frame: ServerFrame): void {
  switch (frame.t) {
    case "challenge": {
      const sig = state.signer.sign(utf8(AUTH_DOMAIN + frame.nonce));
      return send(state, { t: "auth", from: state.signer.peerId, name: "browser", sig: base64urlEncode(sig) });
    }
    case "unpaired":
      return showPairing(frame.reason ?? "");
    case "revoked":
      state.device = undefined;
      state.messages.clear();
      return showPairing("This browser was unpaired. Pair it again with a new token.");
    case "ready":
      state.device = frame.device;
      state.messages.clear();
      for (const m of frame.messages) state.messages.set(m.id, m);
      $("pairing").hidden = true;
      $("inbox").hidden = false;
      status(`${frame.device.name} · live`);
      return render(state);
    case "message":
      state.messages.set(frame.message.id, frame.message);
      return render(state);
    case "sent":
      $("error").textContent = "";
      return;
    case "error":
      if (!$("pairing").hidden) {
        $("pair-error").textContent = frame.message;
        $<HTMLButtonElement>("pair-button").disabled = false;
      } else $("error").textContent = frame.message;
      return;
  }
}

function showPairing(reason: string): void {
  $("inbox").hidden = true;
  $("pairing").hidden = false;
  $("pair-error").textContent = reason;
  $<HTMLButtonElement>("pair-button").disabled = false;
  status("not paired");
}

function pair(state: State): void {
  const input = $<HTMLInputElement>("token").value;
  const token = parsePairingInput(input)?.token;
  if (!token) {
    $("pair-error").textContent = "Enter the 12-character token printed by `edgesync notify pair`.";
    return;
  }
  $<HTMLButtonElement>("pair-button").disabled = true;
  $("pair-error").textContent = "";
  send(state, { t: "pair", request: signRequest("accept", { token, name: "browser" }, state.signer, Date.now()) });
}

function render(state: State): void {
  const threads = new Map<string, NotifyMessage[]>();
  const answered = new Map<string, NotifyMessage>();
  for (const m of state.messages.values()) {
    const list = threads.get(threadKey(m)) ?? [];
    list.push(m);
    threads.set(threadKey(m), list);
    if (m.replyTo) answered.set(m.replyTo, m);
  }
  for (const list of threads.values()) list.sort((a, b) => a.timestamp - b.timestamp);
  const ordered = [...threads.entries()].sort(
    (a, b) => b[1][b[1].length - 1].timestamp - a[1][a[1].length - 1].timestamp,
  );
  if (!state.selected || !threads.has(state.selected)) state.selected = ordered[0]?.[0];

  const list = $("threads");
  list.replaceChildren(
    ...ordered.map(([key, msgs]) => {
      const last = msgs[msgs.length - 1];
      const open = msgs.filter((m) => m.actions.length > 0 && !answered.has(m.id)).length;
      const li = el("li", key === state.selected ? "selected" : undefined);
      const name = el("div", "name", `${last.project} / ${last.thread}`);
      if (open > 0) name.append(el("span", "badge", String(open)));
      li.append(
        name,
        el(
          "div",
          "meta",
          `${msgs.length} message${msgs.length === 1 ? "" : "s"} · ${new Date(last.timestamp).toLocaleString()}`,
        ),
      );
      li.dataset.thread = `${last.project}/${last.thread}`;
      li.addEventListener("click", () => {
        state.selected = key;
        state.replyTo = undefined;
        render(state);
      });
      return li;
    }),
  );

  const box = $("messages");
  const msgs = state.selected ? (threads.get(state.selected) ?? []) : [];
  if (msgs.length === 0) box.replaceChildren(el("p", "empty", "No messages yet."));
  else box.replaceChildren(...msgs.map((m) => renderMessage(state, m, answered.get(m.id))));
  box.scrollTop = box.scrollHeight;
  const replying = $("replying");
  replying.hidden = !state.replyTo;
  replying.textContent = state.replyTo
    ? `Replying to ${state.replyTo.fromName}: ${state.replyTo.body.slice(0, 80)}`
    : "";
}

function renderMessage(state: State, m: NotifyMessage, answer: NotifyMessage | undefined): HTMLElement {
  const card = el("article", `msg ${m.priority}`);
  card.dataset.id = m.id;
  const head = el("div", "head", `${m.fromName} · ${new Date(m.timestamp).toLocaleString()}`);
  if (m.priority !== "info") head.append(el("span", "prio", m.priority.replace("_", " ")));
  card.append(head);
  const body = m.actionResponse !== undefined ? `chose “${m.body || m.actionResponse}”` : m.body;
  card.append(el("div", "body", body));
  for (const media of m.media ?? []) {
    const a = el("a", undefined, media.name ?? media.url);
    a.href = media.url;
    a.rel = "noopener noreferrer";
    a.target = "_blank";
    card.append(el("div"), a);
  }
  const row = el("div", "actions");
  if (m.actions.length > 0 && !answer) {
    for (const action of m.actions) {
      const button = el("button", undefined, action.label);
      button.type = "button";
      button.dataset.action = action.id;
      button.addEventListener("click", () => {
        row.querySelectorAll("button").forEach((b) => (b.disabled = true));
        submit(state, {
          project: m.project,
          thread: m.thread,
          body: action.label,
          replyTo: m.id,
          actionResponse: action.id,
        });
      });
      row.append(button);
    }
  } else if (answer) {
    card.append(el("div", "answered", `answered by ${answer.fromName}: ${answer.actionResponse ?? answer.body}`));
  }
  if (m.from !== state.signer.peerId) {
    const reply = el("button", "secondary", "Reply");
    reply.type = "button";
    reply.addEventListener("click", () => {
      state.replyTo = m;
      render(state);
      $<HTMLTextAreaElement>("reply-body").focus();
    });
    row.append(reply);
  }
  if (row.childElementCount > 0) card.append(row);
  return card;
}

function sendReply(state: State): void {
  const input = $<HTMLTextAreaElement>("reply-body");
  const text = input.value.trim();
  if (!text || !state.selected) return;
  if (new TextEncoder().encode(text).length > NOTIFY_LIMITS.bodyBytesMax) {
    $("error").textContent = `A message is at most ${NOTIFY_LIMITS.bodyBytesMax} bytes.`;
    return;
  }
  const [project, thread] = state.selected.split("\u0000");
  submit(state, { project, thread, body: text, ...(state.replyTo ? { replyTo: state.replyTo.id } : {}) });
  input.value = "";
  state.replyTo = undefined;
}

function submit(
  state: State,
  draft: { project: string; thread: string; body: string; replyTo?: string; actionResponse?: string },
): void {
  try {
    const message = newMessage(draft, state.signer, state.device?.name ?? "browser", Date.now());
    send(state, { t: "send", ref: ++state.ref, json: JSON.stringify(message) });
  } catch (error) {
    $("error").textContent = (error as Error).message;
  }
}

void main().catch((error: unknown) => {
  status(`failed to start: ${(error as Error).message}`);
});
