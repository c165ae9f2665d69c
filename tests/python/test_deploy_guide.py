"""The deploy guide's smoke test, run as written against a local stack: the guide's own shell
blocks ("Smoke test" in docs/deploy.md) with the AWS CLI, whose endpoints point at
`cargo lambda watch` (the Lambda Invoke API, with the prebuilt resolver-fn and
snapshot-publisher polling it; a function error answered as Lambda does, see `InvokeApi`), the emulator (Bedrock and
tagging) and moto (S3). Only `$(out NAME)` (the stack's outputs) and the publisher's name are
given here (cargo lambda serves a function by its binary's name), and v2's `--cli-binary-format` flag is dropped for the v1 CLI that PyPI has (same meaning); the
blocks for API Gateway, alarms and logs need a deployed stack and are not run."""
import json
import os
import re
import shutil
import subprocess
import tempfile
import threading
import time
import unittest
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from emulator_proc import ROOT, Emulator, binary, stack_env
from moto_proc import MotoServer, free_port

GUIDE = ROOT / "docs" / "deploy.md"
VENV_BIN = Path(os.environ.get("VIRTUAL_ENV", ROOT / ".venv")) / "bin"
STACK = "local"
BUCKET = "local-snapshots"


class InvokeApi(BaseHTTPRequestHandler):
    """Lambda's Invoke API in front of `cargo lambda watch`: watch answers a function error with
    500 and the error's JSON; Lambda answers 200 with `X-Amz-Function-Error: Unhandled` and the
    same body, which is what the guide's commands expect. Everything else passes through."""
    upstream = ""

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("content-length", 0)))
        req = urllib.request.Request(self.upstream + self.path, data=body, method="POST",
                                     headers={"content-type": "application/json"})
        headers = {}
        try:
            with urllib.request.urlopen(req, timeout=60) as resp:
                status, answer = resp.status, resp.read()
        except urllib.error.HTTPError as e:
            status, answer = e.code, e.read()
            try:
                if status == 500 and "errorType" in json.loads(answer):
                    status, headers = 200, {"X-Amz-Function-Error": "Unhandled"}
            except ValueError:
                pass
        self.send_response(status)
        for k, v in {"content-type": "application/json", "X-Amz-Executed-Version": "$LATEST", **headers}.items():
            self.send_header(k, v)
        self.send_header("content-length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *args):
        pass


def smoke_blocks():
    """The ```sh blocks of the guide's "Smoke test" section."""
    text = GUIDE.read_text()
    section = text.split("\n## Smoke test\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```sh\n(.*?)```", section, re.S)


class DeployGuideSmokeTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.moto = MotoServer()
        cls.addClassCleanup(cls.moto.stop)
        cls.emulator = Emulator("--seed", str(ROOT / "demo" / "org.json"))
        cls.addClassCleanup(cls.emulator.stop)
        cls.moto.client("s3").create_bucket(Bucket=BUCKET)
        cls.work = Path(tempfile.mkdtemp(prefix="deploy-guide-"))
        cls.addClassCleanup(shutil.rmtree, cls.work, True)
        port = free_port()
        cls.lambda_url = f"http://127.0.0.1:{port}"
        log = open(cls.work / "watch.log", "wb")
        cls.addClassCleanup(log.close)
        watch = subprocess.Popen([str(VENV_BIN / "cargo-lambda"), "lambda", "watch", "--only-lambda-apis",
                                  "-A", "127.0.0.1", "-P", str(port)], cwd=ROOT, stdout=log, stderr=log,
                                 stdin=subprocess.DEVNULL)
        cls.addClassCleanup(cls.stop, watch)
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(cls.lambda_url + "/.rt/2020-01-01/extension/event/next", timeout=2).close()
                break
            except urllib.error.HTTPError:
                break  # any HTTP answer: the runtime server is up
            except OSError:
                if watch.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError((cls.work / "watch.log").read_text())
                time.sleep(0.1)
        common = stack_env(cls.emulator, cls.moto, PROFILE_RESOLVER_SSM_PREFIX="")
        # cargo lambda serves functions by their binary's name.
        functions = {
            "resolver-fn": {},
            "snapshot-publisher": {"PROFILE_RESOLVER_SNAPSHOT_URL": f"s3://{BUCKET}/profiles/"},
        }
        for name, extra in functions.items():
            exe = name
            env = {**common, **extra, "AWS_LAMBDA_RUNTIME_API": f"http://127.0.0.1:{port}/.rt/{name}",
                   "AWS_LAMBDA_FUNCTION_NAME": name, "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
                   "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256"}
            proc = subprocess.Popen([binary(exe)], env=env, stdout=log, stderr=log, stdin=subprocess.DEVNULL)
            cls.addClassCleanup(cls.stop, proc)
        handler = type("Handler", (InvokeApi,), {"upstream": cls.lambda_url})
        cls.invoke_api = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=cls.invoke_api.serve_forever, daemon=True).start()
        cls.addClassCleanup(cls.invoke_api.server_close)
        cls.addClassCleanup(cls.invoke_api.shutdown)

    @staticmethod
    def stop(proc):
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)

    def run_block(self, block):
        """Runs one of the guide's blocks with bash, the AWS CLI pointed at the local stack."""
        prelude = (f'STACK={STACK}\n'
                   f'out() {{ case "$1" in FunctionArn) echo resolver-fn;; '
                   f'SnapshotUrl) echo s3://{BUCKET}/profiles/;; *) return 1;; esac; }}\n')
        env = {
            "PATH": f"{VENV_BIN}:{os.environ.get('PATH', '/usr/bin:/bin')}",
            "AWS_DEFAULT_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_ENDPOINT_URL_LAMBDA": f"http://127.0.0.1:{self.invoke_api.server_address[1]}",
            "AWS_ENDPOINT_URL_S3": self.moto.url,
            "AWS_PAGER": "",
        }
        # The guide is written for AWS CLI v2; PyPI has v1, which takes `--payload` as raw JSON by
        # default: what v2's `--cli-binary-format raw-in-base64-out` asks for.
        block = block.replace("--cli-binary-format raw-in-base64-out", "")
        # The stack names the publisher STACK-snapshot-publisher; cargo lambda, by its binary.
        block = block.replace('"$STACK-snapshot-publisher"', "snapshot-publisher")
        return subprocess.run(["bash", "-c", prelude + block], cwd=self.work, env=env, capture_output=True,
                              text=True, timeout=120)

    def test_the_guides_direct_invoke_lists_the_regions_profiles(self):
        (block,) = [b for b in smoke_blocks() if '"match": "all"' in b]
        result = self.run_block(block)
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
        answer = (self.work / "answer.json").read_text()
        self.assertRegex(answer, r'^\{"profiles":\[\{"arn":"arn:aws:bedrock:us-east-1:')
        self.assertEqual(answer.count('"arn"'), 28, "every profile of us-east-1 in the seed")
        self.assertIn('"source":"tagging-api"', answer)

    def test_the_guides_resolve_for_unknown_tags_is_a_function_error_named_nomatch(self):
        (block,) = [b for b in smoke_blocks() if "no-such-tenant" in b]
        (self.work / "answer.json").unlink(missing_ok=True)
        result = self.run_block(block)
        self.assertIn('"FunctionError": "Unhandled"', result.stdout, result.stdout + result.stderr)
        self.assertRegex((self.work / "answer.json").read_text(), r'"errorType":\s*"NoMatch"')

    def test_the_guides_manual_publish_writes_the_snapshot_and_its_heartbeat(self):
        (block,) = [b for b in smoke_blocks() if "snapshot-publisher" in b]
        result = self.run_block(block)
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
        self.assertIn('"outcome":"changed"', (self.work / "publish.json").read_text())
        listed = re.findall(r"\S+\.json$", result.stdout, re.M)
        self.assertEqual(sorted(listed), ["us-east-1.heartbeat.json", "us-east-1.json"], result.stdout)


if __name__ == "__main__":
    unittest.main()
