"""wrk as the load generator: a Lua script per request kind, one run, its figures.

The script checks every answer (status 200, no "errors", the expected field
present) and keeps the first bad one, so a run can say what was wrong.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# Filled in per request kind. The body, headers and expected text are Lua long
# strings: no escaping, whatever the query holds.
SCRIPT = """-- Written by python -m bench.compare; one request kind, every answer checked.
wrk.method = "POST"
wrk.body = [==[{body}]==]
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Accept"] = "application/json"
{auth}
local expect = [==[{expect}]==]
local threads = {{}}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  bad = 0
  first_bad = nil
end

function response(status, headers, body)
  local problem = nil
  if status ~= 200 then
    problem = "HTTP " .. status
  elseif body:find('"errors"', 1, true) then
    problem = "errors in the answer"
  elseif not body:find(expect, 1, true) then
    problem = "no " .. expect .. " in the answer"
  end
  if problem then
    bad = bad + 1
    if first_bad == nil then
      first_bad = problem .. ": " .. body:sub(1, 300)
    end
  end
end

function done(summary, latency, requests)
  local total_bad, first = 0, ""
  for _, thread in ipairs(threads) do
    total_bad = total_bad + (thread:get("bad") or 0)
    if first == "" then
      first = thread:get("first_bad") or ""
    end
  end
  local e = summary.errors
  io.write(string.format(
    "RESULT requests=%d duration_us=%d p50_us=%d p99_us=%d bad=%d"
      .. " connect=%d read=%d write=%d timeout=%d status=%d\\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    total_bad, e.connect, e.read, e.write, e.timeout, e.status))
  io.write("FIRST_BAD " .. first:gsub("\\n", " ") .. "\\n")
end
"""


@dataclass(frozen=True)
class Request:
    """One kind of request: the GraphQL document, its variables, a token, the expected field."""

    name: str
    document: str
    variables: dict[str, Any]
    expect: str
    token: str | None = None

    def body(self) -> str:
        return json.dumps({"query": self.document, "variables": self.variables})


@dataclass(frozen=True)
class WrkResult:
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    bad: int
    socket_errors: dict[str, int]
    first_bad: str

    @property
    def requests_per_second(self) -> float:
        return self.requests / self.seconds if self.seconds > 0 else 0.0

    def problem(self) -> str | None:
        """What was wrong with this run, or None when every answer was good."""
        errors = {kind: n for kind, n in self.socket_errors.items() if n}
        if not self.bad and not errors:
            return None
        parts = [f"{self.bad} bad answers of {self.requests}"] if self.bad else []
        parts += [f"{n} {kind} errors" for kind, n in errors.items()]
        detail = f"; first: {self.first_bad}" if self.first_bad else ""
        return ", ".join(parts) + detail


def write_script(request: Request, folder: Path) -> Path:
    body = request.body()
    if "]==]" in body or "]==]" in request.expect:
        raise ValueError(f"{request.name}: the request text closes a Lua long string")
    auth = f'wrk.headers["Authorization"] = [==[Bearer {request.token}]==]' if request.token else ""
    path = folder / f"{request.name}.lua"
    path.write_text(SCRIPT.format(body=body, auth=auth, expect=f'"{request.expect}"'))
    return path


def available() -> str | None:
    return shutil.which("wrk")


def run(
    script: Path, url: str, connections: int, seconds: float, timeout_s: float = 10.0
) -> WrkResult:
    """One wrk run: one thread, `connections` keep-alive connections, for `seconds`."""
    command = [
        "wrk",
        "-t1",
        f"-c{connections}",
        f"-d{max(1, round(seconds))}s",
        f"--timeout={max(1, round(timeout_s))}s",
        "-s",
        str(script),
        url,
    ]
    done = subprocess.run(command, capture_output=True, text=True, stdin=subprocess.DEVNULL)
    return parse(done.stdout, done.stderr, done.returncode)


def parse(stdout: str, stderr: str = "", returncode: int = 0) -> WrkResult:
    result = next((line for line in stdout.splitlines() if line.startswith("RESULT ")), None)
    if returncode != 0 or result is None:
        raise SystemExit(f"error: wrk failed (status {returncode}):\n{stdout}{stderr}")
    values = dict(field.split("=", 1) for field in result.split()[1:])
    first = next((line for line in stdout.splitlines() if line.startswith("FIRST_BAD ")), "")
    return WrkResult(
        requests=int(values["requests"]),
        seconds=int(values["duration_us"]) / 1e6,
        p50_ms=int(values["p50_us"]) / 1000,
        p99_ms=int(values["p99_us"]) / 1000,
        bad=int(values["bad"]),
        socket_errors={
            kind: int(values[kind]) for kind in ("connect", "read", "write", "timeout", "status")
        },
        first_bad=first.removeprefix("FIRST_BAD ").strip(),
    )
