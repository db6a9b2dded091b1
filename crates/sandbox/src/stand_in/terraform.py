"""A STAND-IN FOR THE TERRAFORM EXECUTABLE, for Terraform roots that manage AWS resources.

Real Terraform (1.0.3, from PyPI) runs every root it can here; a root with AWS resources cannot be
applied for real because the AWS provider cannot be downloaded on these machines. This stand-in takes
its place for those roots only, and is as strict as Terraform where a deploy can go wrong:

- it reads the root's `*.tf` files with an HCL parser and refuses a `required_version` it does not meet;
- `init` must come first (`TF_DATA_DIR`, default `.terraform`, keeps the backend settings and the
  workspaces, as Terraform does); `-backend-config=key=value` completes the backend block;
- every AWS profile the root names (the S3 backend's, each `provider "aws"`'s, evaluated with
  `terraform.workspace` and variable defaults) and `AWS_PROFILE` must resolve from the files
  `AWS_CONFIG_FILE` / `AWS_SHARED_CREDENTIALS_FILE` name, or it stops with Terraform's error;
- `workspace select -or-create` exists only from 1.4 (`TERRAFORM_STAND_IN_VERSION`, default 1.9.8);
  `workspace select` of a workspace that does not exist fails, `workspace new` of one that does too;
  the workspaces are the backend's (an S3 backend: one state object each; a new one is written
  empty, as Terraform does);
- `apply` needs `-auto-approve` when it runs without input;
- `plan -out=FILE` reads the workspace's state from the S3 backend (with the backend's profile, the
  `AWS_S3_ENDPOINT` Terraform 1.0 reads, path-style when `force_path_style` is set) and compares it
  with the resources the code declares (`count` on `terraform.workspace` evaluated, local modules
  followed): an address only in the code is created, one only in the state deleted, one in both
  updated where a literal attribute of the code differs from the state, replaced where that
  attribute is one AWS cannot change in place. It has no provider schemas: attributes computed by
  AWS are not compared. `show -json FILE` prints that plan in Terraform's JSON plan format.

It records each call, one line, to $TERRAFORM_STAND_IN_RECORD: `<dir>|<AWS_PROFILE>|<arguments>`, and
the profiles it resolved as `<dir>|<AWS_PROFILE>|resolved <profile> for <what>`. It fails the
subcommand named in $TERRAFORM_STAND_IN_FAIL (exit 1), and holds `apply` while the file
$TERRAFORM_STAND_IN_HOLD exists (at most 5 minutes), for the tests of failure and cancel.
"""

import configparser
import glob
import json
import os
import re
import sys
import time

import hcl2

VERSION = os.environ.get("TERRAFORM_STAND_IN_VERSION", "1.9.8")
ARGS = sys.argv[1:]
DATA_DIR = os.environ.get("TF_DATA_DIR", ".terraform")
PROFILE_ENV = os.environ.get("AWS_PROFILE", "")


def record(line):
    path = os.environ.get("TERRAFORM_STAND_IN_RECORD")
    if path:
        with open(path, "a", encoding="utf-8") as f:
            f.write(f"{os.getcwd()}|{PROFILE_ENV}|{line}\n")


def fail(message):
    print(f"\nError: {message}\n", file=sys.stderr)
    sys.exit(1)


def version_tuple(text):
    parts = [int(p) for p in re.findall(r"\d+", text)[:3]]
    return tuple(parts + [0] * (3 - len(parts)))


def meets(constraint):
    for clause in constraint.split(","):
        m = re.match(r"\s*(>=|<=|~>|!=|=|>|<)?\s*v?([\d.]+)\s*$", clause)
        if not m:
            fail(f'Invalid version constraint "{constraint}"')
        op, want = m.group(1) or "=", m.group(2)
        have, w = version_tuple(VERSION), version_tuple(want)
        ok = {
            ">=": have >= w,
            "<=": have <= w,
            ">": have > w,
            "<": have < w,
            "=": have == w,
            "!=": have != w,
            "~>": have >= w and have[: want.count(".")] == w[: want.count(".")],
        }[op]
        if not ok:
            return False
    return True


