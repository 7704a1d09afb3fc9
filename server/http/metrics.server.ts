import { Counter, Histogram, Registry, collectDefaultMetrics } from "prom-client";

/** One registry per server instance, so tests can start several in a process. */
export function createMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: "tandem_" });
  const httpRequests = new Counter({
    name: "tandem_http_requests_total",
    help: "HTTP requests by method, route group and status",
    labelNames: ["method", "group", "status"] as const,
    registers: [registry],
  });
  const httpDuration = new Histogram({
    name: "tandem_http_request_duration_seconds",
    help: "HTTP request duration by route group",
    labelNames: ["group"] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [registry],
  });
  const socketConnections = new Counter({
    name: "tandem_socket_connections_total",
    help: "socket.io connections accepted",
    registers: [registry],
  });
  return { registry, httpRequests, httpDuration, socketConnections };
}

export type Metrics = ReturnType<typeof createMetrics>;

/** Low-cardinality label for a path: the first segment only (ids never become labels). */
export function routeGroup(path: string): string {
  if (path.startsWith("/api/v1/")) return "/api/v1/" + (path.split("/")[3] ?? "");
  if (path.startsWith("/assets/")) return "/assets";
  return "/" + (path.split("/")[1] ?? "");
}
