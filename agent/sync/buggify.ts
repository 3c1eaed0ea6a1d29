/**
 * BUGGIFY fault sites, in the style of FoundationDB: production code asks `buggify("site")` at
 * places where a rare-but-legal event can be forced (a dropped send, a delayed save). Outside the
 * simulator no decider is installed and every site answers false, at the cost of one branch.
 *
 * `plantedBugs` are deliberate defects that dst's own tests switch on to prove the simulator
 * catches them; they are never set in production.
 */
export type BuggifyDecider = (site: string) => boolean;

let decider: BuggifyDecider | undefined;

export function buggify(site: string): boolean {
  return decider !== undefined && decider(site);
}

/** Installed by dst for one simulation run; pass undefined to turn every site off again. */
export function setBuggifyDecider(next: BuggifyDecider | undefined): void {
  decider = next;
}

export const plantedBugs = {
  /** Skip resynchronisation on (re)connect and on announcements that show a difference. */
  noResyncOnReconnect: false,
};
