/** The inbox page: static HTML and CSS; everything dynamic is built by inbox.js with textContent (never innerHTML). */
export const INBOX_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>edgesync inbox</title>
<style>
  :root { color-scheme: light dark; --fg: #1d2330; --muted: #6b7280; --line: #d9dde5; --bg: #f6f7f9; --card: #fff; --accent: #2f6fde; --urgent: #c62828; --action: #b26a00; }
  @media (prefers-color-scheme: dark) { :root { --fg: #e6e9ef; --muted: #9aa3b2; --line: #2d3340; --bg: #151821; --card: #1d212c; --accent: #6ea1ff; } }
  * { box-sizing: border-box; }
  body { margin: 0; font: 15px/1.45 system-ui, sans-serif; color: var(--fg); background: var(--bg); }
  header { display: flex; justify-content: space-between; align-items: center; padding: 10px 16px; border-bottom: 1px solid var(--line); background: var(--card); }
  header h1 { font-size: 17px; margin: 0; }
  #status { color: var(--muted); font-size: 13px; }
  main { display: grid; grid-template-columns: minmax(180px, 280px) 1fr; height: calc(100vh - 50px); }
  #threads { border-right: 1px solid var(--line); overflow-y: auto; margin: 0; padding: 0; list-style: none; }
  #threads li { padding: 10px 14px; border-bottom: 1px solid var(--line); cursor: pointer; }
  #threads li.selected { background: var(--card); border-left: 3px solid var(--accent); }
  #threads .name { font-weight: 600; }
  #threads .meta { color: var(--muted); font-size: 12px; }
  .badge { display: inline-block; padding: 0 6px; border-radius: 9px; font-size: 11px; font-weight: 600; color: #fff; background: var(--action); margin-left: 6px; }
  #conversation { display: flex; flex-direction: column; min-width: 0; }
  #messages { flex: 1; overflow-y: auto; padding: 14px; }
  .msg { background: var(--card); border: 1px solid var(--line); border-radius: 8px; padding: 10px 12px; margin-bottom: 10px; max-width: 760px; }
  .msg.urgent { border-left: 4px solid var(--urgent); }
  .msg.action_required { border-left: 4px solid var(--action); }
  .msg .head { color: var(--muted); font-size: 12px; margin-bottom: 4px; }
  .msg .prio { font-weight: 700; text-transform: uppercase; font-size: 11px; margin-left: 6px; }
  .msg.urgent .prio { color: var(--urgent); } .msg.action_required .prio { color: var(--action); }
  .msg .body { white-space: pre-wrap; overflow-wrap: anywhere; }
  .msg .actions { margin-top: 8px; display: flex; gap: 6px; flex-wrap: wrap; }
  .msg .answered { margin-top: 6px; color: var(--muted); font-size: 13px; }
  button { font: inherit; padding: 5px 12px; border-radius: 6px; border: 1px solid var(--accent); background: var(--accent); color: #fff; cursor: pointer; }
  button.secondary { background: transparent; color: var(--accent); }
  button:disabled { opacity: .5; cursor: default; }
  #composer { border-top: 1px solid var(--line); padding: 10px 14px; background: var(--card); display: flex; gap: 8px; align-items: flex-end; }
  #composer textarea { flex: 1; font: inherit; min-height: 40px; max-height: 160px; padding: 6px 8px; border-radius: 6px; border: 1px solid var(--line); background: var(--bg); color: var(--fg); }
  #replying { color: var(--muted); font-size: 12px; padding: 4px 14px 0; }
  #pairing { max-width: 420px; margin: 60px auto; background: var(--card); border: 1px solid var(--line); border-radius: 10px; padding: 20px; }
  #pairing input { font: inherit; width: 100%; padding: 8px; margin: 8px 0; border-radius: 6px; border: 1px solid var(--line); background: var(--bg); color: var(--fg); letter-spacing: 1px; }
  #pairing .error { color: var(--urgent); min-height: 1.4em; }
  #error { color: var(--urgent); margin: 0; padding: 0 14px; background: var(--card); }
  #error:empty { display: none; }
  .empty { color: var(--muted); padding: 20px; }
  [hidden] { display: none !important; }
</style>
</head>
<body>
<header><h1>edgesync inbox</h1><span id="status">connecting…</span></header>
<section id="pairing" hidden>
  <h2>Pair this browser</h2>
  <p>On a device running the agent, run <code>edgesync notify pair --name browser</code> and enter the token it prints.</p>
  <form id="pair-form">
    <label for="token">Pairing token</label>
    <input id="token" name="token" autocomplete="off" placeholder="XXXX-XXXX-XXXX" maxlength="20">
    <button id="pair-button" type="submit">Pair</button>
  </form>
  <p class="error" id="pair-error"></p>
</section>
<main id="inbox" hidden>
  <ul id="threads"></ul>
  <section id="conversation">
    <div id="messages"><p class="empty">No messages yet.</p></div>
    <div id="replying" hidden></div>
    <form id="composer">
      <textarea id="reply-body" placeholder="Write a reply…"></textarea>
      <button id="send" type="submit">Send</button>
    </form>
    <p id="error"></p>
  </section>
</main>
<script type="module" src="/inbox.js"></script>
</body>
</html>
`;
