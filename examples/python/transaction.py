"""The ticket office: buyers in several processes, one ticket left, each buying inside
`with store.transaction() as doc:` — exactly one gets it.

    python examples/python/transaction.py [BUYERS]      (default: 10)
"""

import multiprocessing as mp
import os
import sys
import tempfile

import jlock


def buy(path: str, who: int) -> None:
    with jlock.Store(path).transaction() as doc:
        if doc["tickets"] > 0:
            doc["tickets"] -= 1
            doc["sold_to"].append(who)


def main() -> int:
    buyers = int(sys.argv[1]) if len(sys.argv) > 1 else 10
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "tickets.json")
        store = jlock.Store(path)
        store.set(".", {"tickets": 1, "sold_to": []})
        procs = [mp.Process(target=buy, args=(path, i)) for i in range(buyers)]
        for p in procs:
            p.start()
        for p in procs:
            p.join()
        doc = store.get()
    print(f"sold to {doc['sold_to']}, {doc['tickets']} left")
    return 0 if len(doc["sold_to"]) == 1 else 1


if __name__ == "__main__":
    raise SystemExit(main())
