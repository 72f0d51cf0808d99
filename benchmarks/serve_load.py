"""The load generator of benchmarks/serve_bench.py: none of the servers it measures.

    python serve_load.py --port P --body FILE --content-type TYPE --concurrency C
                         [--path /predict] [--warmup S] [--duration S] [--requests N]
                         [--extra-header 'Name: value'] [--loop asyncio|uvloop] --out FILE

C connections (HTTP/1.1, keep-alive, raw asyncio streams: no HTTP library), each
sending the same POST again as soon as its answer is in: a closed loop at fixed
concurrency. Requests answered during the warm-up are not counted; then it measures
for --duration seconds (or until --requests answers, whichever comes first): every
answer that completes in that window counts, with its latency from the first byte
written to the last byte read. Writes one
JSON document to --out: requests, errors, seconds, req/s, latency percentiles (ms),
the first answer's body (to check that every server answered the same), and the
load average.

Bounded by design: it only talks to 127.0.0.1 (or --host on this machine) and stops by
itself after warm-up + duration (+ the answers in flight).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import time


def percentile(sorted_values: list[float], q: float) -> float:
    """The q-th percentile (0..100) of sorted values, nearest rank."""
    if not sorted_values:
        return float("nan")
    k = max(0, min(len(sorted_values) - 1, round(q / 100 * len(sorted_values) + 0.5) - 1))
    return sorted_values[k]


def summarize(latencies_s: list[float], seconds: float) -> dict:
    ms = sorted(x * 1000 for x in latencies_s)
    return {
        "requests": len(ms),
        "seconds": seconds,
        "rps": len(ms) / seconds if seconds > 0 else 0.0,
        "mean_ms": statistics.fmean(ms) if ms else float("nan"),
        "p50_ms": percentile(ms, 50),
        "p90_ms": percentile(ms, 90),
        "p99_ms": percentile(ms, 99),
        "p999_ms": percentile(ms, 99.9),
        "max_ms": ms[-1] if ms else float("nan"),
    }


class BadAnswer(Exception):
    pass


async def read_answer(reader: asyncio.StreamReader) -> tuple[int, bool, bytes]:
    """(status, keep-alive, body) of one HTTP/1.1 answer."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    headers = {}
    for line in lines[1:]:
        if line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    keep = headers.get("connection", "").lower() != "close"
    if "content-length" in headers:
        body = await reader.readexactly(int(headers["content-length"]))
    elif "chunked" in headers.get("transfer-encoding", "").lower():
        parts = []
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            if size == 0:
                await reader.readuntil(b"\r\n")  # no trailers expected
                break
            parts.append(await reader.readexactly(size))
            await reader.readexactly(2)
        body = b"".join(parts)
    else:
        raise BadAnswer(f"status {status} with neither Content-Length nor chunked body")
    return status, keep, body


def build_request(host: str, port: int, path: str, body: bytes, ctype: str, extra: list[str]):
    head = [
        f"POST {path} HTTP/1.1",
        f"Host: {host}:{port}",
        f"Content-Type: {ctype}",
        f"Content-Length: {len(body)}",
        "Accept: application/json",
        *extra,
    ]
    return ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body


async def run(args: argparse.Namespace) -> dict:
    body = open(args.body, "rb").read()  # noqa: SIM115 - read once
    request = build_request(
        args.host, args.port, args.path, body, args.content_type, args.extra_header
    )
    clock = time.perf_counter
    start = clock()
    measure_from = start + args.warmup
    stop_at = measure_from + args.duration
    latencies: list[float] = []
    errors: dict[str, int] = {}
    first: dict[str, object] = {}
    done = asyncio.Event()

    def error(kind: str) -> None:
        errors[kind] = errors.get(kind, 0) + 1

    async def client() -> None:
        reader = writer = None
        while not done.is_set() and clock() < stop_at:
            try:
                if writer is None:
                    reader, writer = await asyncio.open_connection(args.host, args.port)
                t0 = clock()
                writer.write(request)
                await writer.drain()
                status, keep, answer = await read_answer(reader)
                t1 = clock()
            except (OSError, asyncio.IncompleteReadError, BadAnswer, ValueError) as exc:
                error(type(exc).__name__)
                if writer is not None:
                    writer.close()
                reader = writer = None
                await asyncio.sleep(0.01)
                continue
            if not first:
                first.update(status=status, body=answer[:2000].decode("utf-8", "replace"))
            if status != 200:
                error(f"HTTP {status}")
            elif measure_from <= t1 <= stop_at:  # answered in the window: counted
                latencies.append(t1 - t0)
                if args.requests and len(latencies) >= args.requests:
                    done.set()
            if not keep:
                writer.close()
                reader = writer = None
        if writer is not None:
            writer.close()

    load_start = os.getloadavg()
    await asyncio.gather(*(client() for _ in range(args.concurrency)))
    end = clock()
    seconds = min(end, stop_at) - measure_from
    if args.requests and len(latencies) >= args.requests:
        seconds = max(end - measure_from, 1e-9)
    return {
        **summarize(latencies, seconds),
        "concurrency": args.concurrency,
        "errors": errors,
        "first_answer": first,
        "body_bytes": len(body),
        "loadavg": [load_start[0], os.getloadavg()[0]],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--path", default="/predict")
    parser.add_argument("--body", required=True, help="file holding the request body")
    parser.add_argument("--content-type", default="application/json")
    parser.add_argument("--extra-header", action="append", default=[])
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--warmup", type=float, default=1.0, help="seconds not counted")
    parser.add_argument("--duration", type=float, default=5.0, help="seconds measured")
    parser.add_argument("--requests", type=int, default=0, help="stop after N answers")
    parser.add_argument("--loop", choices=("asyncio", "uvloop"), default="asyncio")
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        parser.error("the load generator only targets this machine's loopback")
    if args.loop == "uvloop":
        import uvloop

        result = uvloop.run(run(args))
    else:
        result = asyncio.run(run(args))
    result["loop"] = args.loop
    with open(args.out, "w") as f:
        json.dump(result, f)


if __name__ == "__main__":
    main()
