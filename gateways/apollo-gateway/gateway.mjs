#!/usr/bin/env node
// A minimal local Apollo Federation gateway for tests and the local demo: @apollo/gateway plans
// queries as Apollo Router does.
//
// Usage:
//   node gateways/apollo-gateway/gateway.mjs --supergraph <file> --port <port> [--host 127.0.0.1]
//
// Serves POST /graphql (JSON body {query, variables, operationName}) -> JSON result, plus
// GET /health -> {"status":"ok"}. Prints exactly one line "READY <port>" on stdout once
// listening (--port 0 picks a free port and prints it). Everything else goes to stderr.
//
// The incoming Authorization, traceparent and tracestate headers are forwarded to every
// subgraph fetch (RemoteGraphQLDataSource.willSendRequest). Subgraph errors are
// returned in `errors` with their extensions (code included) plus `serviceName`.
//
// No network besides the subgraphs: no @apollo/server, no usage reporting, no uplink.
//
// @apollo/gateway refuses a supergraph that links @authenticated (or @requiresScopes, @policy)
// `for: SECURITY`: it enforces no security directive itself. Serve the orders subgraph with
// FEDERATION_DIRECTIVES= (empty) and compose from that SDL; the subgraph checks every token
// itself either way.
process.env.APOLLO_TELEMETRY_DISABLED = "1";
process.env.SCARF_ANALYTICS = "false";

import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import http from "node:http";

import { ApolloGateway, RemoteGraphQLDataSource } from "@apollo/gateway";
import { GraphQLError, getOperationAST, parse, specifiedRules, validate } from "graphql";

const FORWARDED_HEADERS = ["authorization", "traceparent", "tracestate"];
const MAX_BODY_BYTES = 1024 * 1024;

function parseArgs(argv) {
  const opts = { host: "127.0.0.1", port: undefined, supergraph: undefined };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = () => {
      if (i + 1 >= argv.length) usage(`missing value for ${a}`);
      return argv[++i];
    };
    if (a === "--supergraph") opts.supergraph = value();
    else if (a === "--port") opts.port = Number(value());
    else if (a === "--host") opts.host = value();
    else usage(`unknown argument: ${a}`);
  }
  if (!opts.supergraph) usage("--supergraph is required");
  if (!Number.isInteger(opts.port) || opts.port < 0 || opts.port > 65535) usage("--port is required");
  return opts;
}

function usage(message) {
  process.stderr.write(
    `${message}\nusage: node gateways/apollo-gateway/gateway.mjs --supergraph <file> --port <port> [--host 127.0.0.1]\n`,
  );
  process.exit(2);
}

function toJsonError(err) {
  if (err instanceof GraphQLError) {
    const json = err.toJSON();
    if (!json.extensions || json.extensions.code === undefined) {
      json.extensions = { ...(json.extensions ?? {}), code: "INTERNAL_SERVER_ERROR" };
    }
    return json;
  }
  return { message: String(err?.message ?? err), extensions: { code: "INTERNAL_SERVER_ERROR" } };
}

function send(res, status, body) {
  const payload = JSON.stringify(body);
  res.writeHead(status, {
    "content-type": "application/json; charset=utf-8",
    "content-length": Buffer.byteLength(payload),
  });
  res.end(payload);
}

function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    let size = 0;
    req.on("data", (chunk) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        reject(new Error("request body too large"));
        req.destroy();
        return;
      }
      chunks.push(chunk);
    });
    req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    req.on("error", reject);
  });
}

