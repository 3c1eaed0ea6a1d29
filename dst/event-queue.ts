/** A min-heap of simulator events ordered by (time, seq): ties keep insertion order, so runs replay exactly. */
export interface SimEvent {
  time: number;
  seq: number;
  label: string;
  run: () => Promise<void> | void;
}

export class EventQueue {
  readonly #heap: SimEvent[] = [];
  #seq = 0;

  get size(): number {
    return this.#heap.length;
  }

  push(time: number, label: string, run: SimEvent["run"]): void {
    const event = { time, seq: this.#seq++, label, run };
    const heap = this.#heap;
    heap.push(event);
    let i = heap.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!before(heap[i], heap[parent])) break;
      [heap[i], heap[parent]] = [heap[parent], heap[i]];
      i = parent;
    }
  }

  pop(): SimEvent | undefined {
    const heap = this.#heap;
    if (heap.length === 0) return undefined;
    const top = heap[0];
    const last = heap.pop() as SimEvent;
    if (heap.length > 0) {
      heap[0] = last;
      let i = 0;
      while (true) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < heap.length && before(heap[l], heap[m])) m = l;
        if (r < heap.length && before(heap[r], heap[m])) m = r;
        if (m === i) break;
        [heap[i], heap[m]] = [heap[m], heap[i]];
        i = m;
      }
    }
    return top;
  }

  peekTime(): number | undefined {
    return this.#heap[0]?.time;
  }
}

const before = (a: SimEvent, b: SimEvent) => a.time < b.time || (a.time === b.time && a.seq < b.seq);
