"""THE COMPETENT BASELINE of the scan benchmark: the inventory of `baseline-inventory.sh` written as a
careful engineer writes it in Python: boto3, one session per account, accounts scanned at once in a
thread pool, every listing paginated at its largest page, the per-item calls of each listing overlapped
in a second pool, retries in boto3's `standard` mode. The same calls a user's own script would make
for the same inventory: who am I, every stack with its template and resources, every function with its
tags, every parameter, every REST API with its resources, authorizers and stages, the HTTP APIs, every
table described, every bucket with its tags, every role with its attached policies, every key
described, every secret's metadata (never a value).

Usage: baseline_inventory.py [--accounts-at-once N] [--per-item N] [--counts FILE] PROFILE...
(with --counts, the first profile is the management account's)
Prints one line: resources counted, and the calls made. With --counts, writes what it found in each
account (how many of each kind) as JSON: the scan benchmark computes the fewest calls that read them.
"""

import argparse
import json
import threading
from concurrent.futures import ThreadPoolExecutor

import boto3
import botocore.config
import botocore.exceptions

CALLS = 0
LOCK = threading.Lock()


def counted(n=1):
    global CALLS
    with LOCK:
        CALLS += n


def pages(client, operation, key, **kwargs):
    """Every item of a paginated listing, the page at its largest."""
    out = []
    for page in client.get_paginator(operation).paginate(**kwargs):
        counted()
        out.extend(page.get(key, []))
    return out


def inventory(profile, per_item, counts, census=False):
    session = boto3.Session(profile_name=profile)
    config = botocore.config.Config(
        max_pool_connections=max(10, per_item * 2), retries={"mode": "standard", "max_attempts": 5}
    )
    c = lambda service: session.client(service, config=config)  # noqa: E731
    found = 0
    c("sts").get_caller_identity()
    counted()
    with ThreadPoolExecutor(per_item) as pool:
        def each(fetch, items, keep=False):
            counted(len(items))
            answers = list(pool.map(fetch, items))
            return answers if keep else len(items)

        cfn = c("cloudformation")
        stacks = [
            s["StackName"]
            for s in pages(cfn, "list_stacks", "StackSummaries")
            if s["StackStatus"] != "DELETE_COMPLETE"
        ]
        found += each(lambda s: cfn.get_template(StackName=s), stacks)
        resources = each(lambda s: cfn.list_stack_resources(StackName=s), stacks, keep=True)
        counts["stacks"] = len(stacks)
        counts["largest_stack"] = max((len(r["StackResourceSummaries"]) for r in resources), default=0)

        lam = c("lambda")
        functions = [f["FunctionArn"] for f in pages(lam, "list_functions", "Functions", PaginationConfig={"PageSize": 50})]
        found += each(lambda f: lam.list_tags(Resource=f), functions)
        counts["functions"] = len(functions)

        parameters = pages(c("ssm"), "describe_parameters", "Parameters", PaginationConfig={"PageSize": 50})
        found += len(parameters)
        counts["parameters"] = len(parameters)
        counts["plain_parameters"] = sum(1 for p in parameters if p.get("Type") != "SecureString")

        apigw = c("apigateway")
        apis = [a["id"] for a in pages(apigw, "get_rest_apis", "items", PaginationConfig={"PageSize": 500})]
        found += each(lambda a: apigw.get_resources(restApiId=a, limit=500), apis)
        each(lambda a: apigw.get_authorizers(restApiId=a, limit=500), apis)
        each(lambda a: apigw.get_stages(restApiId=a), apis)
        http_apis = pages(c("apigatewayv2"), "get_apis", "Items", PaginationConfig={"PageSize": 500})
        found += len(http_apis)
        counts["rest_apis"] = len(apis)
        counts["http_apis"] = len(http_apis)

        ddb = c("dynamodb")
        tables = pages(ddb, "list_tables", "TableNames", PaginationConfig={"PageSize": 100})
        found += each(lambda t: ddb.describe_table(TableName=t), tables)
        counts["tables"] = len(tables)

        s3 = c("s3")
        buckets = [b["Name"] for b in pages(s3, "list_buckets", "Buckets", PaginationConfig={"PageSize": 10000})]

        def tagging(bucket):
            try:
                s3.get_bucket_tagging(Bucket=bucket)
            except botocore.exceptions.ClientError:
                pass  # no tags

        found += each(tagging, buckets)
        counts["buckets"] = len(buckets)

        iam = c("iam")
        roles = [r["RoleName"] for r in pages(iam, "list_roles", "Roles", PaginationConfig={"PageSize": 1000})]
        found += each(lambda r: iam.list_attached_role_policies(RoleName=r), roles)
        counts["roles"] = len(roles)

        kms = c("kms")
        keys = [k["KeyId"] for k in pages(kms, "list_keys", "Keys", PaginationConfig={"PageSize": 1000})]
        found += each(lambda k: kms.describe_key(KeyId=k), keys)
        counts["keys"] = len(keys)

        secrets = pages(c("secretsmanager"), "list_secrets", "SecretList", PaginationConfig={"PageSize": 100})
        found += len(secrets)
        counts["secrets"] = len(secrets)

        if census:
            # Beyond the inventory, for the benchmark's count of the fewest calls: customer managed
            # policies and custom domains.
            counts["policies"] = len(pages(iam, "list_policies", "Policies", Scope="Local"))
            counts["domains"] = len(pages(apigw, "get_domain_names", "items"))
    return found


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--accounts-at-once", type=int, default=16)
    p.add_argument("--per-item", type=int, default=8)
    p.add_argument("--counts")
    p.add_argument("profiles", nargs="+")
    a = p.parse_args()
    counts = {prof: {} for prof in a.profiles}
    with ThreadPoolExecutor(a.accounts_at_once) as pool:
        found = sum(pool.map(lambda prof: inventory(prof, a.per_item, counts[prof], bool(a.counts)), a.profiles))
    if a.counts:
        # What the organization holds around the accounts: its tree and the regions enabled.
        org = boto3.Session(profile_name=a.profiles[0]).client("organizations")
        parents, queue = [], [r["Id"] for r in org.list_roots()["Roots"]]
        while queue:
            parent = queue.pop()
            ous = [o["Id"] for o in pages(org, "list_organizational_units_for_parent", "OrganizationalUnits", ParentId=parent)]
            accounts = pages(org, "list_accounts_for_parent", "Accounts", ParentId=parent)
            parents.append([len(ous), len(accounts)])
            queue.extend(ous)
        account = boto3.Session(profile_name=a.profiles[0]).client("account")
        regions = pages(account, "list_regions", "Regions", RegionOptStatusContains=["ENABLED", "ENABLED_BY_DEFAULT"])
        counts["_organization"] = {"parents": parents, "enabled_regions": len(regions)}
        with open(a.counts, "w") as f:
            json.dump(counts, f, indent=1, sort_keys=True)
    print(f"{found} resources, {CALLS} calls")


if __name__ == "__main__":
    main()
