#!/usr/bin/env python3
"""Writes the generated seed inputs of fuzz/corpus/ (connection, upstream, router and the request-smuggling
seeds of http_request). Run it after changing a seed here; the files are committed."""
import os

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")
SPLIT = b"||SPLIT||"

# Connection flags (fuzz/connection_fuzz.cpp).
STREAM, SOURCE, UNKNOWN_LENGTH, REJECT_CONTINUE, CLOSE, SMALL = 1, 2, 4, 8, 16, 32
# Upstream flags (fuzz/upstream_fuzz.cpp).
HEAD, BUFFERED = 1, 2

# Requests a gateway in front of other servers must frame exactly one way (or refuse).
REQUESTS = {
    "get": b"GET /a/b?x=1 HTTP/1.1\r\nHost: example.com\r\n\r\n",
    "pipelined": b"GET /1 HTTP/1.1\r\nHost: a\r\n\r\nHEAD /2 HTTP/1.1\r\nHost: a\r\n\r\n"
                 b"POST /3 HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabcGET /4 HTTP/1.0\r\n\r\n",
    "content_length": b"POST /p HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello",
    "chunked": b"POST /p HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
    "chunked_ext": b"POST /p HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                   b"5;name=value\r\nhello\r\n6;q=\"x\"\r\n world\r\n0\r\n\r\n",
    "chunked_trailers": b"POST /p HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                        b"5\r\nhello\r\n0\r\nAuthorization: Bearer smuggled\r\nHost: evil\r\nX-Trailer: 1\r\n\r\n"
                        b"GET /next HTTP/1.1\r\nHost: a\r\n\r\n",
    "cl_te": b"POST /p HTTP/1.1\r\nHost: a\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n"
             b"0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n",
    "te_cl": b"POST /p HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n"
             b"8\r\nSMUGGLED\r\n0\r\n\r\n",
    "te_te": b"POST /p HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n\r\n"
             b"0\r\n\r\n",
    "te_obfuscated": b"POST /p HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n",
    "te_space": b"POST /p HTTP/1.1\r\nHost: a\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n",
    "te_tab": b"POST /p HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:\tchunked\t\r\n\r\n0\r\n\r\n",
    "te_list": b"POST /p HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
    "te_chunked_twice": b"POST /p HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n",
    "te_empty_elements": b"POST /p HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: , chunked,\r\n\r\n0\r\n\r\n",
    "te_http10": b"POST /p HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\nGET / HTTP/1.1\r\n\r\n",
    "te_obs_fold": b"POST /p HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip,\r\n chunked\r\n\r\n0\r\n\r\n",
    "obs_fold": b"GET / HTTP/1.1\r\nHost: a\r\nX-Folded: one\r\n  two\r\n\r\n",
    "huge_chunk": b"POST /p HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                  b"ffffffffffffffff\r\nabc\r\n",
    "huge_chunk_overflow": b"POST /p HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                           b"10000000000000001\r\nabc\r\n",
    "huge_content_length": b"POST /p HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999\r\n\r\n",
    "two_content_lengths": b"POST /p HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
    "content_length_list": b"POST /p HTTP/1.1\r\nHost: a\r\nContent-Length: 3, 3\r\n\r\nabc",
    "content_length_sign": b"POST /p HTTP/1.1\r\nHost: a\r\nContent-Length: +3\r\n\r\nabc",
    "two_hosts": b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
    "bad_host": b"GET / HTTP/1.1\r\nHost: a b@c:99999\r\n\r\n",
    "ipv6_host": b"GET / HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n",
    "two_authorizations": b"GET / HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer x\r\nAuthorization: Bearer y\r\n\r\n",
    "no_host": b"GET / HTTP/1.1\r\n\r\n",
    "bare_lf": b"GET / HTTP/1.1\nHost: a\n\n",
    "nul_in_header": b"GET / HTTP/1.1\r\nHost: a\r\nX: a\x00b\r\n\r\n",
    "absolute_form": b"GET http://other.example/%2e%2e/admin?x HTTP/1.1\r\nHost: a\r\n\r\n",
    "dot_segments": b"GET /a/%2E%2e/../../b/./c HTTP/1.1\r\nHost: a\r\n\r\n",
    "asterisk": b"OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n",
    "http2_preface": b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
    "version_20": b"GET / HTTP/2.0\r\nHost: a\r\n\r\n",
    "expect_continue": b"POST /p HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n",
    "many_headers": b"GET / HTTP/1.1\r\nHost: a\r\n" + b"".join(b"X-%d: v\r\n" % i for i in range(40)) + b"\r\n",
    "long_header": b"GET / HTTP/1.1\r\nHost: a\r\nX-Long: " + b"a" * 9000 + b"\r\n\r\n",
}

