"""The Python client (clients/python), installed with pip, against the real extension binary and
the emulator: every call, every error class, the retry on 429/503, and the Powertools provider."""
import http.server
import importlib.metadata
import os
import subprocess
import sys
import tempfile
import threading
import time
import typing
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


def closing(test, client):
    """``client``, closed when ``test`` ends: its kept-alive connections are not left to the
    garbage collector."""
    test.addCleanup(client.close)
    return client


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
        # What pricing tables are keyed by: the plain model id.
        self.assertEqual(answer["profile"]["modelIds"], ["anthropic.claude-3-haiku-20240307-v1:0"])
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
            closing(self, Client(self.ext.url, token="", env={})).resolve({"tenant": "acme"})
        with self.assertRaises(profile_resolver.Forbidden):
            closing(self, Client(self.ext.url, token="wrong")).resolve({"tenant": "acme"})
        with self.assertRaises(profile_resolver.PayloadTooLarge):
            self.client.resolve({"k": "v" * 70_000})
        for cls in (profile_resolver.NoMatch, profile_resolver.UpstreamUnavailable):
            self.assertTrue(issubclass(cls, profile_resolver.ProfileResolverError))

    def test_a_cold_region_with_its_upstream_down_is_upstream_unavailable_naming_the_operation(self):
        self.emu.admin("POST", "/faults", {"operation": "GetResources", "down": True, "regions": ["eu-west-1"]})
        cold = Extension(self.emu.url, regions="eu-west-1", PROFILE_RESOLVER_UPSTREAM_TIMEOUT_MS="500")
        try:
            with self.assertRaises(profile_resolver.UpstreamUnavailable) as e:
                closing(self, Client(cold.url, token=TOKEN, retries=1)).resolve({"tenant": "acme"}, region="eu-west-1")
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
                closing(self, Client(cold.url, token=TOKEN, retries=0)).resolve({"tenant": "acme"}, region="eu-west-1")
            self.assertEqual(e.exception.operation, "GetResources")
        finally:
            cold.stop()
            self.emu.admin("DELETE", "/faults")

    def test_an_unreachable_extension_is_a_client_error_not_a_hang(self):
        with self.assertRaises(profile_resolver.ProfileResolverError) as e:
            Client("http://127.0.0.1:1", token=TOKEN, timeout=0.5).resolve({"tenant": "acme"})
        self.assertIsNone(e.exception.code)


    def test_every_answer_has_the_keys_its_type_declares(self):
        one = self.client.resolve({"tenant": "acme", "app": "chat"})
        assert_shape(self, one, profile_resolver.OneAnswer)
        assert_shape(self, one["profile"], profile_resolver.Profile)
        self.assertIn(one["source"], typing.get_args(profile_resolver.Source))
        self.assertIn(one["cache"], typing.get_args(profile_resolver.CacheState))
        every = self.client.resolve_all({"tenant": "acme"})
        assert_shape(self, every, profile_resolver.AllAnswer)
        for p in every["profiles"]:
            assert_shape(self, p, profile_resolver.Profile)
        assert_shape(self, self.client.resolve_query("tag:tenant=globex"), profile_resolver.QueryAnswer)
        assert_shape(self, self.client.resolve_query("tag:tenant=acme&match=all"), profile_resolver.QueryAnswer)
        reverse = self.client.profile(PREFIX + "globexchat01")
        assert_shape(self, reverse, profile_resolver.OneAnswer)
        assert_shape(self, reverse["profile"], profile_resolver.Profile)
        results = self.client.resolve_batch([{"tags": {"tenant": "globex"}}, {"tags": {"tenant": "acme"}},
                                             {"tags": {"tenant": "acme"}, "match": "all"}])
        self.assertEqual([r["status"] for r in results], [200, 409, 200])
        for r in results:
            assert_shape(self, r, profile_resolver.BatchResult)
        assert_shape(self, results[0]["profile"], profile_resolver.Profile)
        assert_shape(self, results[1]["error"], profile_resolver.ErrorDetail)
        with self.assertRaises(profile_resolver.AmbiguousMatch) as e:
            self.client.resolve({"tenant": "acme"})
        assert_shape(self, e.exception.body, profile_resolver.ErrorDetail)

    def test_health_reports_each_allowed_region_in_its_declared_shape(self):
        health = self.client.health()
        assert_shape(self, health, profile_resolver.Health)
        self.assertEqual(health["status"], "ok")
        self.assertEqual(sorted(health["regions"]), ["eu-west-1", "us-east-1"])
        for region in health["regions"].values():
            assert_shape(self, region, profile_resolver.RegionHealth)
            self.assertIn(region["state"], typing.get_args(profile_resolver.RegionState))
        self.assertTrue(health["regions"]["us-east-1"]["ready"])


