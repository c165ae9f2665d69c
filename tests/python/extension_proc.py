"""Starts the workspace's real cache-extension binary, standalone, against the emulator."""
import json
import os
import socket
import subprocess
import time
import urllib.request

from emulator_proc import binary

TOKEN = "client-test-token"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Extension:
    def __init__(self, emulator_url, regions="us-east-1,eu-west-1", **extra):
        self.port = free_port()
        env = {
            "PATH": os.environ.get("PATH", ""),
            "AWS_REGION": "us-east-1",
            "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_CONFIG_FILE": "/dev/null", "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
            "AWS_EC2_METADATA_DISABLED": "true",
            "AWS_ENDPOINT_URL_BEDROCK": emulator_url,
            "AWS_ENDPOINT_URL_RESOURCE_GROUPS_TAGGING_API": emulator_url,
            "PROFILE_RESOLVER_PORT": str(self.port),
            "PROFILE_RESOLVER_TOKEN": TOKEN,
            "PROFILE_RESOLVER_REGIONS": regions,
            "PROFILE_RESOLVER_SSM_PREFIX": "",
            # A debug binary's first upstream call on a fresh machine pages in the SDK from a cold
            # disk; these suites test the clients and the API, not that disk.
            "PROFILE_RESOLVER_UPSTREAM_TIMEOUT_MS": "10000",
            **extra,
        }
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen([binary("cache-extension")], env=env,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while True:
            try:
                with urllib.request.urlopen(self.url + "/health", timeout=1) as resp:
                    if resp.status == 200:
                        return
            except OSError:
                pass
            if time.monotonic() > deadline or self.proc.poll() is not None:
                self.stop()
                raise RuntimeError("the extension did not come up within 10 s")
            time.sleep(0.02)

    def stats(self):
        req = urllib.request.Request(self.url + "/v1/stats", headers={"X-Profile-Resolver-Token": TOKEN})
        with urllib.request.urlopen(req, timeout=5) as resp:
            return json.load(resp)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=10)