CONNECTION = {
    "get": (0, [REQUESTS["get"]]),
    "pipelined": (0, [REQUESTS["pipelined"]]),
    "pipelined_stream_source": (STREAM | SOURCE | UNKNOWN_LENGTH, [REQUESTS["pipelined"]]),
    "split_head": (0, [b"GET /a HTTP/1.1\r\nHo", b"st: a\r\n", b"\r\n"]),
    "split_chunks": (STREAM, [b"POST /p HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhe",
                              b"llo\r\n0\r\n", b"X-T: 1\r\n\r\n"]),
    "expect_continue": (0, [REQUESTS["expect_continue"], b"body"]),
    "expect_continue_stream": (STREAM, [REQUESTS["expect_continue"], b"body"]),
    "expect_continue_rejected": (REJECT_CONTINUE, [REQUESTS["expect_continue"], b"body"]),
    "small_limits_body": (SMALL, [b"POST /p HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                                  b"40\r\n" + b"x" * 64 + b"\r\n1\r\ny\r\n0\r\n\r\n"]),
    "close_response": (CLOSE, [REQUESTS["pipelined"]]),
    "http10_source": (SOURCE | UNKNOWN_LENGTH, [b"GET /old HTTP/1.0\r\n\r\n"]),
    "head_source": (SOURCE, [b"HEAD /h HTTP/1.1\r\nHost: a\r\n\r\n"]),
}
for name in ("chunked_trailers", "cl_te", "te_cl", "te_te", "te_obfuscated", "te_space", "te_list",
             "te_chunked_twice", "te_empty_elements", "te_http10", "te_obs_fold", "obs_fold", "huge_chunk",
             "huge_chunk_overflow", "huge_content_length", "two_content_lengths", "content_length_list",
             "two_hosts", "bad_host", "ipv6_host", "two_authorizations", "no_host", "bare_lf", "absolute_form",
             "dot_segments", "asterisk", "version_20", "many_headers", "long_header", "chunked_ext"):
    CONNECTION[name] = (0, [REQUESTS[name]])
CONNECTION["chunked_trailers_stream"] = (STREAM, [REQUESTS["chunked_trailers"]])

UPSTREAM = {
    "length": (0, [b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"]),
    "length_buffered": (BUFFERED, [b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"]),
    "split": (0, [b"HTTP/1.1 200 OK\r\nContent-", b"Length: 10\r\n\r\nhello", b"world"]),
    "chunked_trailers": (0, [b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n",
                             b"0\r\nX-Trailer: t\r\nSet-Cookie: smuggled=1\r\n\r\n"]),
    "chunked_buffered": (BUFFERED, [b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                                    b"3;ext=1\r\nabc\r\n0\r\n\r\n"]),
    "close_delimited": (0, [b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil the end"]),
    "close_delimited_buffered": (BUFFERED, [b"HTTP/1.0 200 OK\r\n\r\nuntil the end"]),
    "interim": (0, [b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n"
                    b"HTTP/1.1 204 No Content\r\n\r\n"]),
    "switching": (0, [b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"]),
    "head": (HEAD, [b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n"]),
    "head_chunked": (HEAD, [b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"]),
    "huge_chunk": (0, [b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffff\r\nabc"]),
    "huge_length": (BUFFERED, [b"HTTP/1.1 200 OK\r\nContent-Length: 18446744073709551615\r\n\r\nabc"]),
    "too_large_buffered": (BUFFERED, [b"HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\n" + b"x" * 5000]),
    "cl_te": (0, [b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"]),
    "two_lengths": (0, [b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 5\r\n\r\nabcde"]),
    "truncated": (0, [b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort"]),
    "extra_after_body": (0, [b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 200 OK\r\n\r\n"]),
    "obs_fold": (0, [b"HTTP/1.1 200 OK\r\nX-Folded: a\r\n b\r\nContent-Length: 0\r\n\r\n"]),
    "status_weird": (0, [b"HTTP/1.1 099 Odd\r\nContent-Length: 0\r\n\r\n"]),
    "garbage": (0, [b"\x00\x01\x02 not http at all\r\n\r\n"]),
    "big_head": (0, [b"HTTP/1.1 200 OK\r\nX-Big: " + b"h" * 70000 + b"\r\n\r\n"]),
    "no_reason": (0, [b"HTTP/1.1 304\r\nETag: \"x\"\r\n\r\n"]),
}

ROUTER = {
    "basic": b"GET /users/{id}\nANY /users/{.+}\nGET /users/me\nPOST /users\n\n"
             b"GET /users/me\nGET /users/42\nDELETE /users/42\nGET /users/42/posts\nPOST /users\nGET /users\n",
    "wildcards": b"ANY /{.+}\nGET /a/{.+}\nGET /a/b/{.+}\nANY /a/{x}/c\n\n"
                 b"GET /\nGET /a\nGET /a/\nGET /a/b\nGET /a/b/c\nPUT /a/z/c\nGET /a//c\nGET //\n",
    "params": b"GET /{a}/{b}\nGET /{a}/x\nGET /x/{b}\nGET /{a}\n\nGET /x/x\nGET /y/x\nGET /x/y\nGET //x\nGET /x/\n",
    "custom_methods": b"PURGE /cache/{.+}\nANY /cache/{k}\nget /lower\n\nPURGE /cache/a\nPURGE /cache\n"
                      b"GET /cache/a\nget /lower\nGET /lower\n",
    "errors": b"GET /a/{.+}/b\nGET /{}\nGET /{x}/{x}\nGET nope\n /empty-method\n\nGET /a/x/b\n",
    "duplicates": b"GET /x/{a}\nGET /x/{b}\nANY /x/{c}\nGET /x/{a}\n\nGET /x/1\n",
    "encoded": b"GET /caf%C3%A9/{id}\nGET /a%2Fb\n\nGET /caf%C3%A9/1\nGET /a%2Fb\nGET /a/b\n",
}


def write(target, name, data):
    directory = os.path.join(ROOT, target)
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, name), "wb") as f:
        f.write(data)


def main():
    for name, (flags, pieces) in CONNECTION.items():
        write("connection", name, bytes([flags]) + SPLIT.join(pieces))
    for name, (flags, pieces) in UPSTREAM.items():
        write("upstream", name, bytes([flags]) + SPLIT.join(pieces))
    for name, data in ROUTER.items():
        write("router", name, data)
    for name in ("chunked_trailers", "cl_te", "te_cl", "te_te", "te_list", "te_obs_fold", "huge_chunk",
                 "huge_content_length", "two_hosts", "bad_host", "obs_fold", "expect_continue", "bare_lf"):
        write("http_request", name, REQUESTS[name])


if __name__ == "__main__":
    main()
