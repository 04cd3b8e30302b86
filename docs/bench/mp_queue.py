"""The tutorial's recommended IPC: multiprocessing.Queue, 4 producers sending
increments to 1 owner of the count. Prints "ops seconds ops/s".

    python mp_queue.py N
"""
import sys
import time
from multiprocessing import Process, Queue

PRODUCERS = 4


def produce(q, n):
    for _ in range(n):
        q.put(1)
    q.put(None)


if __name__ == "__main__":
    per = int(sys.argv[1]) // PRODUCERS
    q = Queue()
    procs = [Process(target=produce, args=(q, per)) for _ in range(PRODUCERS)]
    start = time.perf_counter()
    for p in procs:
        p.start()
    count = done = 0
    while done < PRODUCERS:
        item = q.get()
        if item is None:
            done += 1
        else:
            count += item
    seconds = time.perf_counter() - start
    for p in procs:
        p.join()
    assert count == per * PRODUCERS, "lost messages"
    print(f"{count} {seconds:.6f} {count / seconds:.1f}")
