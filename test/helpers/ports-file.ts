/**
 * nats-server's ports file (`ports_file_dir`), read while the server may still be writing it: a
 * missing or half-written file is "not yet", never an error, so a wait can look again.
 */
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";

export interface ServerPorts {
  nats?: string[];
  cluster?: string[];
  leafnode?: string[];
}

/** The ports the server in `dir` wrote, the file chosen by `pick`; undefined until it is whole. */
export async function readPortsFile(dir: string, pick: (name: string) => boolean): Promise<ServerPorts | undefined> {
  const file = (await readdir(dir)).find((name) => name.endsWith(".ports") && pick(name));
  if (file === undefined) return undefined;
  try {
    return JSON.parse(await readFile(join(dir, file), "utf8")) as ServerPorts;
  } catch {
    return undefined;
  }
}
