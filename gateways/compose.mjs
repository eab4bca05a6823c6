#!/usr/bin/env node
// Compose Federation 2 subgraph SDLs into a supergraph with @apollo/composition.
//
// Usage:
//   node gateways/compose.mjs [--sdl] <name>=<path-to-sdl-file>[@<routing-url>] ...
//
// Prints one JSON object on stdout:
//   {"errors": [...messages], "hints": [...messages], "supergraphSdl": "..." | null}
// With --sdl, prints only the supergraph SDL instead (errors and hints go to stderr), so
// `... --sdl users=... > supergraph.graphql` works like `rover supergraph compose`.
// Exit code: 0 when composition produced no errors, 1 otherwise (2 on bad usage).
//
// The routing URL defaults to http://127.0.0.1:4000/<name>/graphql; it only matters
// when the supergraph is then served by a gateway (gateways/).
import { readFileSync } from "node:fs";
import { resolve } from "node:path";

import { composeServices } from "@apollo/composition";
import { parse } from "graphql";

function usage(message) {
  process.stderr.write(
    `${message}\nusage: node gateways/compose.mjs [--sdl] <name>=<path-to-sdl-file>[@<routing-url>] ...\n`,
  );
  process.exit(2);
}

function parseArg(arg) {
  const eq = arg.indexOf("=");
  if (eq <= 0) usage(`bad argument: ${arg}`);
  const name = arg.slice(0, eq);
  let rest = arg.slice(eq + 1);
  let url = `http://127.0.0.1:4000/${name}/graphql`;
  // The routing URL follows the last "@" that starts an http(s) URL, so paths
  // containing "@" are still accepted.
  const at = rest.search(/@https?:\/\/[^@]*$/);
  if (at >= 0) {
    url = rest.slice(at + 1);
    rest = rest.slice(0, at);
  }
  if (!rest) usage(`missing SDL path in: ${arg}`);
  return { name, path: resolve(rest), url };
}

let args = process.argv.slice(2);
const sdlOnly = args.includes("--sdl");
args = args.filter((a) => a !== "--sdl");
if (args.length === 0) usage("no subgraphs given");

const result = { errors: [], hints: [], supergraphSdl: null };
const services = [];
for (const arg of args) {
  const { name, path, url } = parseArg(arg);
  let sdl;
  try {
    sdl = readFileSync(path, "utf8");
  } catch (err) {
    result.errors.push(`[${name}] cannot read ${path}: ${err.message}`);
    continue;
  }
  try {
    services.push({ name, url, typeDefs: parse(sdl) });
  } catch (err) {
    result.errors.push(`[${name}] ${err.message}`);
  }
}

if (result.errors.length === 0) {
  try {
    const composed = composeServices(services);
    result.hints = (composed.hints ?? []).map((h) => h.toString());
    if (composed.errors && composed.errors.length > 0) {
      result.errors = composed.errors.map((e) => {
        const code = e.extensions?.code;
        return code ? `${code}: ${e.message}` : e.message;
      });
    } else {
      result.supergraphSdl = composed.supergraphSdl;
    }
  } catch (err) {
    result.errors.push(`composition crashed: ${err?.stack ?? err}`);
  }
}

if (sdlOnly) {
  for (const hint of result.hints) process.stderr.write(`hint: ${hint}\n`);
  for (const error of result.errors) process.stderr.write(`error: ${error}\n`);
  if (result.supergraphSdl !== null) process.stdout.write(`${result.supergraphSdl}\n`);
} else {
  process.stdout.write(`${JSON.stringify(result)}\n`);
}
process.exitCode = result.errors.length === 0 ? 0 : 1;
