// workgate's bridge entry worker (embedded in the gateway binary, written into workerd's config once per
// config load). workgate generates, for every JavaScript binding, a main module
//
//   import * as user from "user.js";
//   import { serve } from "wg-bridge.js";
//   export * from "user.js";
//   export default serve(user, "Hooks", "binding");
//
// so the user's class runs in the bridge's own isolate: one HTTP hop (gateway -> workerd), no RPC hop.
//
// The gateway's call (POST over a Unix socket) carries its body as
//   <meta JSON>\n<ctxJson bytes><envJson bytes><request body><response body>
// where meta = {op, fn, kind, method, url, headers: [[name, value], ...], ctx, env, body, response?:
// {status, headers, body}} (ctx, env, body: byte lengths). A large or chunked client body is streamed
// instead: the call then has an `x-wg-prefix` header (the byte length of <meta>\n<ctxJson><envJson>),
// meta.stream is true, and everything after the prefix is the client's body as it arrives; the function
// gets it as its Request's body stream. The answer carries `x-wg-result`:
//   response  the status, headers and body of a Response the function returned
//   json      the body is the JSON of the value (object, array)
//   string    the body is the string
//   null | undefined | true | other   (no body)
//   request   <meta JSON {method, url, headers}>\n<body>: a Request a pre_process hook returned
//   error     the body is the error's message (the gateway logs it; the client never sees it)
//   describe  {"ok": true, "functions": [...]} or {"ok": false, "error": "..."} (op "describe", at load)

const decoder = new TextDecoder();
const encoder = new TextEncoder();

function answer(kind, body, status = 200, headers = undefined) {
  const h = new Headers(headers);
  h.set("x-wg-result", kind);
  return new Response(body, { status, headers: h });
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

function split(bytes) {
  const nl = bytes.indexOf(10);
  if (nl < 0) throw new Error("bridge: malformed call");
  const meta = JSON.parse(decoder.decode(bytes.subarray(0, nl)));
  let at = nl + 1;
  const take = (n) => {
    const part = bytes.subarray(at, at + n);
    at += n;
    return part;
  };
  const ctx = decoder.decode(take(meta.ctx));
  const env = decoder.decode(take(meta.env));
  const body = take(meta.body);
  const responseBody = meta.response ? take(meta.response.body) : null;
  return { meta, ctx, env, body, responseBody };
}

// A streamed call: reads the prefix from the call's body stream and hands on the rest of it, chunk by
// chunk as it arrives, as the client's body.
async function splitStreamed(stream, prefixLength) {
  if (!Number.isSafeInteger(prefixLength) || prefixLength <= 0 || stream === null) {
    throw new Error("bridge: malformed streamed call");
  }
  const reader = stream.getReader();
  const chunks = [];
  let have = 0;
  while (have < prefixLength) {
    const { done, value } = await reader.read();
    if (done) throw new Error("bridge: the call ended inside its prefix");
    chunks.push(value);
    have += value.length;
  }
  const head = new Uint8Array(have);
  let at = 0;
  for (const c of chunks) {
    head.set(c, at);
    at += c.length;
  }
  const call = split(head.subarray(0, prefixLength));
  let leftover = head.subarray(prefixLength);
  call.bodyStream = new ReadableStream({
    async pull(controller) {
      if (leftover !== null) {
        const first = leftover;
        leftover = null;
        if (first.length > 0) {
          controller.enqueue(first);
          return;
        }
      }
      const { done, value } = await reader.read();
      if (done) controller.close();
      else controller.enqueue(value);
    },
    cancel(reason) {
      return reader.cancel(reason);
    },
  });
  return call;
}

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
  if (value instanceof Response) {
    const h = new Headers(value.headers);
    return answer("response", value.body, value.status, h);
  }
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

export function serve(user, entrypoint, role) {
  const cls = entrypoint ? user[entrypoint] : user.default;
  return {
    async fetch(req, env, ctx) {
      let call;
      try {
        const prefix = req.headers.get("x-wg-prefix");
        if (prefix !== null) call = await splitStreamed(req.body, Number(prefix));
        else call = split(new Uint8Array(await req.arrayBuffer()));
      } catch (e) {
        return answer("error", errorText(e), 500);
      }
      const { meta } = call;
      if (meta.op === "health") return answer("true", null);
      if (meta.op === "describe") {
        const what = entrypoint ? `export "${entrypoint}"` : "default export";
        if (typeof cls !== "function") {
          return answer("describe", JSON.stringify({ ok: false, error: `the module has no class as its ${what}` }));
        }
        return answer("describe", JSON.stringify({ ok: true, functions: methodsOf(cls) }));
      }
      try {
        const init = { method: meta.method, headers: meta.headers };
        if (call.bodyStream) {
          if (hasBody(meta.method)) init.body = call.bodyStream;
        } else if (hasBody(meta.method) && call.body.length > 0) {
          init.body = call.body;
        }
        const request = new Request(meta.url, init);
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
            const response = new Response(r.status === 204 || r.status === 304 ? null : call.responseBody, {
              status: r.status,
              headers: r.headers,
            });
            value = await fn.call(instance, request, call.env, call.ctx, response);
          } else {
            value = await fn.call(instance, request, call.env, call.ctx);
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