def assert_shape(test, value, typed_dict):
    """``value`` holds every key ``typed_dict`` requires and no key it does not declare."""
    test.assertIsInstance(value, dict)
    keys = set(value)
    test.assertLessEqual(set(typed_dict.__required_keys__), keys, f"{typed_dict.__name__}: missing keys")
    declared = set(typed_dict.__required_keys__) | set(typed_dict.__optional_keys__)
    test.assertLessEqual(keys, declared, f"{typed_dict.__name__}: undeclared keys")


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
        self.assertEqual(closing(self, Client(self.url, token="t", retries=2)).resolve({"a": "b"})["profile"]["arn"], "a")
        Flaky.answers = [(503, b'{"error":{"code":"UpstreamUnavailable","message":"x"}}')] * 3
        with self.assertRaises(profile_resolver.UpstreamUnavailable):
            closing(self, Client(self.url, token="t", retries=1)).resolve({"a": "b"})
        self.assertEqual(len(Flaky.answers), 1, "one try and one retry, no more")

    def test_other_errors_are_not_retried(self):
        Flaky.answers = [(400, b'{"error":{"code":"InvalidQuery","message":"x","field":"tags"}}'), (200, b"{}")]
        with self.assertRaises(profile_resolver.InvalidQuery):
            closing(self, Client(self.url, token="t", retries=3)).resolve({"a": "b"})
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
        provider = ProfileResolverProvider(closing(self, Client(self.ext.url, token=TOKEN)))
        self.assertIsInstance(provider, BaseProvider)
        before = self.ext.stats()
        arn = provider.get("tag:tenant=acme&tag:app=chat", max_age=60)
        again = provider.get("tag:tenant=acme&tag:app=chat", max_age=60)
        after = self.ext.stats()
        self.assertEqual((arn, again), (PREFIX + "acmechat0001", PREFIX + "acmechat0001"))
        served = (after["hits"] + after["misses"] + after["staleHits"]) - \
                 (before["hits"] + before["misses"] + before["staleHits"])
        self.assertEqual(served, 1, "the second get came from Powertools' cache")

    def test_the_resolvers_own_errors_come_through_the_provider_unwrapped_and_uncached(self):
        from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError
        from profile_resolver.powertools import ProfileResolverProvider
        provider = ProfileResolverProvider(closing(self, Client(self.ext.url, token=TOKEN)))
        with self.assertRaises(profile_resolver.NoMatch) as e:
            provider.get("tag:tenant=nobody", max_age=60)
        self.assertNotIsInstance(e.exception, GetParameterError)
        self.assertEqual(e.exception.status, 404)
        with self.assertRaises(profile_resolver.AmbiguousMatch) as e:
            provider.get("tag:tenant=acme", max_age=60)
        self.assertEqual(e.exception.candidates, [PREFIX + "acmebatch001", PREFIX + "acmechat0001"])
        with self.assertRaises(profile_resolver.InvalidQuery) as e:
            provider.get("tag:tenant=acme&match=some", max_age=60)
        self.assertEqual(e.exception.field, "match")
        unreachable = ProfileResolverProvider(closing(self, Client("http://127.0.0.1:1", token=TOKEN, timeout=0.5)))
        with self.assertRaises(profile_resolver.ProfileResolverError) as e:
            unreachable.get("tag:tenant=acme")
        self.assertIsNone(e.exception.code)
        # An answer that is not a profile's (match=all) stays Powertools' error.
        with self.assertRaises(GetParameterError):
            provider.get("tag:tenant=acme&match=all", max_age=60)

    def test_max_age_0_asks_the_extension_every_time(self):
        from profile_resolver.powertools import ProfileResolverProvider
        provider = ProfileResolverProvider(closing(self, Client(self.ext.url, token=TOKEN)))
        before = served(self.ext.stats())
        arns = [provider.get("tag:tenant=globex", max_age=0) for _ in range(3)]
        self.assertEqual(arns, [PREFIX + "globexchat01"] * 3)
        self.assertEqual(served(self.ext.stats()) - before, 3, "max_age=0 keeps no second cache")


def served(stats):
    """How many resolves the extension has answered from a snapshot."""
    return stats["hits"] + stats["misses"] + stats["staleHits"]


#: Threads that share one client in the concurrency tests, and the longest each waits for the
#: others; every wait and join below is bounded by it.
THREADS = 8
WAIT = 10.0


