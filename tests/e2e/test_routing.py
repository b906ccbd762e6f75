"""Routing: priority, matching rules, path normalisation, HEAD, 404."""

import unittest

from harness import GatewayTestCase, build_request


def route(method, path, name):
    return {"method": method, "path": path, "response": {"route": name}}


CONFIG = {"paths": [
    route("GET", "/health", "health"),
    route("GET", "/users/{id}", "user-param"),   # declared before the exact route on purpose
    route("GET", "/users/me", "user-me"),
    route("GET", "/x/{.+}", "x-wildcard"),       # declared before the parameter route on purpose
    route("GET", "/x/{id}", "x-param"),
    route("ANY", "/m", "m-any"),
    route("GET", "/m", "m-get"),
    route("GET", "/dir/", "dir-trailing"),
    route("GET", "/file", "file"),
    route("GET", "/Case", "case"),
]}

NOT_FOUND = {"message": "No match found."}


class RoutingTest(GatewayTestCase):
    @classmethod
    def setUpClass(cls):
        cls.start_shared(CONFIG)

    def assertRoute(self, path, name, method="GET"):
        resp = self.gw.request(method, path)
        self.assertResponse(resp, 200, json_body={"route": name})

    def assertNoRoute(self, path, method="GET"):
        resp = self.gw.request(method, path)
        self.assertResponse(resp, 404, json_body=NOT_FOUND, headers={"Content-Type": "application/json"})

    def test_exact_route_beats_parameter_route(self):
        self.assertRoute("/users/me", "user-me")

    def test_parameter_route_matches_other_segments(self):
        self.assertRoute("/users/42", "user-param")

    def test_parameter_beats_wildcard(self):
        self.assertRoute("/x/1", "x-param")

    def test_wildcard_matches_several_segments(self):
        self.assertRoute("/x/1/2/3", "x-wildcard")

    def test_wildcard_matches_bare_prefix(self):
        self.assertRoute("/x", "x-wildcard")

    def test_get_route_beats_any_route(self):
        self.assertRoute("/m", "m-get")

    def test_any_route_serves_other_methods(self):
        self.assertRoute("/m", "m-any", method="POST")
        self.assertRoute("/m", "m-any", method="DELETE")

    def test_parameter_never_matches_an_empty_segment(self):
        self.assertNoRoute("/users/")

    def test_trailing_slash_is_significant(self):
        self.assertRoute("/dir/", "dir-trailing")
        self.assertNoRoute("/dir")
        self.assertRoute("/file", "file")
        self.assertNoRoute("/file/")

    def test_matching_is_case_sensitive(self):
        self.assertRoute("/Case", "case")
        self.assertNoRoute("/case")
        self.assertNoRoute("/HEALTH")

    def test_query_string_is_ignored_for_matching(self):
        self.assertRoute("/health?verbose=1&x=%2F", "health")
        self.assertRoute("/users/me?x=1", "user-me")

    def test_dot_segments_are_resolved(self):
        self.assertRoute("/a/../health", "health")
        self.assertRoute("/./health", "health")
        self.assertRoute("/../health", "health")
        self.assertRoute("/users/x/../me", "user-me")

    def test_percent_encoded_dot_segments_are_resolved(self):
        self.assertRoute("/users/%2e%2e/health", "health")
        self.assertRoute("/users/%2E%2E/health", "health")

    def test_percent_encoding_is_kept_in_segments(self):
        self.assertRoute("/users/a%20b", "user-param")
        # %2F is not a separator: /users/a%2Fb is one segment.
        self.assertRoute("/users/a%2Fb", "user-param")

    def test_unknown_route_is_404_with_no_match_message(self):
        resp = self.gw.get("/does-not-exist")
        self.assertResponse(resp, 404, body='{"message":"No match found."}',
                            headers={"Content-Type": "application/json"})

    def test_method_without_route_is_404(self):
        self.assertNoRoute("/health", method="POST")

    def test_head_is_served_by_the_get_route_without_body_bytes(self):
        get = self.gw.get("/health")
        self.assertResponse(get, 200, json_body={"route": "health"})
        with self.gw.connect() as conn:
            conn.send(build_request("HEAD", "/health", close=True))
            raw = conn.read_until_close()
        head, sep, rest = raw.partition(b"\r\n\r\n")
        self.assertEqual(sep, b"\r\n\r\n", raw)
        self.assertTrue(head.startswith(b"HTTP/1.1 200 "), raw)
        fields = {line.split(b":", 1)[0].lower(): line.split(b":", 1)[1].strip()
                  for line in head.split(b"\r\n")[1:]}
        self.assertEqual(fields.get(b"content-length"), str(len(get.body)).encode(), raw)
        self.assertEqual(fields.get(b"content-type"), b"application/json", raw)
        self.assertEqual(rest, b"", "HEAD response must carry no body bytes")

    def test_head_on_unknown_route_is_404_without_body_bytes(self):
        with self.gw.connect() as conn:
            conn.send(build_request("HEAD", "/nope", close=True))
            raw = conn.read_until_close()
        self.assertTrue(raw.startswith(b"HTTP/1.1 404 "), raw)
        self.assertTrue(raw.endswith(b"\r\n\r\n"), f"HEAD response must carry no body bytes: {raw!r}")

    def test_head_then_get_on_one_connection_stays_in_sync(self):
        with self.gw.connect() as conn:
            conn.send(build_request("HEAD", "/health") + build_request("GET", "/users/me"))
            head = conn.read_response(head=True)
            get = conn.read_response()
        self.assertEqual(head.status, 200)
        self.assertResponse(get, 200, json_body={"route": "user-me"})


class StaticResponseTest(GatewayTestCase):
    @classmethod
    def setUpClass(cls):
        cls.start_shared({"paths": [
            {"method": "GET", "path": "/object", "response": {"a": 1, "b": [True, None], "c": {"d": "é"}}},
            {"method": "GET", "path": "/string", "response": "hello"},
            {"method": "GET", "path": "/number", "response": 42},
            {"method": "GET", "path": "/null", "response": None},
            {"method": "GET", "path": "/absent"},
        ]})

    def check(self, path, body):
        resp = self.gw.get(path)
        self.assertResponse(resp, 200, body=body,
                            headers={"Content-Type": "application/json", "Content-Length": str(len(body))})

    def test_object_response_is_serialized_json(self):
        self.check("/object", '{"a":1,"b":[true,null],"c":{"d":"é"}}'.encode())

    def test_string_response_is_a_json_string(self):
        self.check("/string", b'"hello"')

    def test_number_response_is_a_json_number(self):
        self.check("/number", b"42")

    def test_null_response_is_json_null(self):
        self.check("/null", b"null")

    def test_absent_response_is_an_empty_body(self):
        self.check("/absent", b"")


if __name__ == "__main__":
    unittest.main()