record(" ".join(ARGS))

if ARGS in (["--version"], ["-version"], ["version"], ["-v"]):
    print(f"Terraform v{VERSION}\non linux_amd64 (stand-in)")
    sys.exit(0)
if ARGS == ["version", "-json"]:
    print(json.dumps({"terraform_version": VERSION, "platform": "linux_amd64",
                      "provider_selections": {}, "terraform_outdated": False}))
    sys.exit(0)

if os.environ.get("TERRAFORM_STAND_IN_FAIL") and ARGS and ARGS[0] == os.environ["TERRAFORM_STAND_IN_FAIL"]:
    fail(f"{ARGS[0]} failed (the stand-in was told to fail)")

# The root module.
root = {}
files = sorted(glob.glob("*.tf"))
if not files:
    fail("No configuration files")
for path in files:
    try:
        with open(path, encoding="utf-8") as f:
            parsed = hcl2.load(f)
    except Exception as e:  # noqa: BLE001 - any parse failure is Terraform's "Invalid syntax"
        fail(f"Invalid syntax in {path}: {e}")
    for key, blocks in parsed.items():
        root.setdefault(key, []).extend(blocks)

for settings in root.get("terraform", []):
    constraint = settings.get("required_version")
    if constraint and not meets(constraint):
        fail(f"Unsupported Terraform Core version\n\nThis configuration does not support Terraform "
             f"version {VERSION}. (required_version = \"{constraint}\")")

variables = {}
for block in root.get("variable", []):
    for name, body in block.items():
        if f"TF_VAR_{name}" in os.environ:
            variables[name] = os.environ[f"TF_VAR_{name}"]
        elif "default" in body:
            variables[name] = body["default"]


def current_workspace():
    return os.environ.get("TF_WORKSPACE") or (
        open(os.path.join(DATA_DIR, "environment"), encoding="utf-8").read().strip()
        if os.path.exists(os.path.join(DATA_DIR, "environment")) else "default")


def evaluate(value, what):
    """Evaluates the interpolations a profile name can hold: terraform.workspace and var.*."""
    if not isinstance(value, str):
        return value

    def one(m):
        expr = m.group(1).strip()
        if expr == "terraform.workspace":
            return current_workspace()
        v = re.fullmatch(r"var\.(\w+)", expr)
        if v and v.group(1) in variables:
            return str(variables[v.group(1)])
        if v:
            fail(f'No value for required variable\n\nThe root module input variable "{v.group(1)}" '
                 f"is not set ({what})")
        fail(f"the stand-in cannot evaluate `{expr}` ({what}); real Terraform is needed for this root")

    return re.sub(r"\$\{([^}]*)\}", one, value)


def profile_files():
    home = os.path.expanduser("~")
    config = os.environ.get("AWS_CONFIG_FILE", os.path.join(home, ".aws", "config"))
    creds = os.environ.get("AWS_SHARED_CREDENTIALS_FILE", os.path.join(home, ".aws", "credentials"))
    profiles = {}
    for path, is_config in ((creds, False), (config, True)):
        parser = configparser.RawConfigParser()
        try:
            parser.read(path, encoding="utf-8")
        except configparser.Error as e:
            fail(f"error reading {path}: {e}")
        for section in parser.sections():
            name = section
            if is_config:
                if section.startswith("profile "):
                    name = section[len("profile "):].strip()
                elif section != "default":
                    continue
            profiles.setdefault(name, {}).update(dict(parser.items(section)))
    return profiles


def resolvable(name, profiles, seen=()):
    p = profiles.get(name)
    if p is None:
        return False
    if p.get("aws_access_key_id") and p.get("aws_secret_access_key"):
        return True
    if p.get("credential_process") or p.get("sso_session") or p.get("sso_start_url"):
        return True
    source = p.get("source_profile")
    if p.get("role_arn") and source and source not in seen:
        return resolvable(source, profiles, seen + (name,))
    return False


