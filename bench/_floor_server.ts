/**
 * The least an HTTP endpoint on this stack can do for a transaction: read
 * the body, parse it as JSON, answer a small JSON receipt. Started by
 * `bench/floor_bench.ts` as a child process; prints `{"port":N}` once
 * listening on 127.0.0.1. With the argument `guarded` it listens as a
 * gateway does by default (`src/site/guarded_server.ts`: Node's server with
 * per-connection deadlines), else with `Deno.serve`, as a site does.
 *
 * @module
 */
import { defaultConnectionLimits, GuardedServer } from "../src/site/guarded_server.ts";

async function handler(request: Request): Promise<Response> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(await request.text());
  } catch {
    return Response.json({ status: "refused" }, { status: 400 });
  }
  const nonce = (parsed as { nonce?: unknown } | null)?.nonce;
  return Response.json({ status: "committed", nonce: typeof nonce === "string" ? nonce : null });
}

if (Deno.args[0] === "guarded") {
  const server = await GuardedServer.listen({
    hostname: "127.0.0.1",
    port: 0,
    limits: defaultConnectionLimits,
    handler,
    onError: () => new Response(null, { status: 500 }),
  });
  console.log(JSON.stringify({ port: server.addr.port }));
} else {
  Deno.serve({
    hostname: "127.0.0.1",
    port: 0,
    onListen({ port }) {
      console.log(JSON.stringify({ port }));
    },
  }, handler);
}
