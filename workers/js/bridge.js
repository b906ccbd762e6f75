// workgate's bridge entry worker (embedded in the gateway binary, written into workerd's config once per
// config load). workgate generates, for every JavaScript binding, a main module
//
//   import * as user from "user.js";
//   import { serve } from "wg-bridge.js";
//   import * as context from "wg-context.js";   // apiConfig and the route configs of this config load
//   export * from "user.js";
//   export const wgBridge = serve(user, "Hooks", "binding", context, "<envJson>");
//
// so the user's class runs in the bridge's own isolate: one HTTP hop (gateway -> workerd), no RPC hop.
//
// The gateway's call (HTTP/1.1 over a Unix socket) is the client's request, re-addressed: its header fields
// are the client's (Host first; no hop-by-hop fields), its body the client's body as it arrives (streamed
// for large or chunked bodies), and one more field, `x-wg-call`, says what to call:
//   {op: "call", fn, kind: binding|service|pre|post, method?, url?, route, a, b, config?, stream?, h?, d?,
//    body?, response?: {status, headers, body}}
// (method and url only without d: a direct call's request line carries them)
// workerd's socket takes x-wg-call as its cfBlobHeader: the field ({"wg": meta}) is parsed into `req.cf`
// and is not among the fields the function sees (it sees request.cf.wg, the gateway's call metadata).
// With `d` the call's request line is the client's (method and absolute URL; the socket speaks
// proxy-style HTTP), so workerd's Request is the function's as it is: no copy.
// The function's ctxJson is '{"apiConfig":' + wg-context.js apiConfig + ',' + a + ',"matchedPath":{"config":'
// + the route's config (wg-context.js routes[route], or `config`) + ',' + b + '}}': a and b carry the
// per-request parts (requestUrl, jwtPayload; matchResult) as text, so claims keep their exact numbers. `h`
// holds client fields whose value is not plain text. A post_process call's body is the request body
// (meta.body bytes) followed by the response body. The answer's reason phrase is "wg-" and one of:
//   response  the status, headers and body of a Response the function returned
//   json      the body is the JSON of the value (object, array)
//   string    the body is the string
//   null | undefined | true | other   (no body)
//   request   <meta JSON {method, url, headers}>\n<body>: a Request a pre_process hook returned
//   error     the body is the error's message (the gateway logs it; the client never sees it)
//   describe  {"ok": true, "functions": [...]} or {"ok": false, "error": "..."} (op "describe", at load)
// Health probes and describe come as a POST whose body starts with the meta JSON and a newline.

const encoder = new TextEncoder();

// The kind goes in the reason phrase ("wg-<kind>"): no header object to build per answer, and a function's
// Response keeps its fields as they are.
function answer(kind, body, status = 200, headers = undefined) {
  return new Response(body, { status, statusText: "wg-" + kind, headers });
}

function methodsOf(cls) {
  const names = new Set();
  for (let p = cls.prototype; p && p !== Object.prototype; p = Object.getPrototypeOf(p)) {
    for (const name of Object.getOwnPropertyNames(p)) {
      if (name === "constructor") continue;
      const d = Object.getOwnPropertyDescriptor(p, name);
      if (d && typeof d.value === "function") names.add(name);
    }
  }
  return [...names].sort();
}

function errorText(e) {
  if (e instanceof Error) return `${e.name}: ${e.message}`;
  try {
    return String(e);
  } catch {
    return "a value that cannot be shown";
  }
}

// The meta of a call without x-wg-call (health probes, describe): the first line of its body.
async function legacyMeta(req) {
  const text = await req.text();
  const nl = text.indexOf("\n");
  const meta = JSON.parse(nl < 0 ? text : text.slice(0, nl));
  if (meta.op !== "health" && meta.op !== "describe") throw new Error("bridge: malformed call");
  return meta;
}

// The fields that frame the call, not the function's request, on a copied Request (x-wg-call never
// arrives: workerd consumes it as the cfBlobHeader).
const CALL_FIELDS = ["content-length", "transfer-encoding"];

function hasBody(method) {
  return method !== "GET" && method !== "HEAD";
}

