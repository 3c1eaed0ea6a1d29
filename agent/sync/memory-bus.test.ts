import { runTransportContract } from "./transport-contract.js";
import { MemoryBus } from "./memory-bus.js";
import { asPeerId } from "./ports.js";

runTransportContract("MemoryBus", async () => {
  const bus = new MemoryBus();
  const [a, b, c] = ["a", "b", "c"].map((id) => bus.transport(asPeerId(id)));
  return { a, b, c, settle: () => new Promise((r) => setImmediate(r)), teardown: async () => {} };
});
