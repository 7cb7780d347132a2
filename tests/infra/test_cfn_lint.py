"""cfn-lint on the synthesized templates: no errors."""

from __future__ import annotations

import json

import pytest
from cfnlint.api import lint

from tests.infra.conftest import VARIANTS, Synth


@pytest.mark.parametrize("variant", VARIANTS)
def test_template_has_no_cfn_lint_errors(variant: str, request: pytest.FixtureRequest) -> None:
    synth: Synth = request.getfixturevalue(variant)
    template = (synth.outdir / synth.stack.template_file).read_text()
    assert json.loads(template)["Resources"]
    # Regions where every resource type used exists (Amazon Q Developer in chat applications is not in
    # every partition); the stack itself is region-agnostic.
    matches = lint(template, regions=["us-east-1", "eu-west-1"])
    errors = [
        f"{m.rule.id} {m.message} ({'/'.join(map(str, m.path))})"
        for m in matches
        if m.rule.id.startswith("E")
    ]
    assert errors == []