const logger = {
  debug() {},
  info(m) {
    process.stderr.write(`[gateway] ${m}\n`);
  },
  warn(m) {
    process.stderr.write(`[gateway] warn: ${m}\n`);
  },
  error(m) {
    process.stderr.write(`[gateway] error: ${m}\n`);
  },
};

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  const supergraphSdl = readFileSync(opts.supergraph, "utf8");

  const gateway = new ApolloGateway({
    supergraphSdl,
    logger,
    buildService({ url }) {
      return new RemoteGraphQLDataSource({
        url,
        willSendRequest({ request, context }) {
          const incoming = context?.forwardHeaders ?? {};
          for (const [name, value] of Object.entries(incoming)) {
            request.http.headers.set(name, value);
          }
        },
      });
    },
  });
  const { schema, executor } = await gateway.load();

  async function execute(body, req) {
    if (body === null || typeof body !== "object" || Array.isArray(body)) {
      return [400, { errors: [toJsonError(new GraphQLError("POST body must be a JSON object", { extensions: { code: "BAD_REQUEST" } }))] }];
    }
    const { query, operationName = null } = body;
    const variables = body.variables ?? {};
    if (typeof query !== "string" || query.trim() === "") {
      return [400, { errors: [toJsonError(new GraphQLError("GraphQL operations must contain a non-empty `query`", { extensions: { code: "BAD_REQUEST" } }))] }];
    }
    if (typeof variables !== "object" || Array.isArray(variables)) {
      return [400, { errors: [toJsonError(new GraphQLError("`variables` must be a JSON object", { extensions: { code: "BAD_REQUEST" } }))] }];
    }
    let document;
    try {
      document = parse(query);
    } catch (err) {
      const e = new GraphQLError(err.message, { nodes: err.nodes, source: err.source, positions: err.positions, extensions: { code: "GRAPHQL_PARSE_FAILED" } });
      return [400, { errors: [toJsonError(e)] }];
    }
    const validationErrors = validate(schema, document, specifiedRules);
    if (validationErrors.length > 0) {
      const errors = validationErrors.map((err) =>
        toJsonError(new GraphQLError(err.message, { nodes: err.nodes, source: err.source, positions: err.positions, extensions: { code: "GRAPHQL_VALIDATION_FAILED" } })),
      );
      return [400, { errors }];
    }
    const operation = getOperationAST(document, operationName ?? undefined);
    if (!operation) {
      const msg = operationName ? `Unknown operation named "${operationName}".` : "Must provide operation name if query contains multiple operations.";
      return [400, { errors: [toJsonError(new GraphQLError(msg, { extensions: { code: "OPERATION_RESOLUTION_FAILURE" } }))] }];
    }
    if (operation.operation === "subscription") {
      return [400, { errors: [toJsonError(new GraphQLError("Subscriptions are not supported by this gateway", { extensions: { code: "BAD_REQUEST" } }))] }];
    }

    const forwardHeaders = {};
    for (const name of FORWARDED_HEADERS) {
      const value = req.headers[name];
      if (typeof value === "string" && value !== "") forwardHeaders[name] = value;
    }
    const headers = new Map(Object.entries(req.headers).map(([k, v]) => [k, Array.isArray(v) ? v.join(", ") : v]));
    const requestContext = {
      request: { query, variables, operationName: operation.name?.value ?? operationName ?? undefined, http: { method: "POST", url: req.url, headers } },
      document,
      source: query,
      queryHash: createHash("sha256").update(query).digest("hex"),
      operationName: operation.name?.value ?? null,
      operation,
      schema,
      context: { forwardHeaders },
      logger,
      metrics: {},
      cache: undefined,
    };
    const result = await executor(requestContext);
    const out = {};
    if (result.errors && result.errors.length > 0) out.errors = result.errors.map(toJsonError);
    if ("data" in result) out.data = result.data;
    return [200, out];
  }

  const server = http.createServer(async (req, res) => {
    try {
      const path = (req.url ?? "/").split("?")[0];
      if (req.method === "GET" && path === "/health") return send(res, 200, { status: "ok" });
      if (path !== "/graphql" && path !== "/") return send(res, 404, { errors: [{ message: "not found" }] });
      if (req.method !== "POST") {
        res.setHeader("allow", "POST");
        return send(res, 405, { errors: [{ message: "only POST is supported", extensions: { code: "BAD_REQUEST" } }] });
      }
      let body;
      try {
        const raw = await readBody(req);
        body = JSON.parse(raw);
      } catch (err) {
        return send(res, 400, { errors: [{ message: `invalid JSON body: ${err.message}`, extensions: { code: "BAD_REQUEST" } }] });
      }
      const [status, payload] = await execute(body, req);
      return send(res, status, payload);
    } catch (err) {
      logger.error(err?.stack ?? String(err));
      if (!res.headersSent) send(res, 500, { errors: [toJsonError(err)] });
      else res.end();
    }
  });

  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    server.close();
    server.closeAllConnections?.();
    try {
      await gateway.stop();
    } catch {
      // ignore
    }
    process.exit(0);
  };
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);

  server.listen(opts.port, opts.host, () => {
    process.stdout.write(`READY ${server.address().port}\n`);
  });
}

main().catch((err) => {
  process.stderr.write(`[gateway] failed to start: ${err?.stack ?? err}\n`);
  process.exit(1);
});
