"""Turns the JSON lines of run-load.sh into the markdown table of docs/benchmarks.md: medians per workload and
client, ratios to raw HttpClient, and the targets of issue 5 checked for ClientSession."""
import json
import statistics
import sys
from collections import defaultdict

CLIENT_NAMES = {
    "raw": "raw HttpClient",
    "session": "ClientSession",
    "factory": "IHttpClientFactory",
    "factory-session": "factory + UseClientSession",
    "flurl": "Flurl 4",
    "aiohttp": "aiohttp",
}


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def main(path, workload_order, client_order):
    runs = defaultdict(list)
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line:
                run = json.loads(line)
                runs[(run["workload"], run["client"])].append(run)

    stats = {}
    for key, rs in runs.items():
        stats[key] = {
            "n": len(rs),
            "rps": median([r["requests"] / r["seconds"] for r in rs]),
            "cpu_us": median([r["cpu_seconds"] * 1e6 / r["requests"] for r in rs]),
            "cpu_range": (min(r["cpu_seconds"] * 1e6 / r["requests"] for r in rs), max(r["cpu_seconds"] * 1e6 / r["requests"] for r in rs)),
            "rps_range": (min(r["requests"] / r["seconds"] for r in rs), max(r["requests"] / r["seconds"] for r in rs)),
            "rss_mb": median([r["peak_rss_kb"] / 1024 for r in rs]),
            "rss_before_mb": median([r["rss_before_kb"] / 1024 if r.get("rss_before_kb") is not None else None for r in rs]),
            "rss_added_mb": median([(r["peak_rss_kb"] - r["rss_before_kb"]) / 1024 if r.get("rss_before_kb") is not None else None for r in rs]),
            "alloc": median([r["allocated_bytes"] / r["requests"] if r.get("allocated_bytes") is not None else None for r in rs]),
            "conns": [(r.get("conn_port1"), r.get("conn_port2"), r.get("accepted")) for r in rs],
            "most_open": max((r.get("most_open") or 0) for r in rs) if any("most_open" in r for r in rs) else None,
            "errors": sum(r["errors"] for r in rs),
            "limit": max((r.get("limit") or 0) for r in rs),
        }

    out = []
    out.append("| workload | client | req/s | × raw | req/s range | CPU µs/req | Δ raw µs | CPU range | peak RSS MB | × raw | alloc B/req | Δ raw B | connections (port 1 / port 2) | errors | runs |")
    out.append("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: |")
    for w in workload_order:
        raw = stats.get((w, "raw"))
        for c in client_order:
            s = stats.get((w, c))
            if s is None:
                continue
            conns = sorted({f"{a}/{b}" if b else f"{a}" for a, b, _ in s["conns"]})
            cells = [
                w, CLIENT_NAMES.get(c, c), f"{s['rps']:,.0f}",
                ratio(s["rps"], raw and raw["rps"]),
                f"{s['rps_range'][0] / 1000:.1f}–{s['rps_range'][1] / 1000:.1f}k",
                f"{s['cpu_us']:.1f}", delta(s["cpu_us"], raw and raw["cpu_us"], "{:+.1f}"),
                f"{s['cpu_range'][0]:.0f}–{s['cpu_range'][1]:.0f}",
                f"{s['rss_mb']:.0f}", ratio(s["rss_mb"], raw and raw["rss_mb"]),
                "–" if s["alloc"] is None else f"{s['alloc']:,.0f}",
                delta(s["alloc"], raw and raw["alloc"], "{:+,.0f}"),
                ", ".join(conns), str(s["errors"]), str(s["n"]),
            ]
            out.append("| " + " | ".join(cells) + " |")

    out.append("")
    out.append("Targets for ClientSession (medians):")
    out.append("")
    out.append("| workload | req/s ≥ 0.97× raw | CPU ≤ raw + 3 µs | alloc ≤ raw + 512 B | ≥ 5× aiohttp req/s | other |")
    out.append("| --- | --- | --- | --- | --- | --- |")
    for w in workload_order:
        s, raw, aio = stats.get((w, "session")), stats.get((w, "raw")), stats.get((w, "aiohttp"))
        if s is None or raw is None:
            continue
        rps_ratio = s["rps"] / raw["rps"]
        cpu_delta = s["cpu_us"] - raw["cpu_us"]
        alloc_delta = None if s["alloc"] is None or raw["alloc"] is None else s["alloc"] - raw["alloc"]
        cells = [
            w,
            verdict(rps_ratio >= 0.97, f"{rps_ratio:.2f}×"),
            verdict(cpu_delta <= 3, f"{cpu_delta:+.1f} µs"),
            "–" if alloc_delta is None else verdict(alloc_delta <= 512, f"{alloc_delta:+,.0f} B"),
            "–" if aio is None else verdict(s["rps"] >= 5 * aio["rps"], f"{s['rps'] / aio['rps']:.1f}×"),
        ]
        other = []
        if w == "burst-100k":
            rss_ratio = s["rss_mb"] / raw["rss_mb"]
            other.append(verdict(rss_ratio <= 0.6, f"peak RSS {rss_ratio:.2f}× raw (target ≤ 0.6×)"))
        if w == "two-hosts":
            per_port = sorted({(a, b) for a, b, _ in s["conns"]})
            exact = all(a is not None and b is not None and a <= 10 and b <= 10 for a, b in per_port)
            other.append(verdict(exact, "connections per port " + ", ".join(f"{a}/{b}" for a, b in per_port) + " (limit 10)"))
        if w == "h2-c64":
            # Issue 15: both on HTTP/2 with multiple connections allowed; nginx allows 128 streams, so 64 callers need one.
            other.append(f"connections opened (nginx accepts, per run): session {', '.join(sorted({str(a) for a, _, _ in s['conns']}))}, raw {', '.join(sorted({str(a) for a, _, _ in raw['conns']}))}")
        cells.append("; ".join(other) or "–")
        out.append("| " + " | ".join(cells) + " |")

    if any(stats.get((w, "factory-session")) and stats.get((w, "factory")) for w in workload_order):
        out.append("")
        out.append("Targets for factory + UseClientSession (issue 16; medians; connections open at once: the most nginx held in any run, sampled every 50 ms, both ports; accepted: the most one run had nginx accept, warm-up included):")
        out.append("")
        out.append("| workload | CPU ≤ plain factory + 3 µs (difference of the medians; per repetition: the median of the differences, and their range) | open at once ≤ Limit | accepted over the run | plain factory: open at once, accepted |")
        out.append("| --- | --- | --- | --- | --- |")
        for w in workload_order:
            s, plain = stats.get((w, "factory-session")), stats.get((w, "factory"))
            if s is None or plain is None:
                continue
            cpu_delta = s["cpu_us"] - plain["cpu_us"]
            most = s["most_open"]
            # The two clients of one repetition run one after the other: their differences show how far the machine
            # moves the medians' difference from one run of the command to the next.
            paired = paired_cpu_differences(runs[(w, "factory-session")], runs[(w, "factory")])
            spread = "" if not paired else f"; per repetition {median(paired):+.1f}, {min(paired):+.1f} to {max(paired):+.1f}"
            cells = [
                w,
                verdict(cpu_delta <= 3, f"{cpu_delta:+.1f} µs{spread}"),
                "–" if most is None or not s["limit"] else verdict(most <= s["limit"], f"{most} for Limit {s['limit']}"),
                "–" if max_connections(s) is None else str(max_connections(s)),
                f"{'–' if plain['most_open'] is None else plain['most_open']}, {'–' if max_connections(plain) is None else max_connections(plain)}",
            ]
            out.append("| " + " | ".join(cells) + " |")

    if "burst-100k" in workload_order and stats.get(("burst-100k", "raw")):
        raw = stats[("burst-100k", "raw")]
        out.append("")
        out.append("burst-100k memory (medians): the RSS before the measured phase (runtime, JIT and the GC's heap after the warm-up), the peak, and what the burst added to it:")
        out.append("")
        out.append("| client | RSS before MB | peak RSS MB | × raw | added by the burst MB | × raw |")
        out.append("| --- | ---: | ---: | ---: | ---: | ---: |")
        for c in client_order:
            s = stats.get(("burst-100k", c))
            if s is None:
                continue
            cells = [
                CLIENT_NAMES.get(c, c),
                "–" if s["rss_before_mb"] is None else f"{s['rss_before_mb']:.0f}",
                f"{s['rss_mb']:.0f}", ratio(s["rss_mb"], raw["rss_mb"]),
                "–" if s["rss_added_mb"] is None else f"{s['rss_added_mb']:.0f}",
                ratio(s["rss_added_mb"], raw["rss_added_mb"]),
            ]
            out.append("| " + " | ".join(cells) + " |")

    print("\n".join(out))


def paired_cpu_differences(runs, baseline_runs):
    """CPU µs per request of each repetition's run minus the baseline client's run of the same repetition."""
    base = {r["rep"]: r["cpu_seconds"] * 1e6 / r["requests"] for r in baseline_runs if "rep" in r}
    return [r["cpu_seconds"] * 1e6 / r["requests"] - base[r["rep"]] for r in runs if r.get("rep") in base]


def max_connections(s):
    counts = [(a or 0) + (b or 0) for a, b, _ in s["conns"] if a is not None]
    return max(counts) if counts else None


def ratio(value, base):
    return "–" if value is None or not base else f"{value / base:.2f}"


def delta(value, base, fmt):
    return "–" if value is None or base is None else fmt.format(value - base)


def verdict(ok, text):
    return f"met ({text})" if ok else f"**missed** ({text})"


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2].split(), sys.argv[3].split())