def require_profile(name, what):
    profiles = profile_files()
    if name is None or name == "":
        if os.environ.get("AWS_ACCESS_KEY_ID") and os.environ.get("AWS_SECRET_ACCESS_KEY"):
            return
        name = PROFILE_ENV or "default"
    if not resolvable(name, profiles):
        if what == "backend":
            fail(f"error configuring S3 Backend: failed to get shared config profile, {name}")
        fail(f"error configuring Terraform AWS Provider: failed to get shared config profile, {name}\n\n"
             f"  with {what}")
    record(f"resolved {name} for {what}")


def backend_settings(overrides):
    for settings in root.get("terraform", []):
        for backend in settings.get("backend", []):
            for kind, body in backend.items():
                merged = dict(body)
                merged.update(overrides)
                return kind, merged
    return None, {}


def saved_state():
    path = os.path.join(DATA_DIR, "terraform.tfstate")
    if not os.path.exists(path):
        fail('Backend initialization required, please run "terraform init"\n\n'
             "Reason: Initial configuration of the requested backend")
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def s3_backend():
    """The S3 client and settings of an S3 backend, resolved as Terraform does; None otherwise."""
    import boto3
    from botocore.config import Config

    backend = saved_state()["backend"]
    if backend["type"] != "s3":
        return None
    config = backend["config"]
    session = boto3.session.Session(profile_name=config.get("profile") or PROFILE_ENV or None,
                                    region_name=config.get("region"))
    path_style = str(config.get("force_path_style", "")).lower() == "true"
    s3 = session.client("s3", endpoint_url=os.environ.get("AWS_S3_ENDPOINT") or None,
                        config=Config(s3={"addressing_style": "path" if path_style else "auto"}))
    return s3, config


def state_key(config, workspace):
    if workspace == "default":
        return config["key"]
    return f"{config.get('workspace_key_prefix', 'env:')}/{workspace}/{config['key']}"


def workspaces():
    """The workspaces the backend holds (an S3 backend: a state object per workspace)."""
    names = set(saved_state().get("stand_in_workspaces", ["default"]))
    backend = s3_backend()
    if backend:
        s3, config = backend
        prefix = config.get("workspace_key_prefix", "env:") + "/"
        pages = s3.get_paginator("list_objects_v2").paginate(Bucket=config["bucket"], Prefix=prefix)
        for page in pages:
            for obj in page.get("Contents", []):
                ws, _, rest = obj["Key"][len(prefix):].partition("/")
                if ws and rest == config["key"]:
                    names.add(ws)
        names.add("default")
    return names


def save_workspaces(names, created):
    state = saved_state()
    state["stand_in_workspaces"] = sorted(names)
    with open(os.path.join(DATA_DIR, "terraform.tfstate"), "w", encoding="utf-8") as f:
        json.dump(state, f)
    backend = s3_backend()
    if backend:
        # As Terraform's S3 backend does: a new workspace is an empty state object.
        import uuid
        s3, config = backend
        empty = {"version": 4, "terraform_version": VERSION, "serial": 0, "lineage": str(uuid.uuid4()),
                 "outputs": {}, "resources": []}
        s3.put_object(Bucket=config["bucket"], Key=state_key(config, created),
                      Body=json.dumps(empty).encode())


def select(name):
    os.makedirs(DATA_DIR, exist_ok=True)
    with open(os.path.join(DATA_DIR, "environment"), "w", encoding="utf-8") as f:
        f.write(name)


def check_credentials():
    kind, backend = saved_state()["backend"]["type"], saved_state()["backend"]["config"]
    if kind == "s3":
        require_profile(backend.get("profile"), "backend")
    for i, block in enumerate(root.get("provider", [])):
        for name, body in block.items():
            if name != "aws":
                continue
            alias = body.get("alias")
            what = 'provider["registry.terraform.io/hashicorp/aws"]' + (f".{alias}" if alias else "")
            require_profile(evaluate(body.get("profile"), what), what)


