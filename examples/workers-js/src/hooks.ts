// The seed article's `hooks` worker ("Worker-to-Worker Service Composition"): a pre_process hook that
// lets a request through only when it carries the API key. Written as the original gateway's users write
// their bound Workers; workgate runs it unchanged on workerd (bundled with esbuild at config load).
import { WorkerEntrypoint } from "cloudflare:workers";
import { sameSecret } from "./shared";

interface HooksEnv {
  EXAMPLE_API_KEY?: string;
}

export class Hooks extends WorkerEntrypoint {
  // Called as the original calls a hook: before(request, envJson, ctxJson). `true` continues, a Response
  // answers instead of the integration, a Request continues with that request.
  async before(request: Request, envJson: string, _ctxJson: string): Promise<true | Request | Response> {
    const env = JSON.parse(envJson) as HooksEnv;
    const presented = request.headers.get("x-api-key");
    if (!env.EXAMPLE_API_KEY || presented === null || !sameSecret(presented, env.EXAMPLE_API_KEY)) {
      return Response.json({ error: "Missing or invalid API key", code: "INVALID_API_KEY" }, { status: 401 });
    }
    // The service does not need the key.
    const next = new Request(request);
    next.headers.delete("x-api-key");
    return next;
  }
}
