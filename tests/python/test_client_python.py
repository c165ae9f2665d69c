"""The Python client (clients/python), installed with pip, against the real extension binary and
the emulator: every call, every error class, the retry on 429/503, and the Powertools provider."""
import http.server
import threading
import unittest

import profile_resolver
from profile_resolver import Client

from emulator_proc import Emulator
from extension_proc import TOKEN, Extension

MODEL = "arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-3-haiku-20240307-v1:0"
PREFIX = "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/"


def seed():
    profiles = [
        {"region": "us-east-1", "name": "acme-chat", "id": "acmechat0001", "model": MODEL,
         "tags": {"tenant": "acme", "app": "chat"}},
        {"region": "us-east-1", "name": "acme-batch", "id": "acmebatch001", "model": MODEL,
         "tags": {"tenant": "acme", "app": "batch"}},
        {"region": "us-east-1", "name": "globex-chat", "id": "globexchat01", "model": MODEL,
         "tags": {"tenant": "globex", "app": "chat"}},
    ]
    return {"profiles": profiles}


class PythonClient(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        # Each process is stopped even when a later step of the set-up fails.
        cls.emu = Emulator()
        cls.addClassCleanup(cls.emu.stop)
        cls.emu.admin("POST", "/seed", seed())
        cls.ext = Extension(cls.emu.url)
        cls.addClassCleanup(cls.ext.stop)
        cls.client = Client(env={"PROFILE_RESOLVER_PORT": str(cls.ext.port), "PROFILE_RESOLVER_TOKEN": TOKEN})
        cls.addClassCleanup(cls.client.close)

    def test_the_package_is_the_installed_one(self):
        self.assertIn("site-packages", profile_resolver.__file__)

    def test_client_with_no_arguments_reads_the_port_and_the_token_in_the_extensions_order(self):
        env = {"PROFILE_RESOLVER_PORT": "1234", "AWS_SESSION_TOKEN": "session",
               "AWS_CONTAINER_AUTHORIZATION_TOKEN": "container"}
        c = Client(env=env)
        self.assertEqual((c._port, c.token), (1234, "session"))
        self.assertEqual(Client(env={**env, "PROFILE_RESOLVER_TOKEN": "own"}).token, "own")
        self.assertEqual(Client(env={"AWS_CONTAINER_AUTHORIZATION_TOKEN": "container"}).token, "container")
        self.assertEqual(Client(env={})._port, 9797)

    def test_resolve_answers_the_one_profile(self):
        answer = self.client.resolve({"tenant": "acme", "app": "chat"})
        self.assertEqual(answer["profile"]["arn"], PREFIX + "acmechat0001")
        self.assertEqual(answer["profile"]["models"], [MODEL])
        self.assertEqual(answer["source"], "tagging-api")

    def test_resolve_all_lists_every_match_sorted_and_an_empty_list_for_none(self):
        arns = [p["arn"] for p in self.client.resolve_all({"tenant": "acme"})["profiles"]]
        self.assertEqual(arns, [PREFIX + "acmebatch001", PREFIX + "acmechat0001"])
        self.assertEqual(self.client.resolve_all({"tenant": "nobody"})["profiles"], [])

    def test_or_values_and_the_get_form(self):
        answer = self.client.resolve({"tenant": ["acme", "initech"], "app": "batch"})
        self.assertEqual(answer["profile"]["arn"], PREFIX + "acmebatch001")
        answer = self.client.resolve_query("tag:tenant=globex&tag:app")
        self.assertEqual(answer["profile"]["arn"], PREFIX + "globexchat01")

    def test_resolve_batch_keeps_each_result_in_place(self):
        results = self.client.resolve_batch([
            {"tags": {"tenant": "globex"}}, {"tags": {"tenant": "nobody"}}, {"tags": {"tenant": "acme"}},
        ])
        self.assertEqual([r["status"] for r in results], [200, 404, 409])
        self.assertEqual(results[0]["profile"]["arn"], PREFIX + "globexchat01")
        self.assertEqual(results[1]["error"]["code"], "NoMatch")

    def test_the_reverse_lookup_gives_the_model_behind_an_arn(self):
        answer = self.client.profile(PREFIX + "globexchat01")
        self.assertEqual(answer["profile"]["models"], [MODEL])
        self.assertEqual(answer["profile"]["tags"], {"tenant": "globex", "app": "chat"})
        self.assertEqual(self.client.profile("acmebatch001", region="us-east-1")["profile"]["name"], "acme-batch")
        with self.assertRaises(profile_resolver.NoMatch):
            self.client.profile(PREFIX + "nosuchprofil")
        with self.assertRaises(profile_resolver.InvalidQuery) as e:
            self.client.profile("not an id")
        self.assertEqual(e.exception.field, "profile")

    def test_every_error_code_maps_to_its_class(self):
        with self.assertRaises(profile_resolver.NoMatch) as e:
            self.client.resolve({"tenant": "nobody"})
        self.assertEqual(e.exception.status, 404)
        with self.assertRaises(profile_resolver.AmbiguousMatch) as e:
            self.client.resolve({"tenant": "acme"})
        self.assertEqual(e.exception.candidates, [PREFIX + "acmebatch001", PREFIX + "acmechat0001"])
        self.assertEqual(e.exception.count, 2)
        with self.assertRaises(profile_resolver.InvalidQuery) as e:
            self.client.resolve({"tenant": "acme"}, match="some")
        self.assertEqual(e.exception.field, "match")
        with self.assertRaises(profile_resolver.InvalidQuery) as e:
            self.client.resolve({"tenant": "acme"}, region="ap-south-1")
        self.assertEqual(e.exception.field, "region")
        with self.assertRaises(profile_resolver.Unauthorized):
            Client(self.ext.url, token="", env={}).resolve({"tenant": "acme"})
        with self.assertRaises(profile_resolver.Forbidden):
            Client(self.ext.url, token="wrong").resolve({"tenant": "acme"})
        with self.assertRaises(profile_resolver.PayloadTooLarge):
            self.client.resolve({"k": "v" * 70_000})
        for cls in (profile_resolver.NoMatch, profile_resolver.UpstreamUnavailable):
            self.assertTrue(issubclass(cls, profile_resolver.ProfileResolverError))

    def test_a_cold_region_with_its_upstream_down_is_upstream_unavailable_naming_the_operation(self):
        self.emu.admin("POST", "/faults", {"operation": "GetResources", "down": True, "regions": ["eu-west-1"]})
        cold = Extension(self.emu.url, regions="eu-west-1", PROFILE_RESOLVER_UPSTREAM_TIMEOUT_MS="500")
        try:
            with self.assertRaises(profile_resolver.UpstreamUnavailable) as e:
                Client(cold.url, token=TOKEN, retries=1).resolve({"tenant": "acme"}, region="eu-west-1")
            self.assertEqual(e.exception.operation, "GetResources")
            self.assertEqual(e.exception.status, 503)
        finally:
            cold.stop()
            self.emu.admin("DELETE", "/faults")

    def test_the_default_timeout_outlasts_the_extensions_wait_for_a_cold_region(self):
        # GetResources hangs past the extension's default upstream timeout (2 s): the cold
        # request waits that long, then answers 503. The client's default must still be there.
        self.emu.admin("POST", "/faults", {"operation": "GetResources", "latencyMs": 4000, "regions": ["eu-west-1"]})
        cold = Extension(self.emu.url, regions="eu-west-1", PROFILE_RESOLVER_UPSTREAM_TIMEOUT_MS="2000")
        try:
            with self.assertRaises(profile_resolver.UpstreamUnavailable) as e:
                Client(cold.url, token=TOKEN, retries=0).resolve({"tenant": "acme"}, region="eu-west-1")
            self.assertEqual(e.exception.operation, "GetResources")
        finally:
            cold.stop()
            self.emu.admin("DELETE", "/faults")

    def test_an_unreachable_extension_is_a_client_error_not_a_hang(self):
        with self.assertRaises(profile_resolver.ProfileResolverError) as e:
            Client("http://127.0.0.1:1", token=TOKEN, timeout=0.5).resolve({"tenant": "acme"})
        self.assertIsNone(e.exception.code)


class ErrorMapping(unittest.TestCase):
    CODES = {"InvalidQuery": 400, "Unauthorized": 401, "Forbidden": 403, "NoMatch": 404, "NotFound": 404,
             "MethodNotAllowed": 405, "RequestTimeout": 408, "AmbiguousMatch": 409, "PayloadTooLarge": 413,
             "TooManyResults": 413, "UriTooLong": 414, "TooManyRequests": 429, "HeadersTooLarge": 431, "UpstreamUnavailable": 503}

    def test_every_code_of_the_contract_has_its_own_class(self):
        from profile_resolver.errors import from_body
        for code, status in self.CODES.items():
            err = from_body(status, {"error": {"code": code, "message": "m"}})
            self.assertIs(type(err), getattr(profile_resolver, code), code)
            self.assertEqual((err.code, err.status, str(err)), (code, status, "m"))
        unknown = from_body(500, {"error": {"code": "SomethingNew", "message": "m"}})
        self.assertIs(type(unknown), profile_resolver.ProfileResolverError)


class Bounded(unittest.TestCase):
    """A region of 120 profiles with a long tag each: one broad query fits, 100 copies do not."""

    @classmethod
    def setUpClass(cls):
        # Each process is stopped even when a later step of the set-up fails.
        cls.emu = Emulator()
        cls.addClassCleanup(cls.emu.stop)
        note = "n" * 250
        cls.emu.admin("POST", "/seed", {"profiles": [
            {"region": "us-east-1", "name": f"wide-{i:03}", "model": MODEL, "tags": {"wide": str(i), "note": note}}
            for i in range(120)]})
        cls.ext = Extension(cls.emu.url)
        cls.addClassCleanup(cls.ext.stop)
        cls.client = Client(env={"PROFILE_RESOLVER_PORT": str(cls.ext.port), "PROFILE_RESOLVER_TOKEN": TOKEN})
        cls.addClassCleanup(cls.client.close)

    def test_a_batch_over_the_answer_limit_is_too_many_results_with_its_count(self):
        self.assertEqual(len(self.client.resolve_all({"wide": []})["profiles"]), 120)
        with self.assertRaises(profile_resolver.TooManyResults) as e:
            self.client.resolve_batch([{"tags": {"wide": []}, "match": "all"}] * 100)
        self.assertEqual((e.exception.status, e.exception.count), (413, 12_000))


class Flaky(http.server.BaseHTTPRequestHandler):
    """Answers 503, then 429, then 200; or always 400."""
    answers = []

    def do_POST(self):
        self.rfile.read(int(self.headers.get("content-length", 0)))
        status, body = Flaky.answers.pop(0) if Flaky.answers else (400, b'{"error":{"code":"InvalidQuery","message":"x"}}')
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


class Retries(unittest.TestCase):
    def setUp(self):
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Flaky)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def tearDown(self):
        self.server.shutdown()
        self.server.server_close()

    def test_429_and_503_are_retried_a_bounded_number_of_times(self):
        ok = b'{"profile":{"arn":"a"},"source":"tagging-api","cache":"hit","ageSeconds":0}'
        Flaky.answers = [(503, b'{"error":{"code":"UpstreamUnavailable","message":"x"}}'),
                         (429, b'{"error":{"code":"TooManyRequests","message":"x"}}'), (200, ok)]
        self.assertEqual(Client(self.url, token="t", retries=2).resolve({"a": "b"})["profile"]["arn"], "a")
        Flaky.answers = [(503, b'{"error":{"code":"UpstreamUnavailable","message":"x"}}')] * 3
        with self.assertRaises(profile_resolver.UpstreamUnavailable):
            Client(self.url, token="t", retries=1).resolve({"a": "b"})
        self.assertEqual(len(Flaky.answers), 1, "one try and one retry, no more")

    def test_other_errors_are_not_retried(self):
        Flaky.answers = [(400, b'{"error":{"code":"InvalidQuery","message":"x","field":"tags"}}'), (200, b"{}")]
        with self.assertRaises(profile_resolver.InvalidQuery):
            Client(self.url, token="t", retries=3).resolve({"a": "b"})
        self.assertEqual(len(Flaky.answers), 1)


class Powertools(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.emu = Emulator()
        cls.emu.admin("POST", "/seed", seed())
        cls.ext = Extension(cls.emu.url)

    @classmethod
    def tearDownClass(cls):
        cls.ext.stop()
        cls.emu.stop()

    def test_the_provider_resolves_a_query_string_and_caches_it_for_max_age(self):
        from aws_lambda_powertools.utilities.parameters.base import BaseProvider
        from profile_resolver.powertools import ProfileResolverProvider
        provider = ProfileResolverProvider(Client(self.ext.url, token=TOKEN))
        self.assertIsInstance(provider, BaseProvider)
        before = self.ext.stats()
        arn = provider.get("tag:tenant=acme&tag:app=chat", max_age=60)
        again = provider.get("tag:tenant=acme&tag:app=chat", max_age=60)
        after = self.ext.stats()
        self.assertEqual((arn, again), (PREFIX + "acmechat0001", PREFIX + "acmechat0001"))
        served = (after["hits"] + after["misses"] + after["staleHits"]) - \
                 (before["hits"] + before["misses"] + before["staleHits"])
        self.assertEqual(served, 1, "the second get came from Powertools' cache")


if __name__ == "__main__":
    unittest.main()
