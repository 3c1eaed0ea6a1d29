/**
 * The web inbox of a real agent (`edgesync sync start --inbox`) in a real headless Chromium (Debian's,
 * driven by playwright-core; never downloaded): the page pairs with a token from `notify pair`, shows a
 * question that `notify ask` sent from another device, and a click on one of its action buttons ends
 * that waiting ask with the action's id; unpairing it from the CLI closes the open page's inbox.
 */
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { mkdir } from "node:fs/promises";
import { resolve } from "node:path";
import { chromium, type Browser } from "playwright-core";
import { NotifyAgents, collect } from "./helpers/notify-agents.js";

const CHROMIUM = "/usr/bin/chromium";
const ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--no-first-run",
];

describe("the web inbox of a real agent, in Chromium", () => {
  let net: NotifyAgents;
  let browser: Browser;
  let inboxUrl: string;

  before(async () => {
    if (!existsSync(CHROMIUM))
      throw new Error(
        `${CHROMIUM} is missing: install Debian's chromium (apt-get install -y chromium; .ci/run does it)`,
      );
    net = await NotifyAgents.create("inbox");
    const hub = await net.startHub(["a"], ["--inbox", "127.0.0.1:-1"]);
    inboxUrl = (hub.info as { inboxUrl?: string }).inboxUrl ?? "";
    assert.match(inboxUrl, /^http:\/\/127\.0\.0\.1:\d+\/$/, "agent.json names the inbox");
    await net.startLeaf("a");
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS });
  });

  after(async () => {
    await browser?.close();
    await net?.close();
  });

  it("pairs with a token, shows a question from the CLI, and answers the waiting ask with a click", async () => {
    const page = await browser.newPage({ viewport: { width: 1100, height: 700 } });
    const pageErrors: string[] = [];
    page.on("pageerror", (e) => pageErrors.push(e.message));
    await page.goto(inboxUrl);
    await page.locator("#pairing").waitFor({ state: "visible" });

    const pair = await net.notify("hub", ["pair", "--name", "browser", "--json"]);
    assert.equal(pair.code, 0, pair.stderr);
    const { token, url } = JSON.parse(pair.stdout) as { token: string; url: string };
    assert.ok(url.startsWith(`${inboxUrl}#pair=`), url);
    await page.fill("#token", `${token.slice(0, 4)}-${token.slice(4, 8)}-${token.slice(8).toLowerCase()}`);
    await page.click("#pair-button");
    await page.locator("#inbox").waitFor({ state: "visible", timeout: 15_000 });
    assert.match((await page.textContent("#status")) ?? "", /browser · live/);

    // Asked on the leaf, answered in the hub's inbox.
    const ask = net.spawn("a", [
      "ask",
      "--project",
      "demo",
      "--thread",
      "deploy",
      "--priority",
      "urgent",
      "--action",
      "ship:Ship it",
      "--action",
      "hold:Hold",
      "ship v1.2 to production?",
    ]);
    const answered = collect(ask, 60_000);
    const question = page.locator("article.msg", { hasText: "ship v1.2 to production?" });
    await question.waitFor({ state: "visible", timeout: 20_000 });
    assert.match((await question.getAttribute("class")) ?? "", /urgent/);
    assert.equal(await page.locator("#threads li", { hasText: "demo / deploy" }).count(), 1);
    await mkdir(resolve("test/artifacts"), { recursive: true });
    await page.screenshot({ path: resolve("test/artifacts/notify-inbox.png"), fullPage: true });

    await question.locator('button[data-action="ship"]').click();
    const result = await answered;
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout, "ship\n");
    await page.locator("article.msg .answered", { hasText: "ship" }).waitFor({ timeout: 10_000 });
    const log = await net.logUntil("a", "deploy", "demo", (ms) => ms.length === 2);
    assert.equal(log[1].fromName, "browser");
    assert.equal(log[1].actionResponse, "ship");

    // Unpaired from a CLI on the leaf: the open page loses the inbox at once and asks for a new token.
    const unpair = await net.notify("a", ["unpair", "browser"]);
    assert.equal(unpair.code, 0, unpair.stderr);
    await page.locator("#pairing").waitFor({ state: "visible", timeout: 15_000 });
    assert.equal(await page.textContent("#pair-error"), "This browser was unpaired. Pair it again with a new token.");
    assert.equal(await page.isHidden("#inbox"), true);
    assert.deepEqual(pageErrors, []);
  });
});
