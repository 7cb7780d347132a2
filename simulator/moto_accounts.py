"""Many accounts on moto, in-process: which account an access key belongs to, member roles, and
AssumeRole that honours them.

moto's STS `AssumeRole` issues credentials for any role ARN: it does not check that the role exists,
nor its trust policy ("the role does not need to exist", its docstring says). moto's IAM
authorization mode would check a trust policy, but only of a role in the caller's own account, it is
process-wide, and it would make every other call of the tests need real IAM users and policies. So the
harness (never the auditor's code) wraps moto's AssumeRole response handler for the lifetime of a
World (`enforce_trust`): the role must exist in its account's moto IAM, and its trust policy must
allow the caller, as AWS requires; otherwise AWS's answer, `AccessDenied` "User: ... is not
authorized to perform: sts:AssumeRole on resource: ...". (AWS sends it with HTTP 403; moto's
serializer sends 400 for an error its STS model does not list. botocore reads the code either way and
does not retry it.)

The trust policy check covers what the auditor's member role uses: Allow statements for
`sts:AssumeRole` whose `Principal.AWS` names the caller's account (`arn:<partition>:iam::<id>:root` or
the bare id), the caller's ARN, or `*`, with an optional `StringEquals` on `sts:ExternalId`; a
matching Deny wins. Other condition keys are not evaluated (they are not satisfiable here).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any
from unittest.mock import patch
from urllib.parse import unquote

from moto.core.exceptions import ServiceException
from moto.iam.models import get_account_id_from, iam_backends
from moto.sts.models import sts_backends
from moto.sts.responses import TokenResponse
from moto.utilities.utils import get_partition

DEFAULT_ROLE_NAME = "JobAuditorReader"


def moto_account_of(access_key: str) -> str | None:
    """The account moto holds `access_key` in (a key its STS issued on AssumeRole, or an IAM user's);
    None for a key moto never issued, which moto itself serves as its default account."""
    for account_id, account in list(iam_backends.items()):
        for backend in list(account.values()):
            if access_key in backend.access_keys:
                return str(account_id)
    return None


def trust_policy(trusted_account: str, external_id: str | None = None, partition: str = "aws") -> str:
    """A member role's trust policy: the trusted account may assume it (with the ExternalId, if one)."""
    statement: dict[str, Any] = {
        "Effect": "Allow",
        "Principal": {"AWS": f"arn:{partition}:iam::{trusted_account}:root"},
        "Action": "sts:AssumeRole",
    }
    if external_id:
        statement["Condition"] = {"StringEquals": {"sts:ExternalId": external_id}}
    return json.dumps({"Version": "2012-10-17", "Statement": [statement]})


def create_role(account: str, role_name: str, policy_document: str, partition: str = "aws") -> str:
    """A role in `account`'s moto IAM (moto keeps one IAM per account id); returns its ARN."""
    role = iam_backends[account][partition].create_role(
        role_name=role_name,
        assume_role_policy_document=policy_document,
        path="/",
        permissions_boundary=None,
        description="job-auditor member role (test harness)",
        tags=[],
        max_session_duration=None,
    )
    return str(role.arn)


def delete_role(account: str, role_name: str, partition: str = "aws") -> None:
    iam_backends[account][partition].delete_role(role_name)


class AccessDenied(ServiceException):
    code = "AccessDenied"


def _listed(value: object) -> Sequence[object]:
    return value if isinstance(value, list) else [value]


def _matches(
    statement: Mapping[str, Any], caller_account: str, caller_arn: str, external_id: str | None
) -> bool:
    actions = [str(a).lower() for a in _listed(statement.get("Action", []))]
    if not {"sts:assumerole", "sts:*", "*"} & set(actions):
        return False
    principal = statement.get("Principal", {})
    named = _listed(principal.get("AWS", [])) if isinstance(principal, Mapping) else _listed(principal)
    partition = caller_arn.split(":")[1] if caller_arn.count(":") > 1 else "aws"
    accepted = {"*", caller_account, caller_arn, f"arn:{partition}:iam::{caller_account}:root"}
    if not accepted & {str(p) for p in named}:
        return False
    for operator, conditions in statement.get("Condition", {}).items():
        for key, expected in conditions.items():
            if key.lower() != "sts:externalid" or operator != "StringEquals":
                return False
            if external_id not in [str(v) for v in _listed(expected)]:
                return False
    return True


def _denial(role_arn: str, caller_account: str, caller_arn: str, external_id: str | None) -> bool:
    parts = role_arn.split(":")
    if len(parts) < 6 or not parts[5].startswith("role/"):
        return True
    partition, account, role_name = parts[1], parts[4], parts[5].rsplit("/", 1)[-1]
    # `.get`, not `[...]`: moto's indexing creates an IAM for any account id, and moto reads every
    # account's IAM on each request to find whose access key signed it (`get_account_id_from`): a
    # thousand accounts without a role would make every later request a thousand times slower.
    account_iam = iam_backends.get(account)
    if account_iam is None:
        return True
    roles = [r for r in account_iam[partition].get_roles() if r.name == role_name]
    if not roles:
        return True
    document = json.loads(unquote(roles[0].assume_role_policy_document))
    statements = _listed(document.get("Statement", []))
    matching = [
        s
        for s in statements
        if isinstance(s, Mapping) and _matches(s, caller_account, caller_arn, external_id)
    ]
    if any(s.get("Effect") == "Deny" for s in matching):
        return True
    return not any(s.get("Effect") == "Allow" for s in matching)


@contextmanager
def enforce_trust() -> Iterator[None]:
    """While active, moto's AssumeRole refuses a role that does not exist or does not trust the caller."""
    original = TokenResponse.assume_role

    def assume_role(self: TokenResponse) -> Any:
        role_arn = str(self._get_param("RoleArn") or "")
        external_id = self._get_param("ExternalId")
        access_key = self.get_access_key()
        caller_account = get_account_id_from(access_key)
        backend = sts_backends[caller_account][get_partition(self.region)]
        _, caller_arn, _ = backend.get_caller_identity(access_key, self.region)
        if _denial(role_arn, caller_account, caller_arn, external_id):
            raise AccessDenied(
                f"User: {caller_arn} is not authorized to perform: sts:AssumeRole on resource: {role_arn}"
            )
        return original(self)

    with patch.object(TokenResponse, "assume_role", assume_role):
        yield
