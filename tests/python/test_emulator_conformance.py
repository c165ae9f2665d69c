"""boto3, an independent client, judges the emulator's wire format.

Runs the blog post's example unchanged, then get/list/tag/untag/delete, paging through
GetResources with botocore's paginator, and the error shapes (ThrottledException must be seen by
botocore as throttling).
"""
import os
import unittest

import boto3
import botocore.config
import botocore.exceptions
from botocore.retries.standard import ThrottlingErrorDetector, RetryContext

from emulator_proc import Emulator

REGION = "us-east-1"
MODEL = "arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-3-haiku-20240307-v1:0"
NO_RETRY = botocore.config.Config(retries={"max_attempts": 1, "mode": "standard"})


class Conformance(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        os.environ.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing",
                          AWS_CONFIG_FILE="/dev/null", AWS_SHARED_CREDENTIALS_FILE="/dev/null")
        cls.emu = Emulator()

    @classmethod
    def tearDownClass(cls):
        cls.emu.stop()

    def setUp(self):
        self.emu.admin("POST", "/reset")
        self.bedrock = boto3.client("bedrock", region_name=REGION, endpoint_url=self.emu.url, config=NO_RETRY)
        self.tagging = boto3.client("resourcegroupstaggingapi", region_name=REGION,
                                    endpoint_url=self.emu.url, config=NO_RETRY)

    def test_the_blog_example_runs_unchanged(self):
        # The AWS blog post's example, verbatim apart from the client's endpoint.
        bedrock = self.bedrock
        inf_profile_response = bedrock.create_inference_profile(
            inferenceProfileName='ClaimsSummarizationProfile',
            description='Application profile for claims dept',
            modelSource={'copyFrom': MODEL},
            tags=[{'key': 'dept', 'value': 'claims'}]
        )
        arn = inf_profile_response['inferenceProfileArn']
        self.assertEqual(inf_profile_response['status'], 'ACTIVE')
        self.assertEqual(inf_profile_response['ResponseMetadata']['HTTPStatusCode'], 201)
        prefix = f"arn:aws:bedrock:{REGION}:123456789012:application-inference-profile/"
        self.assertTrue(arn.startswith(prefix), arn)
        profile_id = arn[len(prefix):]
        self.assertRegex(profile_id, r"^[a-z0-9]{12}$")

    def test_converse_on_a_profile_arn_is_answered_and_metered_with_the_tags_at_call_time(self):
        arn = self.create("acme-chat", {"tenant": "acme"})
        runtime = boto3.client("bedrock-runtime", region_name=REGION, endpoint_url=self.emu.url, config=NO_RETRY)
        reply = runtime.converse(modelId=arn, requestMetadata={"tenant": "acme"},
                                 messages=[{"role": "user", "content": [{"text": "three words here"}]}])
        self.assertEqual(reply["output"]["message"]["role"], "assistant")
        self.assertEqual(reply["usage"], {"inputTokens": 3, "outputTokens": 12, "totalTokens": 15})
        self.bedrock.tag_resource(resourceARN=arn, tags=[{"key": "tenant", "value": "globex"}])
        runtime.converse(modelId=arn, messages=[{"role": "user", "content": [{"text": "hi"}]}])
        usage = self.emu.admin("GET", "/usage")
        self.assertEqual(usage["byArn"][arn], {"calls": 2, "inputTokens": 4, "outputTokens": 24})
        self.assertEqual([c["tags"]["tenant"] for c in usage["calls"]], ["acme", "globex"])
        self.assertEqual(usage["calls"][0]["requestMetadata"], {"tenant": "acme"})
        # Another last character: the ids are random, so a fixed one is sometimes the same.
        unknown = arn[:-1] + ("y" if arn.endswith("x") else "x")
        with self.assertRaises(runtime.exceptions.ResourceNotFoundException):
            runtime.converse(modelId=unknown, messages=[{"role": "user", "content": [{"text": "hi"}]}])

    def create(self, name, tags):
        return self.bedrock.create_inference_profile(
            inferenceProfileName=name, modelSource={'copyFrom': MODEL},
            tags=[{'key': k, 'value': v} for k, v in tags.items()])['inferenceProfileArn']

    def test_get_list_tag_untag_and_delete(self):
        arn = self.create("chat", {"dept": "claims"})
        pid = arn.rsplit("/", 1)[1]
        by_id = self.bedrock.get_inference_profile(inferenceProfileIdentifier=pid)
        by_arn = self.bedrock.get_inference_profile(inferenceProfileIdentifier=arn)
        self.assertEqual(by_id['inferenceProfileArn'], arn)
        self.assertEqual(by_arn['inferenceProfileId'], pid)
        self.assertEqual(by_id['type'], 'APPLICATION')
        self.assertEqual(by_id['models'], [{'modelArn': MODEL}])
        self.assertIsNotNone(by_id['createdAt'].year)

        apps = self.bedrock.list_inference_profiles(typeEquals='APPLICATION')['inferenceProfileSummaries']
        self.assertEqual([p['inferenceProfileArn'] for p in apps], [arn])
        system = self.bedrock.list_inference_profiles(typeEquals='SYSTEM_DEFINED')['inferenceProfileSummaries']
        self.assertTrue(system and all(p['type'] == 'SYSTEM_DEFINED' for p in system))

        self.bedrock.tag_resource(resourceARN=arn, tags=[{'key': 'tenant', 'value': 'acme'}])
        tags = self.bedrock.list_tags_for_resource(resourceARN=arn)['tags']
        self.assertEqual(sorted((t['key'], t['value']) for t in tags), [("dept", "claims"), ("tenant", "acme")])
        self.bedrock.untag_resource(resourceARN=arn, tagKeys=['dept'])
        tags = self.bedrock.list_tags_for_resource(resourceARN=arn)['tags']
        self.assertEqual(tags, [{'key': 'tenant', 'value': 'acme'}])

        self.bedrock.delete_inference_profile(inferenceProfileIdentifier=arn)
        with self.assertRaises(self.bedrock.exceptions.ResourceNotFoundException):
            self.bedrock.get_inference_profile(inferenceProfileIdentifier=pid)

    def test_list_pages_with_next_token(self):
        for i in range(7):
            self.create(f"p{i}", {"n": str(i)})
        pages = self.bedrock.get_paginator('list_inference_profiles').paginate(
            typeEquals='APPLICATION', PaginationConfig={'PageSize': 3})
        arns = [p['inferenceProfileArn'] for page in pages for p in page['inferenceProfileSummaries']]
        self.assertEqual(len(arns), 7)
        self.assertEqual(arns, sorted(arns))

    def test_get_resources_pages_through_250_profiles_with_the_paginator(self):
        seed = [{"region": REGION, "name": f"p{i:03}", "model": MODEL,
                 "tags": {"tenant": f"t{i % 5}", "n": str(i)}} for i in range(260)]
        seed.append({"region": "eu-west-1", "name": "elsewhere", "model": MODEL, "tags": {"tenant": "t0"}})
        self.emu.admin("POST", "/seed", {"profiles": seed})
        paginator = self.tagging.get_paginator('get_resources')
        pages = list(paginator.paginate(ResourceTypeFilters=['bedrock:application-inference-profile'],
                                        ResourcesPerPage=100))
        self.assertEqual(len(pages), 3)
        self.assertEqual(pages[-1]['PaginationToken'], '')
        arns = [m['ResourceARN'] for p in pages for m in p['ResourceTagMappingList']]
        self.assertEqual(len(arns), 260)
        self.assertEqual(len(set(arns)), 260)
        self.assertTrue(all(f":{REGION}:" in a for a in arns))
        calls = self.emu.admin("GET", "/calls")
        self.assertEqual(calls["GetResources"][REGION], 3)

    def test_tag_filters_and_with_or_and_key_only(self):
        a = self.create("a", {"dept": "claims", "tenant": "acme"})
        b = self.create("b", {"dept": "claims", "tenant": "globex"})
        self.create("c", {"dept": "legal"})

        def arns(filters):
            out = self.tagging.get_resources(TagFilters=filters)['ResourceTagMappingList']
            return sorted(m['ResourceARN'] for m in out)

        self.assertEqual(arns([{'Key': 'dept', 'Values': ['claims']}, {'Key': 'tenant', 'Values': ['acme']}]), [a])
        self.assertEqual(arns([{'Key': 'tenant', 'Values': ['acme', 'globex']}]), sorted([a, b]))
        self.assertEqual(arns([{'Key': 'tenant'}]), sorted([a, b]))
        self.assertEqual(arns([{'Key': 'Tenant'}]), [])

    def test_deleted_profiles_linger_with_empty_tags(self):
        arn = self.create("gone", {"dept": "claims"})
        self.bedrock.delete_inference_profile(inferenceProfileIdentifier=arn)
        out = self.tagging.get_resources(ResourceTypeFilters=['bedrock:application-inference-profile'])
        self.assertEqual(out['ResourceTagMappingList'], [{'ResourceARN': arn, 'Tags': []}])
        self.emu.admin("POST", "/settings", {"ghostSeconds": 0, "tokenTtlSeconds": 900})
        arn2 = self.create("gone2", {"dept": "claims"})
        self.bedrock.delete_inference_profile(inferenceProfileIdentifier=arn2)
        out = self.tagging.get_resources(ResourceTypeFilters=['bedrock:application-inference-profile'])
        self.assertNotIn(arn2, [m['ResourceARN'] for m in out['ResourceTagMappingList']])

    def test_throttling_is_recognised_by_botocore(self):
        self.emu.admin("POST", "/faults", {"operation": "GetResources", "throttleRate": 1.0})
        with self.assertRaises(botocore.exceptions.ClientError) as ctx:
            self.tagging.get_resources()
        err = ctx.exception.response
        self.assertEqual(err['Error']['Code'], 'ThrottledException')
        self.assertEqual(err['ResponseMetadata']['HTTPStatusCode'], 400)
        detector = ThrottlingErrorDetector(botocore.retries.standard.RetryEventAdapter())
        context = RetryContext(attempt_number=1, operation_model=None, parsed_response=err,
                               http_response=None, caught_exception=None)
        self.assertTrue(detector.is_throttling_error_from_context(context))
        with self.assertRaises(self.tagging.exceptions.ThrottledException):
            self.tagging.get_resources()
        # botocore retries it as throttling: Config's max_attempts=3 means three retries, four calls.
        self.emu.admin("DELETE", "/calls")
        retrying = boto3.client("resourcegroupstaggingapi", region_name=REGION, endpoint_url=self.emu.url,
                                config=botocore.config.Config(retries={"max_attempts": 3, "mode": "standard"}))
        with self.assertRaises(self.tagging.exceptions.ThrottledException):
            retrying.get_resources()
        self.assertEqual(self.emu.admin("GET", "/calls")["GetResources"][REGION], 4)

    def test_bedrock_throttling_and_internal_errors_have_their_shapes(self):
        self.emu.admin("POST", "/faults", {"operation": "ListInferenceProfiles", "throttleRate": 1.0})
        with self.assertRaises(self.bedrock.exceptions.ThrottlingException) as ctx:
            self.bedrock.list_inference_profiles()
        self.assertEqual(ctx.exception.response['ResponseMetadata']['HTTPStatusCode'], 429)
        self.emu.admin("POST", "/faults", {"operation": "GetResources", "errorRate": 1.0})
        with self.assertRaises(self.tagging.exceptions.InternalServiceException):
            self.tagging.get_resources()

    def test_parameter_errors_match_aws(self):
        with self.assertRaises(self.tagging.exceptions.InvalidParameterException):
            self.tagging.get_resources(ResourcesPerPage=101)
        with self.assertRaises(self.tagging.exceptions.InvalidParameterException):
            self.tagging.get_resources(ResourcesPerPage=0)
        with self.assertRaises(self.tagging.exceptions.InvalidParameterException):
            self.tagging.get_resources(TagFilters=[{'Key': 'k', 'Values': [str(i) for i in range(21)]}])
        with self.assertRaises(self.tagging.exceptions.InvalidParameterException):
            self.tagging.get_resources(TagFilters=[{'Key': f'k{i}'} for i in range(51)])
        with self.assertRaises(self.bedrock.exceptions.ValidationException):
            self.create("bad", {"aws:reserved": "x"})
        with self.assertRaises(self.bedrock.exceptions.ValidationException):
            self.create("bad", {"k" * 129: "x"})
        with self.assertRaises(self.bedrock.exceptions.ValidationException):
            self.create("bad name!", {"k": "v"})
        with self.assertRaises(self.bedrock.exceptions.TooManyTagsException):
            self.create("many", {f"k{i}": "v" for i in range(51)})
        self.create("dup", {"k": "v"})
        with self.assertRaises(self.bedrock.exceptions.ConflictException):
            self.create("dup", {"k": "v"})
        with self.assertRaises(self.bedrock.exceptions.ResourceNotFoundException):
            self.bedrock.get_inference_profile(inferenceProfileIdentifier="nosuchprofile")

    def test_an_expired_pagination_token_is_refused(self):
        seed = [{"region": REGION, "name": f"p{i}", "model": MODEL, "tags": {"n": str(i)}} for i in range(5)]
        self.emu.admin("POST", "/seed", {"profiles": seed})
        first = self.tagging.get_resources(ResourcesPerPage=2)
        self.assertTrue(first['PaginationToken'])
        self.emu.admin("POST", "/settings", {"ghostSeconds": 60, "tokenTtlSeconds": 0})
        with self.assertRaises(self.tagging.exceptions.PaginationTokenExpiredException):
            self.tagging.get_resources(ResourcesPerPage=2, PaginationToken=first['PaginationToken'])

    def test_regions_are_kept_apart_by_the_credential_scope(self):
        self.create("here", {"k": "v"})
        west = boto3.client("bedrock", region_name="eu-west-1", endpoint_url=self.emu.url, config=NO_RETRY)
        self.assertEqual(west.list_inference_profiles(typeEquals='APPLICATION')['inferenceProfileSummaries'], [])


if __name__ == "__main__":
    unittest.main()