async function encodeRequest(req) {
  const headers = [...req.headers];
  const body = hasBody(req.method) && req.body ? new Uint8Array(await req.arrayBuffer()) : new Uint8Array(0);
  const head = encoder.encode(JSON.stringify({ method: req.method, url: req.url, headers }) + "\n");
  const out = new Uint8Array(head.length + body.length);
  out.set(head, 0);
  out.set(body, head.length);
  return answer("request", out);
}

async function encodeValue(value, kind) {
  if (value instanceof Response) return answer("response", value.body, value.status, value.headers);
  if (kind === "pre") {
    if (value === true) return answer("true", null);
    if (value instanceof Request) return encodeRequest(value);
    return answer("other", null);
  }
  if (kind === "post") return answer("other", null);
  if (value === undefined) return answer("undefined", null);
  if (value === null) return answer("null", null);
  if (typeof value === "string") return answer("string", value);
  if (typeof value === "object") {
    const text = JSON.stringify(value);
    if (text === undefined) return answer("undefined", null);
    return answer("json", text);
  }
  // number, boolean, bigint, function, symbol: the envelope's 400 with an empty body.
  return answer("undefined", null);
}

export function serve(user, entrypoint, role, context = { apiConfig: "{}", routes: [] }, envJson = "{}") {
  const cls = entrypoint ? user[entrypoint] : user.default;
  return {
    async fetch(req, env, ctx) {
      let meta = req.cf?.wg;
      try {
        if (meta?.op === undefined) meta = await legacyMeta(req);  // a health probe or describe
      } catch (e) {
        return answer("error", errorText(e), 500);
      }
      if (meta.op === "health") return answer("true", null);
      if (meta.op === "describe") {
        const what = entrypoint ? `export "${entrypoint}"` : "default export";
        if (typeof cls !== "function") {
          return answer("describe", JSON.stringify({ ok: false, error: `the module has no class as its ${what}` }));
        }
        return answer("describe", JSON.stringify({ ok: true, functions: methodsOf(cls) }));
      }
      try {
        let request = req;
        let responseBody = null;
        if (!meta.d) {
          // The Request copies the call's fields once; the gateway's own are then taken out of the copy.
          const init = { method: meta.method, headers: req.headers };
          if (meta.kind === "post") {
            const bytes = new Uint8Array(await req.arrayBuffer());
            const body = bytes.subarray(0, meta.body);
            responseBody = bytes.subarray(meta.body);
            if (hasBody(meta.method) && body.length > 0) init.body = body;
          } else if (hasBody(meta.method) && req.body !== null) {
            init.body = req.body; // the client's body, as it arrives
          }
          request = new Request(meta.url, init);
          for (const name of CALL_FIELDS) request.headers.delete(name);
          if (meta.h) for (const [name, value] of meta.h) request.headers.append(name, value);
        }
        const routeConfig = meta.route >= 0 ? context.routes[meta.route] : meta.config;
        const ctxJson =
          '{"apiConfig":' + context.apiConfig + "," + meta.a + ',"matchedPath":{"config":' +
          (routeConfig ?? "{}") + "," + meta.b + "}}";
        let value;
        if (role === "service") {
          // The original: new module.default(); instance.fetch(request, env, ctx).
          const instance = new cls(ctx, env);
          value = await instance.fetch(request, env, ctx);
        } else {
          const instance = new cls(ctx, env);
          const fn = instance[meta.fn];
          if (typeof fn !== "function") throw new Error(`no function "${meta.fn}"`);
          if (meta.kind === "post") {
            const r = meta.response;
            const response = new Response(r.status === 204 || r.status === 304 ? null : responseBody, {
              status: r.status,
              headers: r.headers,
            });
            value = await fn.call(instance, request, envJson, ctxJson, response);
          } else {
            value = await fn.call(instance, request, envJson, ctxJson);
          }
        }
        return await encodeValue(value, meta.kind);
      } catch (e) {
        return answer("error", errorText(e), 500);
      }
    },
  };
}

// The health service of every workerd process (the supervisor's probe).
export default {
  async fetch() {
    return answer("true", null);
  },
};
