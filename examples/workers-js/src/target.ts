// The seed article's `target` worker: the orders service the route's service_binding integration calls
// as run(request, envJson, ctxJson). Returned objects go through the gateway's JSON envelope
// ({"status":"success","message":...,"data":{...}}, `statusCode` as the HTTP status).
import { WorkerEntrypoint } from "cloudflare:workers";

interface Order {
  id: string;
  item: string;
  quantity: number;
}

interface GatewayContext {
  requestUrl: string;
  jwtPayload: Record<string, unknown> | null;
  matchedPath: { config: { path: string }; matchResult: { params: Record<string, string> } };
}

// One isolate per workerd process: this state is per process (one per gateway shard), like a Worker's
// module state is per isolate. Use a real store for real orders.
const orders: Order[] = [
  { id: "1", item: "coffee beans", quantity: 2 },
  { id: "2", item: "grinder", quantity: 1 },
];

export class Target extends WorkerEntrypoint {
  async run(request: Request, _envJson: string, ctxJson: string): Promise<object> {
    const ctx = JSON.parse(ctxJson) as GatewayContext;
    if (request.method === "GET") {
      return { statusCode: 200, message: `${orders.length} orders`, orders, route: ctx.matchedPath.config.path };
    }
    let body: Partial<Order>;
    try {
      body = (await request.json()) as Partial<Order>;
    } catch {
      return { statusCode: 400, error: "invalid_json", message: "The body must be JSON" };
    }
    if (typeof body.item !== "string" || typeof body.quantity !== "number" || body.quantity < 1) {
      return { statusCode: 422, error: "invalid_order", message: "item (string) and quantity (>= 1) are required" };
    }
    const order: Order = { id: String(orders.length + 1), item: body.item, quantity: body.quantity };
    orders.push(order);
    return { statusCode: 201, message: "Order created", order };
  }
}
