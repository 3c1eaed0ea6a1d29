// Lint rules: typescript-eslint's recommended set, plus the checks that have caught real bugs here.
import js from "@eslint/js";
import tseslint from "typescript-eslint";

// The layers run upwards: agent/ at the bottom; notify/, bridge/ and mcp/ built on it; cmd/ on top,
// where cmd/assemble-agent.ts puts the agent and its parts together. agent/ reaching up would tie the
// sync and NATS code to every feature above it (and make each feature's code load in every agent),
// so agent/ sees those parts only through agent/agent-part.ts. Tests under agent/ keep the rule too.
const upperLayers = {
  regex: "^(\\.\\./)+(notify|bridge|mcp|cmd)/",
  message: "agent/ is the lowest layer: take what you need through agent/agent-part.ts and wire it in cmd/assemble-agent.ts",
};

export default tseslint.config(
  { ignores: ["dist/**", "node_modules/**", "bench/**", "test/artifacts/**", "bridge/client/dist/**", ".tmp/**"] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { ecmaVersion: 2023, sourceType: "module", globals: Object.fromEntries(
        ["console", "process", "Buffer", "URL", "TextDecoder", "TextEncoder", "AbortSignal", "fetch", "setTimeout", "clearTimeout",
          "setInterval", "clearInterval", "setImmediate", "queueMicrotask", "performance", "structuredClone"].map((g) => [g, "readonly"]),
      ) },
    rules: {
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
      "@typescript-eslint/no-explicit-any": "error",
      "no-constant-condition": ["error", { checkLoops: false }],
      eqeqeq: ["error", "smart"],
    },
  },
  {
    // agent/ imports nothing from the layers above it (see upperLayers). Flat config does not merge a
    // rule's options, so the determinism block below repeats upperLayers in its own list.
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
      "no-restricted-imports": ["error", { patterns: [{ group: ["node:fs*", "node:net", "node:child_process", "fs", "net", "nats", "@nats-io/*"] }, upperLayers] }],
    },
  },
  {
    // edgesync/client runs in browsers: no Node built-ins, no Node-only packages, no Node globals.
    files: ["bridge/client/**/*.ts"],
    ignores: ["**/*.test.ts"],
    rules: {
      "no-restricted-globals": ["error", "Buffer", "process", "require", "__dirname"],
      "no-restricted-imports": ["error", { patterns: ["node:*", "fs", "net", "tls", "crypto", "ws", "@nats-io/*", "../server/*", "../node/*"] }],
    },
  },
);
