"""moto_server with only the AWS-managed IAM policies named in its first argument.

moto loads all of them (over a thousand) into every account it creates, which costs about
1.5 s per CreateAccount and a lot of memory; with a few, attaching them works exactly as with
all, at the cost of an account without them.

    python moto_with_policies.py AdministratorAccess,ReadOnlyAccess -H 127.0.0.1 -p 5000
"""

import json
import os
import sys

import moto.iam.models as iam_models

wanted = [name for name in sys.argv[1].split(",") if name]
every = json.loads(iam_models.aws_managed_policies_data)
unknown = [name for name in wanted if name not in every]
if unknown:
    sys.exit(f"moto has no AWS-managed policy named {', '.join(unknown)}")
iam_models.aws_managed_policies_data = json.dumps({name: every[name] for name in wanted})
os.environ["MOTO_IAM_LOAD_MANAGED_POLICIES"] = "true"

from moto.server import main  # noqa: E402  (after the policies are narrowed)

sys.exit(main(sys.argv[2:]))
