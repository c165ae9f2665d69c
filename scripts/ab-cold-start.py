#!/usr/bin/env python3
"""Exec to serving, A/B: two extension binaries started alternately, each timed from spawn to
its first 200 on /health (standalone mode, no Extensions API), against the workspace's debug
emulator with 20 ms per upstream call. Medians and quartiles per binary.

Usage: scripts/ab-cold-start.py BINARY_A BINARY_B [ROUNDS]   (docs/performance.md)
"""
import json, socket, subprocess, sys, time, statistics, urllib.request
from pathlib import Path
bins = sys.argv[1:3]; rounds = int(sys.argv[3]) if len(sys.argv) > 3 else 20
emu = subprocess.Popen([str(Path(__file__).resolve().parents[1] / "target/debug/aws-emulator"), "--listen", "127.0.0.1:0"], stdout=subprocess.PIPE, text=True)
url = emu.stdout.readline().strip().removeprefix("listening on ")
def admin(p, body):
    r = urllib.request.Request(url + "/_emulator" + p, data=json.dumps(body).encode(), method="POST", headers={"content-type": "application/json"})
    urllib.request.urlopen(r, timeout=10).read()
admin("/seed", {"profiles": [{"region": "us-east-1", "name": f"p{i}", "id": f"prof{i:08d}", "model": "arn:aws:bedrock:us-east-1::foundation-model/m", "tags": {"tenant": f"t{i}"}} for i in range(200)]})
admin("/faults", {"operation": "*", "latencyMs": 20})
def free_port():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close(); return p
res = {b: [] for b in bins}
for r in range(rounds):
    for b in (bins if r % 2 == 0 else bins[::-1]):
        port = free_port()
        env = {"PATH": "/usr/bin:/bin", "AWS_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "t", "AWS_SECRET_ACCESS_KEY": "t",
               "AWS_CONFIG_FILE": "/dev/null", "AWS_SHARED_CREDENTIALS_FILE": "/dev/null", "AWS_EC2_METADATA_DISABLED": "true",
               "AWS_ENDPOINT_URL_BEDROCK": url, "AWS_ENDPOINT_URL_RESOURCE_GROUPS_TAGGING_API": url,
               "PROFILE_RESOLVER_PORT": str(port), "PROFILE_RESOLVER_TOKEN": "tok", "PROFILE_RESOLVER_REGIONS": "us-east-1",
               "PROFILE_RESOLVER_SSM_PREFIX": "", "AWS_LAMBDA_LOG_LEVEL": "warn"}
        t0 = time.perf_counter()
        p = subprocess.Popen([b], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        got = None
        for _ in range(200000):
            try:
                s = socket.create_connection(("127.0.0.1", port), timeout=1)
                s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
                if s.recv(64).startswith(b"HTTP/1.1 200"):
                    got = time.perf_counter() - t0
                s.close()
                if got: break
            except OSError:
                pass
            if time.perf_counter() - t0 > 10: break
        p.kill(); p.wait()
        res[b].append(got * 1000 if got else float("nan"))
for b, v in res.items():
    v2 = sorted(v)
    print(f"{b}: median {statistics.median(v2):.2f} ms, min {v2[0]:.2f}, p25 {v2[len(v2)//4]:.2f}, p75 {v2[3*len(v2)//4]:.2f}, max {v2[-1]:.2f} (n={len(v2)})")
emu.kill(); emu.wait()
