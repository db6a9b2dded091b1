"""moto_server with the read APIs Stagecraft calls that moto lacks, answered in the shape AWS
documents (the responses are serialized by moto from the botocore service models):

- account:ListRegions: the regions enabled for the calling account;
- cloudformation:DescribeAccountLimits: StackLimit and StackOutputsLimit;
- lambda:GetAccountSettings: the concurrency limit, unreserved concurrency and function count.

and, in change sets (cloudformation:DescribeChangeSet), what moto leaves out of each `Modify`:
`Replacement` ("True" when a changed property is one AWS documents as "Update requires:
Replacement"), `Scope` and one `Details` entry per changed property, with its `RequiresRecreation`;

and, in s3:ListBuckets, what moto leaves out when the request has a parameter (`max-buckets`,
`prefix`, `bucket-region`, `continuation-token`): each bucket's `BucketRegion` ("If the request
contains at least one valid parameter, it is included in the response") and pages of at most
`max-buckets` (1 to 10,000) joined by an opaque `ContinuationToken`;

and two bugs fixed: a role CloudFormation created with inline `Policies` keeps each document as a
dict, on which iam:GetAccountAuthorizationDetails fails (AWS keeps and returns the JSON text); and
the customer managed policies that answer (`Policies`, each a `ManagedPolicyDetail`) come without
their `PolicyName` and `PolicyId`, which AWS always returns.

AWS's documented defaults apply unless `limits.json` beside this file (read on every call) sets
other values, per account id or for every account under "*":

    {"*": {"regions": ["us-east-1", "eu-west-1"]},
     "222222222222": {"StackLimit": 10, "ConcurrentExecutions": 100}}

Started as `moto_server_gaps.py -H 127.0.0.1 -p PORT`, like moto_server.
"""

import base64
import json
import os
import sys

from moto.core.responses import ActionResult
from moto.account import urls as account_urls
from moto.account.responses import AccountResponse
from moto.awslambda import urls as lambda_urls
from moto.awslambda.models import lambda_backends
from moto.awslambda.responses import LambdaResponse
from moto.cloudformation.models import ChangeSet, cloudformation_backends
from moto.cloudformation.responses import CloudFormationResponse
from moto.iam.models import ManagedPolicy, Role
from moto.s3.responses import S3Response
from moto.server import main

HERE = os.path.dirname(os.path.abspath(__file__))

# The commercial regions enabled by default in every account, and opt-in ones left disabled.
DEFAULT_REGIONS = [
    "us-east-1", "us-east-2", "us-west-1", "us-west-2", "ca-central-1", "sa-east-1",
    "eu-west-1", "eu-west-2", "eu-west-3", "eu-central-1", "eu-north-1",
    "ap-south-1", "ap-northeast-1", "ap-northeast-2", "ap-northeast-3",
    "ap-southeast-1", "ap-southeast-2",
]
OPT_IN_REGIONS = ["af-south-1", "ap-east-1", "eu-south-1", "me-south-1"]
DEFAULTS = {
    "regions": DEFAULT_REGIONS,
    # https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/cloudformation-limits.html
    "StackLimit": 2000,
    "StackOutputsLimit": 200,
    # https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html
    "ConcurrentExecutions": 1000,
    "CodeSizeZipped": 52428800,
    "CodeSizeUnzipped": 262144000,
    "TotalCodeSize": 80530636800,
}


def settings(account):
    try:
        with open(os.path.join(HERE, "limits.json")) as f:
            data = json.load(f)
    except (OSError, ValueError):
        data = {}
    return {**DEFAULTS, **data.get("*", {}), **data.get(account, {})}


def list_regions(self):
    enabled = settings(self.current_account)["regions"]
    regions = [{"RegionName": r, "RegionOptStatus": "ENABLED_BY_DEFAULT"} for r in enabled]
    regions += [
        {"RegionName": r, "RegionOptStatus": "DISABLED"}
        for r in OPT_IN_REGIONS
        if r not in enabled
    ]
    wanted = self._get_param("RegionOptStatusContains")
    if wanted:
        regions = [r for r in regions if r["RegionOptStatus"] in wanted]
    return ActionResult({"Regions": regions})


def describe_account_limits(self):
    s = settings(self.current_account)
    return ActionResult(
        {
            "AccountLimits": [
                {"Name": "StackLimit", "Value": s["StackLimit"]},
                {"Name": "StackOutputsLimit", "Value": s["StackOutputsLimit"]},
            ]
        }
    )


def get_account_settings(self):
    s = settings(self.current_account)
    backend = lambda_backends[self.current_account][self.region]
    functions = list(backend.list_functions())
    reserved = 0
    for fn in functions:
        r = getattr(fn, "reserved_concurrency", None)
        reserved += int(r or 0)
    total = s["ConcurrentExecutions"]
    body = {
        "AccountLimit": {
            "TotalCodeSize": s["TotalCodeSize"],
            "CodeSizeUnzipped": s["CodeSizeUnzipped"],
            "CodeSizeZipped": s["CodeSizeZipped"],
            "ConcurrentExecutions": total,
            "UnreservedConcurrentExecutions": total - reserved,
        },
        "AccountUsage": {"TotalCodeSize": 0, "FunctionCount": len(functions)},
    }
    return 200, {"Content-Type": "application/json"}, json.dumps(body)


