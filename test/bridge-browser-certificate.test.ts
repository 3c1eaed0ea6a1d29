/**
 * Issue 18: a page whose browser does not trust the bridge's certificate (an edgesync hub's is
 * self-signed) must say so and how to fix it, not just "network 1006". Real Chromium, launched
 * WITHOUT any certificate exception, loads the browser bundle from a real static server and connects
 * to a real bridge in front of a real nats-server; Automerge's wasm loads without the
 * deprecated-initSync warning.
 */
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { existsSync } from "node:fs";
import { resolve } from "node:path";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { chromium, type Browser } from "playwright-core";
import { startBridgeRig, type BridgeRig } from "./helpers/bridge-rig.js";

const CHROMIUM = "/usr/bin/chromium";
const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--no-first-run",
];
const BUNDLE = resolve("dist/bridge/client/edgesync-client.js");
const PAGE_TIMEOUT_MS = 30_000;

describe("the browser client against a certificate the browser does not trust", () => {
  let rig: BridgeRig;
  let browser: Browser;
  let web: Server;

  before(async () => {
    if (!existsSync(CHROMIUM))
      throw new Error(
        `${CHROMIUM} is missing: install Debian's chromium (apt-get install -y chromium; .ci/run does it)`,
      );
    assert.ok(existsSync(BUNDLE), `${BUNDLE} is missing: run npm run build`);
    rig = await startBridgeRig({
      name: "browser-cert",
      peer: "agent",
      actor: "ee".repeat(16),
      keepText: "kept\n",
      isAuthorised: () => true,
    });
    const html = await readFile(resolve("test/helpers/bridge-page.html"), "utf8");
    const bundle = await readFile(BUNDLE);
    web = createServer((req, res) => {
      if (req.url === "/edgesync-client.js") res.writeHead(200, { "content-type": "text/javascript" }).end(bundle);
      else res.writeHead(200, { "content-type": "text/html" }).end(html);
    });
    await new Promise<void>((r) => web.listen(0, "127.0.0.1", () => r()));
    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
  });

  after(async () => {
    await browser?.close();
    await new Promise<void>((r) => (web ? web.close(() => r()) : r()));
    await rig?.stop();
  });

  it("says that the certificate is probably not trusted and how to fix it, and logs no deprecation warning", async () => {
    const page = await browser.newPage();
    const consoleLines: string[] = [];
    page.on("console", (m) => consoleLines.push(`${m.type()}: ${m.text()}`));
    page.on("pageerror", (e) => consoleLines.push(`pageerror: ${String(e)}`));
    await page.goto(`http://127.0.0.1:${(web.address() as AddressInfo).port}/`);
    await page.waitForSelector("body[data-loaded=yes]", { timeout: PAGE_TIMEOUT_MS }).catch((e: Error) => {
      throw new Error(`${e.message}\n${consoleLines.join("\n")}`);
    });
    const outcome = await page.evaluate(async (url) => {
      try {
        await (window as unknown as { edgesync: { connect(u: string): Promise<string> } }).edgesync.connect(url);
        return "connected";
      } catch (error) {
        return `${(error as Error).name}: ${(error as Error).message}`;
      }
    }, `${rig.bridge.origin}/v1/${rig.vaultId}`);
    const host = new URL(rig.bridge.origin).host;
    assert.match(outcome, /^BridgeError: /, outcome);
    assert.ok(outcome.includes(`the browser could not open wss://${host}`), outcome);
    assert.match(outcome, /does not trust its TLS certificate/);
    assert.match(
      outcome,
      /import the hub's tls\.crt as a trusted \*server\* certificate \(it is not a CA: importing it as an authority fails\)/,
    );
    assert.match(outcome, /CA-issued certificate/);
    assert.ok(outcome.includes(`opening https://${host}/ in a tab`), outcome);
    assert.equal(rig.bridge.stats.connections, 0, "the TLS handshake failed before any WebSocket reached the bridge");
    assert.deepEqual(
      consoleLines.filter((line) => /deprecated/i.test(line)),
      [],
      consoleLines.join("\n"),
    );
    await page.close();
  });
});
