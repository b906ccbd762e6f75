// The sidecar test worker (see ../shared/conformance/README.md) as a Workers ES module, written the way the
// original gateway's users write theirs: a WorkerEntrypoint class whose methods the gateway calls as
// fn(request, envJson, ctxJson), and a default export class whose fetch serves a `services` entry.
import { WorkerEntrypoint } from "cloudflare:workers";

function json(status, value, headers = {}) {
  return new Response(JSON.stringify(value), {
    status,
    headers: { "content-type": "application/json", ...headers },
  });
}

export class Sidecar extends WorkerEntrypoint {
  async before(request, envJson, ctxJson) {
    const mode = request.headers.get("x-block");
    if (mode === "1") {
      const path = new URL(request.url).pathname;
      return json(403, { blocked: true, by: "HOOKS.before", path }, { "x-hook": "blocked" });
    }
    if (mode === "enrich") {
      const changed = new Request(request);
      changed.headers.set("x-enriched", "yes");
      return changed;
    }
    return true;
  }

  async after(request, envJson, ctxJson, response) {
    const out = new Response(response.body, response);
    out.headers.set("x-post-processed", "yes");
    return out;
  }

  async run(request, envJson, ctxJson) {
    const url = new URL(request.url);
    const mode = url.searchParams.get("mode") ?? "object";
    if (mode === "response") {
      return new Response("plain text from TARGET.run", {
        status: 202,
        headers: { "content-type": "text/plain", "x-from": "TARGET.run" },
      });
    }
    if (mode === "string") return '{"raw":"string from TARGET.run"}';
    if (mode === "null") return null;
    if (mode === "error") return { error: "boom", statusCode: 418, message: "teapot" };
    if (mode === "throw") throw new Error("TARGET.run was asked to throw");
    const env = JSON.parse(envJson);
    const ctx = JSON.parse(ctxJson);
    const text = await request.text();
    return {
      statusCode: 201,
      message: "ran",
      method: request.method,
      path: url.pathname,
      search: url.search,
      body: text === "" ? null : text,
      matched_path: ctx.matchedPath.config.path,
      params: ctx.matchedPath.matchResult.params,
      jwt_sub: ctx.jwtPayload?.sub ?? null,
      env_greeting: env.GREETING ?? null,
      env_keys: Object.keys(env).sort(),
      enriched: request.headers.get("x-enriched"),
    };
  }
}

// The `services` entry point, as the original loads it: new module.default(), then fetch(request, env, ctx).
export default class SidecarService {
  async fetch(request, env, ctx) {
    return new Response("Hello from sidecar fetch", { headers: { "content-type": "text/plain" } });
  }
}