command = ARGS[0] if ARGS else ""
rest = ARGS[1:]

if command == "init":
    overrides = {}
    for a in rest:
        if a.startswith("-backend-config="):
            kv = a[len("-backend-config="):]
            if "=" in kv:
                k, v = kv.split("=", 1)
                overrides[k.strip()] = v.strip()
            elif not os.path.exists(kv):
                fail(f"Failed to read file: The file {kv!r} could not be read.")
    kind, backend = backend_settings(overrides)
    if kind == "s3":
        for required in ("bucket", "key"):
            if not backend.get(required):
                fail(f'Missing required argument\n\nThe argument "{required}" is required, but was not set.')
        if not backend.get("region") and not os.environ.get("AWS_REGION") and not os.environ.get("AWS_DEFAULT_REGION"):
            fail('Missing region value\n\nThe "region" attribute or the "AWS_REGION" or "AWS_DEFAULT_REGION" '
                 "environment variables must be set.")
        require_profile(backend.get("profile"), "backend")
    os.makedirs(DATA_DIR, exist_ok=True)
    previous = {}
    path = os.path.join(DATA_DIR, "terraform.tfstate")
    if os.path.exists(path):
        with open(path, encoding="utf-8") as f:
            previous = json.load(f)
    with open(path, "w", encoding="utf-8") as f:
        json.dump({"version": 3, "backend": {"type": kind or "local", "config": backend},
                   "stand_in_workspaces": previous.get("stand_in_workspaces", ["default"])}, f)
    print("Initializing the backend...")
    if kind:
        print(f'\nSuccessfully configured the backend "{kind}"! Terraform will automatically\n'
              "use this backend unless the backend configuration changes.")
    print("\nTerraform has been successfully initialized!")
    sys.exit(0)

if command == "workspace":
    sub = rest[0] if rest else ""
    args = rest[1:]
    known = workspaces()
    if sub == "select":
        or_create = "-or-create" in args
        if or_create and version_tuple(VERSION) < (1, 4, 0):
            print("flag provided but not defined: -or-create", file=sys.stderr)
            print("Usage: terraform [global options] workspace select NAME", file=sys.stderr)
            sys.exit(1)
        names = [a for a in args if not a.startswith("-")]
        if len(names) != 1:
            fail("Expected a single argument: NAME.")
        name = names[0]
        if name not in known:
            if not or_create:
                print(f'\nWorkspace "{name}" doesn\'t exist.\n\n'
                      'You can create this workspace with the "new" subcommand.', file=sys.stderr)
                sys.exit(1)
            known.add(name)
            save_workspaces(known, name)
        select(name)
        print(f'Switched to workspace "{name}".')
        sys.exit(0)
    if sub == "new":
        names = [a for a in args if not a.startswith("-")]
        if len(names) != 1:
            fail("Expected a single argument: NAME.")
        name = names[0]
        if name in known:
            fail(f'Workspace "{name}" already exists')
        known.add(name)
        save_workspaces(known, name)
        select(name)
        print(f'Created and switched to workspace "{name}"!')
        sys.exit(0)
    if sub == "show":
        print(current_workspace())
        sys.exit(0)
    if sub == "list":
        for n in sorted(known):
            print(("* " if n == current_workspace() else "  ") + n)
        sys.exit(0)
    fail(f"the stand-in does not implement `workspace {sub}`")

if command == "apply":
    check_credentials()
    if "-input=false" in rest and "-auto-approve" not in rest:
        fail("No value for required variable: apply needs -auto-approve when run with -input=false")
    hold = os.environ.get("TERRAFORM_STAND_IN_HOLD")
    print("Acquiring state lock. This may take a few moments...", flush=True)
    waited = 0
    while hold and os.path.exists(hold) and waited < 300:
        time.sleep(1)
        waited += 1
    print(f"Apply complete! Resources: 0 added, 0 changed, 0 destroyed. (workspace {current_workspace()})")
    sys.exit(0)