class Held(Client):
    """A client that counts its requests in flight and holds each one, once sent and before its
    answer is read, until ``parties`` requests are in flight together (at most ``WAIT`` s).

    A client that serialised its threads (one lock over every request) never has two requests
    in flight: the barrier breaks after ``WAIT`` and every held request fails with
    ``BrokenBarrierError``, so a test using it cannot pass by chance.
    """

    def __init__(self, *args, parties, **kwargs):
        super().__init__(*args, **kwargs)
        self.barrier = threading.Barrier(parties, timeout=WAIT)
        self.lock = threading.Lock()
        self.in_flight = 0
        self.most_in_flight = 0
        self.sockets = set()

    def _exchange(self, conn, *args):
        read_answer = conn.getresponse
        entered = []

        def held():
            with self.lock:
                self.in_flight += 1
                self.most_in_flight = max(self.most_in_flight, self.in_flight)
                self.sockets.add(conn.sock.getsockname())
            entered.append(True)
            self.barrier.wait()
            return read_answer()

        conn.getresponse = held
        try:
            return super()._exchange(conn, *args)
        finally:
            del conn.getresponse
            if entered:
                with self.lock:
                    self.in_flight -= 1


def in_threads(count, work):
    """Runs ``work(i)`` in ``count`` threads at once: the results in order, the errors, and the
    threads still running after the bounded wait (none, when all went well)."""
    results, errors = [None] * count, []

    def run(i):
        try:
            results[i] = work(i)
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(count)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 3 * WAIT
    for t in threads:
        t.join(max(0.0, deadline - time.monotonic()))
    return results, errors, [t for t in threads if t.is_alive()]


class Concurrency(unittest.TestCase):
    """Threads sharing one client against the real extension: N threads, N requests at once."""

    @classmethod
    def setUpClass(cls):
        cls.emu = Emulator()
        cls.addClassCleanup(cls.emu.stop)
        cls.emu.admin("POST", "/seed", seed())
        cls.ext = Extension(cls.emu.url)
        cls.addClassCleanup(cls.ext.stop)

    def test_threads_sharing_a_client_have_their_requests_in_flight_at_once(self):
        client = closing(self, Held(self.ext.url, token=TOKEN, parties=THREADS))
        before = served(self.ext.stats())
        results, errors, running = in_threads(THREADS, lambda i: client.resolve({"tenant": "acme", "app": "chat"}))
        self.assertEqual((running, errors), ([], []))
        self.assertEqual(client.most_in_flight, THREADS)
        self.assertEqual(len(client.sockets), THREADS, "one connection per request in flight")
        self.assertEqual({r["profile"]["arn"] for r in results}, {PREFIX + "acmechat0001"})
        self.assertEqual(served(self.ext.stats()) - before, THREADS)

    def test_one_thread_reuses_its_kept_alive_connection(self):
        client = closing(self, Held(self.ext.url, token=TOKEN, parties=1))
        for _ in range(3):
            self.assertEqual(client.resolve({"tenant": "globex"})["profile"]["arn"], PREFIX + "globexchat01")
        self.assertEqual(client.most_in_flight, 1)
        self.assertEqual(len(client.sockets), 1)

    def test_the_pool_keeps_at_most_max_idle_connections_and_close_empties_it(self):
        client = closing(self, Held(self.ext.url, token=TOKEN, parties=THREADS, max_idle_connections=3))
        _, errors, running = in_threads(THREADS, lambda i: client.resolve({"tenant": "globex"}))
        self.assertEqual((running, errors), ([], []))
        self.assertEqual(len(client._pool._idle), 3)
        client.close()
        self.assertEqual(client._pool._idle, [])
        client.barrier = threading.Barrier(1)
        self.assertEqual(client.resolve({"tenant": "globex"})["profile"]["arn"], PREFIX + "globexchat01")


class Gate(http.server.BaseHTTPRequestHandler):
    """Answers each resolve only once ``Gate.barrier``'s parties are all waiting, i.e. once that
    many requests have reached the server together; 500 if they do not within the timeout."""

    protocol_version = "HTTP/1.1"
    barrier = None

    def do_POST(self):
        self.rfile.read(int(self.headers.get("content-length", 0)))
        try:
            type(self).barrier.wait()
            status, body = 200, b'{"profile":{"arn":"a","region":"r","accountId":"1","tags":{}},' \
                                b'"source":"tagging-api","cache":"hit","ageSeconds":0}'
        except threading.BrokenBarrierError:
            status, body = 500, b'{"error":{"code":"Serialised","message":"the requests came one at a time"}}'
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