_all_buckets = S3Response.all_buckets


def all_buckets(self):
    params = {k: self._get_param(k) for k in ("prefix", "bucket-region", "max-buckets", "continuation-token")}
    if all(v is None for v in params.values()):
        return _all_buckets(self)
    self.data["Action"] = "ListAllMyBuckets"
    self._authenticate_and_authorize_s3_action()
    try:
        page = int(params["max-buckets"] or 10000)
    except ValueError:
        page = 0
    if not 1 <= page <= 10000:
        return 400, {"Content-Type": "application/xml"}, (
            '<?xml version="1.0" encoding="UTF-8"?><Error><Code>InvalidArgument</Code>'
            "<Message>max-buckets must be an integer between 1 and 10000</Message></Error>"
        )
    buckets = sorted(
        self.backend.list_buckets(prefix=params["prefix"], bucket_region=params["bucket-region"], max_buckets=None),
        key=lambda b: b.name,
    )
    after = base64.urlsafe_b64decode(params["continuation-token"]).decode() if params["continuation-token"] else ""
    rest = [b for b in buckets if b.name > after]
    shown = rest[:page]
    result = {
        "Owner": {"ID": "bcaf1ffd86f41161ca5fb16fd081034f", "DisplayName": "webfile"},
        "Buckets": [
            {"Name": b.name, "CreationDate": b.creation_date_ISO8601, "BucketRegion": b.region_name}
            for b in shown
        ],
    }
    if len(rest) > page:
        result["ContinuationToken"] = base64.urlsafe_b64encode(shown[-1].name.encode()).decode()
    if params["prefix"] is not None:
        result["Prefix"] = params["prefix"]
    self.data["Action"] = "ListBuckets"
    return self.serialized(ActionResult(result))


_put_policy = Role.put_policy


def put_policy(self, policy_name, policy_json):
    if not isinstance(policy_json, str):
        policy_json = json.dumps(policy_json)
    return _put_policy(self, policy_name, policy_json)


Role.put_policy = put_policy

# moto serializes a `ManagedPolicyDetail` from the policy's attributes by the member names
# (`policy_name`, `policy_id`); its policies keep them as `name` and `id`.
ManagedPolicy.policy_name = property(lambda self: self.name)
ManagedPolicy.policy_id = property(lambda self: self.id)

# Properties whose change replaces the resource ("Update requires: Replacement" in the AWS
# CloudFormation resource reference), for the types Serverless and SAM templates hold; "*": every one.
REPLACING = {
    "AWS::ApiGateway::Deployment": {"RestApiId", "DeploymentCanarySettings"},
    "AWS::ApiGateway::Method": {"ResourceId", "RestApiId"},
    "AWS::ApiGateway::Resource": {"ParentId", "PathPart", "RestApiId"},
    "AWS::DynamoDB::Table": {"TableName", "KeySchema", "LocalSecondaryIndexes"},
    "AWS::Events::Rule": {"Name", "EventBusName"},
    "AWS::IAM::Role": {"RoleName", "Path"},
    "AWS::Lambda::Function": {"FunctionName", "PackageType"},
    "AWS::Lambda::Permission": "*",
    "AWS::Lambda::Version": "*",
    "AWS::Logs::LogGroup": {"LogGroupName"},
    "AWS::S3::Bucket": {"BucketName"},
    "AWS::SecretsManager::Secret": {"Name"},
    "AWS::SNS::Topic": {"TopicName", "FifoTopic"},
    "AWS::SQS::Queue": {"QueueName", "FifoQueue"},
}

_diff = ChangeSet.diff


def diff(self):
    changes = _diff(self)
    old = getattr(self.stack.resource_map, "_resource_json_map", {}) or {}
    new = (self.template_dict or {}).get("Resources", {}) or {}
    for change in changes:
        if change.action != "Modify":
            continue
        before = old.get(change.logical_resource_id, {}).get("Properties") or {}
        after = new.get(change.logical_resource_id, {}).get("Properties") or {}
        changed = sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))
        rule = REPLACING.get(change.resource_type, set())
        replaces = lambda k: rule == "*" or k in rule  # noqa: E731
        change.replacement = "True" if any(replaces(k) for k in changed) else "False"
        change.scope = ["Properties"] if changed else []
        change.details = [
            {
                "Target": {
                    "Attribute": "Properties",
                    "Name": k,
                    "RequiresRecreation": "Always" if replaces(k) else "Never",
                },
                "Evaluation": "Static",
                "ChangeSource": "DirectModification",
            }
            for k in changed
        ]
    return changes


ChangeSet.diff = diff
S3Response.all_buckets = all_buckets
AccountResponse.list_regions = list_regions
CloudFormationResponse.describe_account_limits = describe_account_limits
LambdaResponse.get_account_settings = get_account_settings
account_urls.url_paths["{0}/listRegions$"] = AccountResponse.dispatch
lambda_urls.url_paths[r"{0}/(?P<api_version>[^/]+)/account-settings/?$"] = LambdaResponse.dispatch

if __name__ == "__main__":
    sys.exit(main())