# Attributes AWS cannot change in place, per resource type: a change of one replaces the resource.
FORCES_NEW = {
    "aws_ssm_parameter": {"name"},
    "aws_s3_bucket": {"bucket"},
    "aws_dynamodb_table": {"name", "hash_key", "range_key"},
    "aws_secretsmanager_secret": {"name"},
    "aws_iam_policy": {"name", "path"},
    "aws_kms_alias": {"name"},
    "aws_api_gateway_domain_name": {"domain_name"},
}


def literal(value, context):
    """A code attribute's value when it is a literal (interpolating terraform.workspace and var.*);
    None when it refers to anything else (other resources, functions)."""
    if isinstance(value, (int, float, bool)):
        return value
    if not isinstance(value, str):
        return None
    for expr in re.findall(r"\$\{([^}]*)\}", value):
        expr = expr.strip()
        if expr != "terraform.workspace" and not re.fullmatch(r"var\.\w+", expr):
            return None
        if expr.startswith("var.") and expr[4:] not in context:
            return None
    return re.sub(r"\$\{\s*terraform\.workspace\s*\}", current_workspace(),
                  re.sub(r"\$\{\s*var\.(\w+)\s*\}", lambda m: str(context[m.group(1)]), value))


def instances(count, what):
    if count is None:
        return [None]
    if isinstance(count, int):
        return list(range(count))
    m = re.fullmatch(r"\$\{\s*terraform\.workspace\s*(==|!=)\s*\"([^\"]*)\"\s*\?\s*(\d+)\s*:\s*(\d+)\s*\}", count)
    if not m:
        fail(f"the stand-in cannot evaluate count = {count} ({what}); real Terraform is needed for this root")
    equal = current_workspace() == m.group(2)
    n = int(m.group(3)) if equal == (m.group(1) == "==") else int(m.group(4))
    return list(range(n))


def declared(directory, prefix, context, sensitive_vars):
    """address -> (type, literal attributes, sensitive attribute names) of the code in `directory`."""
    parsed = {}
    for path in sorted(glob.glob(os.path.join(directory, "*.tf"))):
        with open(path, encoding="utf-8") as f:
            for key, blocks in hcl2.load(f).items():
                parsed.setdefault(key, []).extend(blocks)
    out = {}
    for block in parsed.get("resource", []):
        for rtype, named in block.items():
            for name, body in named.items():
                for i in instances(body.get("count"), f"{prefix}{rtype}.{name}"):
                    address = f"{prefix}{rtype}.{name}" + (f"[{i}]" if i is not None else "")
                    attrs, secret = {}, set()
                    for k, v in body.items():
                        if k in ("count", "depends_on", "lifecycle", "provider"):
                            continue
                        if isinstance(v, str) and any(f"var.{sv}" in v for sv in sensitive_vars):
                            secret.add(k)
                        lit = literal(v, context)
                        if lit is not None:
                            attrs[k] = lit
                    out[address] = (rtype, attrs, secret)
    for block in parsed.get("module", []):
        for name, body in block.items():
            source = body.get("source", "")
            if not source.startswith("./") and not source.startswith("../"):
                fail(f"module {name}: the stand-in follows local modules only, not {source}")
            inputs = {k: literal(v, context) for k, v in body.items() if k != "source"}
            out.update(declared(os.path.join(directory, source), f"{prefix}module.{name}.",
                                {k: v for k, v in inputs.items() if v is not None}, set()))
    return out


