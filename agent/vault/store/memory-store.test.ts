import { MemoryStore } from "./memory-store.js";
import { runStoreContract } from "./store-contract.js";

runStoreContract("memory store", async () => {
  const store = new MemoryStore();
  return {
    store,
    // Memory outlives nothing, so a test's "restart" hands the next engine the same store, as the
    // engine tests do; an append or replace here is one assignment, so a crash cannot split it: the
    // crash came before it.
    restart: async () => store,
    crashTearingAppend: async () => store,
    crashReplacing: async () => store,
    teardown: async () => {},
  };
});
