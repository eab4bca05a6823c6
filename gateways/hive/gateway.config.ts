// Hive Gateway in front of the federated stack (users, products, orders).
//
//   SUPERGRAPH=supergraph.graphql node_modules/.bin/hive-gateway supergraph \
//     --config-path gateways/hive/gateway.config.ts --port 4000
//
// The supergraph must come from our composition (gateways/compose.mjs or rover):
// Hive's own composition rejects federation v2.11. HOST/PORT (or --host/--port) override the
// defaults below. Start with APOLLO_TELEMETRY_DISABLED=1.
//
// Nothing phones home: usage reporting, tracing, the Hive CDN, GraphOS uplink and persisted
// documents are all off unless their --hive-*/--apollo-*/--opentelemetry flags (or the
// HIVE_*/APOLLO_KEY/APOLLO_GRAPH_REF/OPENTELEMETRY env vars) are given, and none are set here.
// A supergraph given as a file is watched for changes, not polled over the network.
import { defineConfig } from '@graphql-hive/gateway';

export const gatewayConfig = defineConfig({
  supergraph: process.env.SUPERGRAPH ?? 'supergraph.graphql',
  host: '127.0.0.1', // HOST=0.0.0.0 in a container
  port: 4000,
  // The subgraphs authenticate and authorize themselves: pass the caller's token and the
  // W3C trace context on to every subgraph request (absent headers are not sent).
  propagateHeaders: {
    fromClientToSubgraphs: ({ request }) => ({
      authorization: request.headers.get('authorization'),
      traceparent: request.headers.get('traceparent'),
      tracestate: request.headers.get('tracestate'),
    }),
  },
  // Subscriptions (docs/subscriptions.md): clients subscribe to the gateway over SSE or
  // WebSocket; the gateway subscribes to the orders subgraph over WebSocket
  // (graphql-transport-ws on /graphql), passing the caller's Authorization header in the
  // connection_init payload (one upstream connection per token). Its HTTP executor would also
  // work: the subgraph frames SSE with LF line ends, which Hive 3.4.x requires.
  transportEntries: {
    orders: {
      options: {
        subscriptions: {
          kind: 'ws',
          options: {
            connectionParams: {
              authorization: '{context.headers.authorization}',
            },
          },
        },
      },
    },
  },
  // Demand control: every object (composite type) the subgraphs are asked for costs 1,
  // multiplied by the `limit` of the @listSize(slicingArguments: ["limit"]) lists above it.
  // Hive sums the cost of each subgraph request as the plan runs and refuses the request
  // that crosses maxCost (COST_ESTIMATED_TOO_EXPENSIVE, with the running total). Lists
  // without @listSize (users, products, _entities) count 1 whatever their length: the
  // `listSize` option only applies to nullable lists, and all of ours are non-null. In
  // 2.15.1 mutations cost only their selection (the documented +10 is never added).
  //   getOrders(limit: 1000) { id }                                    1000  passes
  //   getOrders { user { name } product { name } }  (default limit 100) 302  passes
  //   users(first: 5) { orders(limit: 5) { id product { name } } }       13  passes
  //   users(first: 5) { orders(limit: 1000) { id product { name } } }  2003  refused
  //   getOrders(limit: 1000) { id product { name } }                   2001  refused
  //   getOrders(limit: 1000) { user { orders(limit: 1000) { id } } }   ~1e6  refused
  // 1500 admits one full page of orders (the subgraph caps `limit` at 1000), or ~500 orders
  // with one related object each, and refuses selections fanning out to thousands of
  // objects. NODE_ENV=development adds extensions.cost { estimated, max } to responses.
  demandControl: {
    maxCost: 1500,
  },
});