def read_state():
    """The workspace's state from the backend, as Terraform reads it; {} when there is none."""
    from botocore.exceptions import ClientError

    backend = s3_backend()
    if not backend:
        path = "terraform.tfstate" if current_workspace() == "default" else \
            os.path.join("terraform.tfstate.d", current_workspace(), "terraform.tfstate")
        return json.load(open(path, encoding="utf-8")) if os.path.exists(path) else {}
    s3, config = backend
    try:
        body = s3.get_object(Bucket=config["bucket"], Key=state_key(config, current_workspace()))["Body"].read()
    except ClientError as e:
        if e.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
            return {}
        fail(f"Failed to load state: {e}")
    return json.loads(body)


def state_instances(state):
    out = {}
    for r in state.get("resources", []):
        if r.get("mode") != "managed":
            continue
        base = (r["module"] + "." if r.get("module") else "") + f"{r['type']}.{r['name']}"
        for inst in r.get("instances", []):
            key = inst.get("index_key")
            address = base + ("" if key is None else (f"[{key}]" if isinstance(key, int) else f'["{key}"]'))
            secret = {p[0]["value"] for p in inst.get("sensitive_attributes", []) if p and "value" in p[0]}
            out[address] = (r["type"], inst.get("attributes", {}), secret)
    return out


if command == "plan":
    check_credentials()
    out = next((a.split("=", 1)[1] for a in rest if a.startswith("-out=")), None)
    sensitive_vars = {n for b in root.get("variable", []) for n, body in b.items() if body.get("sensitive")}
    code = declared(".", "", variables, sensitive_vars)
    have = state_instances(read_state())
    changes = []
    for address in sorted(set(code) | set(have)):
        in_code, in_state = code.get(address), have.get(address)
        rtype = (in_code or in_state)[0]
        before = in_state[1] if in_state else None
        after = dict(in_code[1]) if in_code else None
        secret = (in_code[2] if in_code else set()) | (in_state[2] if in_state else set())
        if in_code and not in_state:
            actions = ["create"]
        elif in_state and not in_code:
            actions = ["delete"]
        else:
            after = dict(before, **in_code[1])
            differ = {k for k, v in in_code[1].items() if before.get(k) != v}
            if not differ:
                actions = ["no-op"]
            elif differ & FORCES_NEW.get(rtype, set()):
                actions = ["delete", "create"]
            else:
                actions = ["update"]
        mark = {k: True for k in secret}
        changes.append({
            "address": address, "mode": "managed", "type": rtype,
            "name": address.split(".")[-1].split("[")[0],
            "change": {"actions": actions, "before": before, "after": after, "after_unknown": {},
                       "before_sensitive": mark if before is not None else False,
                       "after_sensitive": mark if after is not None else False},
        })
    plan = {"format_version": "0.2", "terraform_version": VERSION, "resource_changes": changes,
            "stand_in": "planned from the code's literal attributes and the state; no provider schemas"}
    counts = {a: sum(1 for c in changes if c["change"]["actions"] == v) for a, v in
              (("add", ["create"]), ("change", ["update"]), ("destroy", ["delete"]))}
    replaced = sum(1 for c in changes if c["change"]["actions"] == ["delete", "create"])
    for c in changes:
        if c["change"]["actions"] != ["no-op"]:
            print(f"  # {c['address']} will be {'/'.join(c['change']['actions'])}")
    print(f"\nPlan: {counts['add'] + replaced} to add, {counts['change']} to change, "
          f"{counts['destroy'] + replaced} to destroy.")
    if out:
        with open(out, "w", encoding="utf-8") as f:
            json.dump(plan, f)
        print(f'\nSaved the plan to: {out}')
    sys.exit(0)

if command == "show":
    files = [a for a in rest if not a.startswith("-")]
    if "-json" not in rest or len(files) != 1:
        fail("the stand-in shows saved plans as JSON only: show -json FILE")
    try:
        with open(files[0], encoding="utf-8") as f:
            print(f.read())
    except OSError as e:
        fail(f"Failed to read the given file as a state or plan file: {e}")
    sys.exit(0)

fail(f"the stand-in does not implement `{' '.join(ARGS)}`; real Terraform is needed for it")
