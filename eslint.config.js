// Lint rules: typescript-eslint's recommended set, plus the checks that have caught real bugs here.
import js from "@eslint/js";
import tseslint from "typescript-eslint";
import prettierOff from "eslint-config-prettier/flat";

// What the deterministic code (sync core, vault model, dst) may not reach: the disk, the network, NATS.
const nondeterministicModules = ["node:fs*", "node:net", "node:child_process", "fs", "net", "nats", "@nats-io/*"];

// The layers, bottom up: the vault (agent/vault: document model, stores, config, paths) → the sync
// engine (agent/sync) → whatever opens a vault with an engine and talks to peers (agent/local-vault,
// agent/nats, agent/hub-link, the agent, cmd/). A lower layer never imports a higher one, so the model
// and the stores can be tested, reused by the browser client and dst, and changed without dragging the
// engine along; shared types (PeerId, DocStore, BlobStore, blob hashes) live at the bottom for that.
// Only relative imports can climb, so each rule lists the few modules outside its folder it may use.
const climbsOut = (regex, layer, allowed) => ({
  regex,
  message: `${layer} may import only ${allowed} from outside its folder (layer order: see the top of eslint.config.js); move a shared piece down instead`,
});
const vaultBottom = climbsOut(
  "^\\.\\./\\.\\./(?!errors\\.js$|fs/atomic-write\\.js$)",
  "agent/vault",
  "agent/errors.ts and agent/fs/atomic-write.ts",
);
const vaultRoot = climbsOut(
  "^\\.\\./(?!errors\\.js$|fs/atomic-write\\.js$|fs/sync-filter\\.js$)",
  "agent/vault",
  "agent/errors.ts, agent/fs/atomic-write.ts and agent/fs/sync-filter.ts",
);
const syncCore = climbsOut(
  "^\\.\\./(?!vault/(model|store)/|errors\\.js$)",
  "agent/sync",
  "the vault model and stores below it, and agent/errors.ts",
);

// The layers run upwards: agent/ at the bottom; notify/, bridge/ and mcp/ built on it; cmd/ on top,
// where cmd/assemble-agent.ts puts the agent and its parts together. agent/ reaching up would tie the
// sync and NATS code to every feature above it (and make each feature's code load in every agent),
// so agent/ sees those parts only through agent/agent-part.ts. Tests under agent/ keep the rule too.
const upperLayers = {
  regex: "^(\\.\\./)+(notify|bridge|mcp|cmd)/",
  message:
    "agent/ is the lowest layer: take what you need through agent/agent-part.ts and wire it in cmd/assemble-agent.ts",
};

export default tseslint.config(
  { ignores: ["dist/**", "node_modules/**", "bench/**", "test/artifacts/**", "bridge/client/dist/**", ".tmp/**"] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: {
      ecmaVersion: 2023,
      sourceType: "module",
      globals: Object.fromEntries(
        [
          "console",
          "process",
          "Buffer",
          "URL",
          "TextDecoder",
          "TextEncoder",
          "AbortSignal",
          "fetch",
          "setTimeout",
          "clearTimeout",
          "setInterval",
          "clearInterval",
          "setImmediate",
          "queueMicrotask",
          "performance",
          "structuredClone",
        ].map((g) => [g, "readonly"]),
      ),
    },
    rules: {
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
      "@typescript-eslint/no-explicit-any": "error",
      "no-constant-condition": ["error", { checkLoops: false }],
      eqeqeq: ["error", "smart"],
    },
  },
  {
    // agent/ imports nothing from the layers above it (see upperLayers). Flat config does not merge a
    // rule's options, so every later block under agent/ repeats upperLayers in its own list.
    files: ["agent/**/*.ts"],
    rules: { "no-restricted-imports": ["error", { patterns: [upperLayers] }] },
  },
  {
    // The sans-IO sync core and the simulator must stay deterministic: no wall clock, no ambient randomness.
    files: ["agent/sync/**/*.ts", "agent/vault/model/**/*.ts", "dst/**/*.ts"],
    ignores: ["**/*.test.ts", "dst/cli.ts"],
    rules: {
      "no-restricted-globals": ["error", "setTimeout", "setInterval", "setImmediate"],
      "no-restricted-properties": [
        "error",
        { object: "Date", property: "now", message: "inject a Clock" },
        { object: "Math", property: "random", message: "inject a Random" },
      ],
      "no-restricted-imports": ["error", { patterns: [{ group: nondeterministicModules }, upperLayers] }],
    },
  },
  // Layer order (see the comment at the top). Each block repeats the determinism patterns where they
  // apply, because a later block's options for a rule replace an earlier block's, they do not add up.
  {
    files: ["agent/sync/**/*.ts"],
    rules: {
      "no-restricted-imports": ["error", { patterns: [{ group: nondeterministicModules }, syncCore, upperLayers] }],
    },
  },
  {
    files: ["agent/sync/**/*.test.ts"],
    rules: { "no-restricted-imports": ["error", { patterns: [syncCore, upperLayers] }] },
  },
  {
    files: ["agent/vault/model/**/*.ts"],
    rules: {
      "no-restricted-imports": ["error", { patterns: [{ group: nondeterministicModules }, vaultBottom, upperLayers] }],
    },
  },
  {
    files: ["agent/vault/model/**/*.test.ts", "agent/vault/store/**/*.ts"],
    rules: {
      "no-restricted-imports": ["error", { patterns: [{ group: ["nats", "@nats-io/*"] }, vaultBottom, upperLayers] }],
    },
  },
  {
    files: ["agent/vault/*.ts"],
    rules: {
      "no-restricted-imports": ["error", { patterns: [{ group: ["nats", "@nats-io/*"] }, vaultRoot, upperLayers] }],
    },
  },
  {
    // edgesync/client runs in browsers: no Node built-ins, no Node-only packages, no Node globals.
    files: ["bridge/client/**/*.ts", "bridge/automerge-repo/**/*.ts"],
    ignores: ["**/*.test.ts"],
    rules: {
      "no-restricted-globals": ["error", "Buffer", "process", "require", "__dirname"],
      "no-restricted-imports": [
        "error",
        { patterns: ["node:*", "fs", "net", "tls", "crypto", "ws", "@nats-io/*", "../server/*", "../node/*"] },
      ],
    },
  },
  // Last: turns off every stylistic rule that prettier owns (npm run format), so the two never disagree.
  prettierOff,
);
