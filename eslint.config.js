// Lint rules: typescript-eslint's recommended set, plus the checks that have caught real bugs here.
import js from "@eslint/js";
import tseslint from "typescript-eslint";

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
      "no-restricted-imports": ["error", { patterns: ["node:fs*", "node:net", "node:child_process", "fs", "net", "nats", "@nats-io/*"] }],
    },
  },
  {
    // edgesync/client runs in browsers: no Node built-ins, no Node-only packages, no Node globals.
    files: ["bridge/client/**/*.ts", "bridge/automerge-repo/**/*.ts"],
    ignores: ["**/*.test.ts"],
    rules: {
      "no-restricted-globals": ["error", "Buffer", "process", "require", "__dirname"],
      "no-restricted-imports": ["error", { patterns: ["node:*", "fs", "net", "tls", "crypto", "ws", "@nats-io/*", "../server/*", "../node/*"] }],
    },
  },
);
