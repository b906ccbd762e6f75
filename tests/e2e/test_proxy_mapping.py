"""http_proxy: mapping.headers / mapping.query templates ($request.header/query/jwt/path, $config with
route over global variables), unresolved sources, query `set` semantics, config errors."""

import json
import tempfile
import time
import unittest

from harness import mint_jwt, run_cli, write_temp
from proxy_support import ProxyTestCase, hdr, proxy_config, proxy_route, server

SECRET = "mapping-e2e-secret"
ISSUER = "https://issuer.mapping.test"
AUDIENCE = "mapping-clients"
AUTHORIZER = {"type": "jwt", "secret": SECRET, "algorithm": "HS256", "issuer": ISSUER, "audience": AUDIENCE}

VARIABLES = {"tenant": "acme/one two", "global_only": "g", "shadowed": "global", "nested.config.key": "flat-dotted"}

SECURE_MAPPING = {
    "headers": {
        "x-jwt-sub": "$request.jwt.sub",
        "x-jwt-num": "$request.jwt.num",
        "x-jwt-groups": "$request.jwt.groups",
        "x-bearer": "Bearer $request.jwt.sub",
        "x-combo": "$request.jwt.sub:$config.tenant",
        "x-partial": "$request.jwt.sub:$request.jwt.missing",
        "x-literal": "static-value",
        "x-nested": "$config.nested.config.key",
        "x-shadowed": "$config.shadowed",
        "x-global": "$config.global_only",
        "x-client": "$request.header.X-Client-Id",
        "x-q": "$request.query.q",
        "x-missing-config": "$config.not_defined",
        "x-from-mapped": "$request.header.X-Literal",
        "x-number-literal": 2,
        "x-bool-literal": True,
        "x-env": "$env.WG_E2E_MAP_ENV",
        "x-claim-object": "$request.jwt.obj",
        "x-claim-float": "$request.jwt.ratio",
        "x-claim-whole-float": "$request.jwt.whole",
        "x-claim-mixed": "$request.jwt.mixed",
        "x-claim-bool": "$request.jwt.flag",
    },
    "query": {
        "sub": "$request.jwt.sub",
        "tenant": "$config.tenant",
        "dup": "$config.shadowed",
        "gone": "$request.jwt.missing",
        "added": "yes",
        "num": "$request.jwt.num",
    },
}


def token(**claims):
    base = {"iss": ISSUER, "aud": AUDIENCE, "exp": int(time.time()) + 600}
    base.update(claims)
    return mint_jwt({k: v for k, v in base.items() if v is not None}, SECRET)


