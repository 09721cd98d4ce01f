"""``make bench``: run every benchmark in this folder, one after the other, on this machine."""

from __future__ import annotations

import importlib
import sys

BENCHMARKS = ("message_cost", "tap_to_contactor", "memory_start", "flash", "meter_poll", "smart_cost")


def main() -> int:
    failed = 0
    for name in BENCHMARKS:
        try:
            module = importlib.import_module(f"bench.{name}")
        except ModuleNotFoundError as err:
            print(f"== {name}: not available ({err})")
            continue
        print(f"\n== {name} ==", flush=True)
        try:
            module.main()
        except Exception as err:  # one broken benchmark must not hide the others
            failed += 1
            print(f"{name} failed: {err!r}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