class OneShot(Gate):
    """Answers one request per connection, then closes it without saying so: the client's
    kept-alive connection is stale by its next call."""

    connections = set()

    def do_POST(self):
        OneShot.connections.add(self.client_address)
        super().do_POST()
        self.close_connection = True


class Server(unittest.TestCase):
    """The client against small local servers that check what it sends over the wire."""

    def serve(self, handler):
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True).start()
        self.addCleanup(server.server_close)
        self.addCleanup(server.shutdown)
        return f"http://127.0.0.1:{server.server_address[1]}"

    def test_requests_of_threads_sharing_a_client_reach_the_server_together(self):
        Gate.barrier = threading.Barrier(THREADS, timeout=WAIT)
        client = closing(self, Client(self.serve(Gate), token="t", retries=0))
        results, errors, running = in_threads(THREADS, lambda i: client.resolve({"a": "b"}))
        self.assertEqual((running, errors), ([], []))
        self.assertEqual([r["profile"]["arn"] for r in results], ["a"] * THREADS)

    def test_a_kept_alive_connection_the_server_closed_is_retried_once_on_a_new_one(self):
        OneShot.barrier = threading.Barrier(1)
        OneShot.connections = set()
        client = closing(self, Client(self.serve(OneShot), token="t", retries=0))
        for _ in range(3):
            self.assertEqual(client.resolve({"a": "b"})["profile"]["arn"], "a")
        self.assertEqual(len(OneShot.connections), 3)


class Packaging(unittest.TestCase):
    """What the installed distribution declares and ships."""

    def test_the_metadata_is_pep_639_and_python_3_10_or_newer(self):
        meta = importlib.metadata.metadata("profile-resolver")
        self.assertEqual(meta["License-Expression"], "Apache-2.0")
        self.assertEqual(meta["Requires-Python"], ">=3.10")
        classifiers = meta.get_all("Classifier")
        self.assertEqual([c for c in classifiers if c.startswith("License ::")], [])
        versions = [c.rsplit(" ", 1)[1] for c in classifiers if c.startswith("Programming Language :: Python :: 3.")]
        self.assertEqual(versions, ["3.10", "3.11", "3.12", "3.13"])
        self.assertIn("Typing :: Typed", classifiers)

    def test_the_py_typed_marker_and_the_license_ship(self):
        files = {str(f) for f in importlib.metadata.files("profile-resolver")}
        self.assertIn("profile_resolver/py.typed", files)
        self.assertTrue(any(f.endswith("licenses/LICENSE") for f in files), files)

    def test_mypy_strict_checks_callers_against_the_installed_types(self):
        good = """
from profile_resolver import AllAnswer, BatchResult, Client, Health, OneAnswer, Profile

def arn(client: Client) -> str:
    answer: OneAnswer = client.resolve({"tenant": "acme"}, region="us-east-1")
    return answer["profile"]["arn"]

def models(client: Client) -> list[str]:
    every: AllAnswer = client.resolve_all({"tenant": ["acme", "globex"]})
    first: Profile = every["profiles"][0]
    return first.get("modelIds", []) + client.profile(first["arn"])["profile"].get("models", [])

def statuses(client: Client) -> list[int]:
    results: list[BatchResult] = client.resolve_batch([{"tags": {"tenant": "acme"}, "match": "all"}])
    return [r["status"] for r in results]

def ready(client: Client) -> bool:
    health: Health = client.health()
    return all(r["ready"] for r in health["regions"].values())
"""
        bad = """
from profile_resolver import Client

def wrong(client: Client) -> None:
    print(client.resolve_all({"tenant": "acme"})["profile"])

def age(client: Client) -> None:
    seconds: str = client.resolve({"tenant": "acme"})["ageSeconds"]
    print(seconds)
"""
        with tempfile.TemporaryDirectory() as tmp:
            for name, text in (("good.py", good), ("bad.py", bad)):
                with open(os.path.join(tmp, name), "w") as f:
                    f.write(text)
            run = subprocess.run(
                [sys.executable, "-m", "mypy", "--strict", "--python-version", "3.10", "--no-incremental",
                 "--cache-dir", os.path.join(tmp, "cache"), "good.py", "bad.py"],
                cwd=tmp, capture_output=True, text=True, timeout=300)
        errors = [line for line in run.stdout.splitlines() if ": error:" in line]
        self.assertEqual(run.returncode, 1, run.stdout + run.stderr)
        self.assertEqual([e.split(":")[0] for e in errors], ["bad.py", "bad.py"], run.stdout)
        self.assertIn('"AllAnswer" has no key "profile"', errors[0])
        self.assertIn('(expression has type "float", variable has type "str")', errors[1])


if __name__ == "__main__":
    unittest.main()