class ProxyMappingTest(ProxyTestCase):
    @classmethod
    def setUpClass(cls):
        cls.up = cls.shared_upstream()
        cls.start_shared(proxy_config(
            [server("echo", cls.up.url)],
            [proxy_route("/m/{.+}", "echo", auth=True, mapping=SECURE_MAPPING, variables={"shadowed": "route"}),
             proxy_route("/p/{.+}", "echo", mapping={"headers": {"x-jwt-sub": "$request.jwt.sub",
                                                                 "x-literal": "public-literal"},
                                                     "query": {"who": "$request.jwt.sub"}}),
             proxy_route("/users/{id}/orders/{orderId}", "echo", method="GET",
                         mapping={"headers": {"x-user": "$request.path.id", "x-order": "$request.path.orderId",
                                              "x-both": "$request.path.id/$request.path.orderId",
                                              "x-nope": "$request.path.missing"},
                                  "query": {"order": "$request.path.orderId"}})],
            authorizer=AUTHORIZER, variables=VARIABLES), env={"WG_E2E_MAP_ENV": "from-env"})

    def test_every_source_and_template_form(self):
        jwt = token(sub="user-1", num=42, groups=["a", "b"])
        rec = self.echo(self.send("GET", "/m/items?q=hello&dup=x&a=1&dup=y&gone=evil", headers=[
            ("Authorization", f"Bearer {jwt}"), ("x-client-id", "cid-7"), ("X-Literal", "client-value"),
            ("X-Jwt-Sub", "admin")]))
        expected = {
            "x-jwt-sub": ["user-1"],
            "x-jwt-num": ["42"],
            "x-jwt-groups": ["a,b"],
            "x-bearer": ["Bearer user-1"],
            "x-combo": ["user-1:acme/one two"],
            "x-partial": [],
            "x-literal": ["static-value"],
            "x-nested": ["flat-dotted"],
            "x-shadowed": ["route"],
            "x-global": ["g"],
            "x-client": ["cid-7"],
            "x-q": ["hello"],
            "x-missing-config": [],
            "x-from-mapped": ["client-value"],  # sources read the client's request, not other mappings
            "x-number-literal": ["2"],
            "x-bool-literal": ["true"],
            "x-env": ["from-env"],
        }
        self.assertEqual({name: hdr(rec, name) for name in expected}, expected, rec["header_list"])
        self.assertEqual(rec["path"], "/items")
        self.assertEqual(rec["query"], "q=hello&dup=route&a=1&sub=user-1&tenant=acme%2Fone+two&added=yes&num=42")

    def test_claim_values_are_turned_into_text(self):
        jwt = token(sub="u", obj={"k": 1}, ratio=0.5, whole=1.0, mixed=["a", 1, True, None], flag=False)
        rec = self.echo(self.send("GET", "/m/x", headers=[("Authorization", f"Bearer {jwt}")]))
        got = {name: hdr(rec, name) for name in ("x-claim-object", "x-claim-float", "x-claim-whole-float",
                                                  "x-claim-mixed", "x-claim-bool")}
        self.assertEqual(got, {"x-claim-object": ['{"k":1}'], "x-claim-float": ["0.5"], "x-claim-whole-float": ["1"],
                               "x-claim-mixed": ["a,1,true,"], "x-claim-bool": ["false"]})

    def test_mapped_value_with_a_line_break_is_not_sent(self):
        rec = self.echo(self.send("GET", "/m/x?q=a%0D%0AX-Injected:%20yes", headers=[
            ("Authorization", f"Bearer {token(sub='u')}")]))
        self.assertEqual(hdr(rec, "x-q"), [], rec["header_list"])
        self.assertEqual(hdr(rec, "x-injected"), [], rec["header_list"])

    def test_missing_claim_leaves_header_and_query_unset_and_drops_the_clients_values(self):
        jwt = token(num=1)  # no sub
        rec = self.echo(self.send("GET", "/m/x?sub=admin&keep=1", headers=[
            ("Authorization", f"Bearer {jwt}"), ("x-jwt-sub", "admin"), ("X-Bearer", "Bearer admin"),
            ("X-Combo", "admin:acme")]))
        for name in ("x-jwt-sub", "x-bearer", "x-combo", "x-jwt-groups", "x-partial", "x-client", "x-q"):
            self.assertEqual(hdr(rec, name), [], f"{name}: {rec['header_list']}")
        self.assertEqual(hdr(rec, "x-jwt-num"), ["1"])
        self.assertEqual(rec["query"], "keep=1&tenant=acme%2Fone+two&dup=route&added=yes&num=1")

    def test_jwt_sources_without_an_authorizer_on_the_route_resolve_to_nothing(self):
        rec = self.echo(self.send("GET", "/p/x?who=evil&keep=1", headers=[
            ("X-Jwt-Sub", "admin"), ("Authorization", "Bearer " + token(sub="someone"))]))
        self.assertEqual(hdr(rec, "x-jwt-sub"), [], rec["header_list"])
        self.assertEqual(hdr(rec, "x-literal"), ["public-literal"])
        self.assertEqual(rec["query"], "keep=1")

    def test_no_query_when_nothing_is_set(self):
        rec = self.echo(self.send("GET", "/p/x"))
        self.assertEqual((rec["target"], rec["query"]), ("/x", None))

    def test_empty_query_value_counts_as_absent(self):
        rec = self.echo(self.send("GET", "/m/x?q=", headers=[("Authorization", f"Bearer {token(sub='u')}")]))
        self.assertEqual(hdr(rec, "x-q"), [], rec["header_list"])

    def test_route_parameters(self):
        rec = self.echo(self.send("GET", "/users/7/orders/42?order=client&z=1"))
        self.assertEqual(rec["path"], "/users/7/orders/42")
        self.assertEqual((hdr(rec, "x-user"), hdr(rec, "x-order"), hdr(rec, "x-both"), hdr(rec, "x-nope")),
                         (["7"], ["42"], ["7/42"], []), rec["header_list"])
        self.assertEqual(rec["query"], "order=42&z=1")

    def test_protected_route_without_a_token_never_reaches_the_upstream(self):
        before = len(self.up.requests)
        resp = self.send("GET", "/m/x", headers=[("X-Jwt-Sub", "admin")])
        self.assertEqual(resp.status, 401, repr(resp))
        self.assertEqual(len(self.up.requests), before)


class MappingConfigErrorTest(unittest.TestCase):
    def validate(self, cfg):
        d = tempfile.TemporaryDirectory(prefix="wg-e2e-map-")
        self.addCleanup(d.cleanup)
        return run_cli(["validate", write_temp(json.dumps(cfg), directory=d.name)], env={"WG_E2E_MAP_ENV": "v"})

    def test_unknown_source_is_a_config_error_with_its_pointer(self):
        for section, name in (("headers", "x-body"), ("query", "body")):
            with self.subTest(section=section):
                cfg = proxy_config([server("echo", "http://127.0.0.1:9")],
                                   [{"method": "GET", "path": "/ok", "response": {}},
                                    proxy_route("/x/{.+}", "echo", mapping={section: {name: "$request.body.x"}})])
                r = self.validate(cfg)
                self.assertEqual(r.returncode, 1, r)
                self.assertIn(f"/paths/1/mapping/{section}/{name}", r.output, r)

    def test_known_sources_validate(self):
        cfg = proxy_config([server("echo", "http://127.0.0.1:9")],
                           [proxy_route("/x/{id}/{.+}", "echo", auth=True, mapping=SECURE_MAPPING,
                                        variables={"shadowed": "route"})],
                           authorizer=AUTHORIZER, variables=VARIABLES)
        r = self.validate(cfg)
        self.assertEqual(r.returncode, 0, r)


if __name__ == "__main__":
    unittest.main()
