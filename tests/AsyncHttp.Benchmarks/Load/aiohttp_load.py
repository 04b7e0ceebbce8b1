"""The aiohttp side of the load comparison: the same arguments and the same JSON line as `AsyncHttp.Benchmarks load`.

One aiohttp ClientSession with TCPConnector(limit, limit_per_host); C workers each loop until N requests have been
started (C = N starts every request at once); each GET reads its body to the end. Run with Debian's python3-aiohttp.
"""
import argparse
import asyncio
import json
import resource
import sys
import time

import aiohttp


def cpu_seconds():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def run(session, url, url2, requests, concurrency, expect_bytes, deadline):
    state = {"next": 0, "errors": 0, "first_error": None}

    async def worker():
        while state["next"] < requests:
            i = state["next"]
            state["next"] += 1
            try:
                async with session.get(url2 if url2 and i % 2 == 1 else url) as response:
                    body = await response.read()
                    if response.status != 200:
                        raise RuntimeError(f"Status {response.status}.")
                    if expect_bytes >= 0 and len(body) != expect_bytes:
                        raise RuntimeError(f"Body of {len(body)} bytes, expected {expect_bytes}.")
            except Exception as ex:  # counted, reported once
                state["errors"] += 1
                if state["first_error"] is None:
                    state["first_error"] = f"{type(ex).__name__}: {ex}"

    if requests > 0:
        workers = [worker() for _ in range(min(concurrency, requests))]
        # Bounded in time as well as in count.
        await asyncio.wait_for(asyncio.gather(*workers), timeout=deadline)
    return state["errors"], state["first_error"]


def current_rss_kb():
    """The resident set now (VmRSS), in KiB, as the .NET clients read it before their measured phase."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return None


async def main(args):
    connector = aiohttp.TCPConnector(limit=args.limit, limit_per_host=args.limit_per_host)
    async with aiohttp.ClientSession(connector=connector) as session:
        # Warm-up as the .NET clients do it: at least --warmup requests and --warmup-seconds, at the run's concurrency
        # (a burst's at the limit's). Not measured.
        warm_errors, warm_first = 0, None
        warm_start = time.perf_counter()
        while True:
            errors, first = await run(session, args.url, args.url2, args.warmup,
                                      args.concurrency if args.concurrency <= 1000 else max(args.limit, 1), args.expect_bytes, args.max_seconds)
            warm_errors, warm_first = warm_errors + errors, warm_first or first
            if time.perf_counter() - warm_start >= args.warmup_seconds:
                break
        rss_before = current_rss_kb()
        cpu_before = cpu_seconds()
        start = time.perf_counter()
        errors, first = await run(session, args.url, args.url2, args.requests, args.concurrency, args.expect_bytes,
                                  args.max_seconds)
        seconds = time.perf_counter() - start
        cpu = cpu_seconds() - cpu_before
    line = {
        "client": "aiohttp",
        "workload": args.workload,
        "requests": args.requests,
        "errors": errors + warm_errors,
        "seconds": round(seconds, 4),
        "cpu_seconds": round(cpu, 4),
        # ru_maxrss is in KiB on Linux: the same unit as VmHWM.
        "peak_rss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
        "rss_before_kb": rss_before,
        "allocated_bytes": None,
        "first_error": first or warm_first,
    }
    print(json.dumps(line), flush=True)
    return 0 if errors + warm_errors == 0 else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--client", default="aiohttp")
    parser.add_argument("--workload", required=True)
    parser.add_argument("--url", required=True)
    parser.add_argument("--url2")
    parser.add_argument("--requests", type=int, required=True)
    parser.add_argument("--concurrency", type=int, required=True)
    parser.add_argument("--limit", type=int, required=True)
    parser.add_argument("--limit-per-host", type=int, default=0)
    parser.add_argument("--expect-bytes", type=int, default=-1)
    parser.add_argument("--warmup", type=int)
    parser.add_argument("--warmup-seconds", type=float, default=1.0)
    parser.add_argument("--max-seconds", type=int, default=120)
    parsed = parser.parse_args()
    if parsed.warmup is None:
        parsed.warmup = min(1000, parsed.requests // 10)
    sys.exit(asyncio.run(main(parsed)))
