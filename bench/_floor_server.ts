/**
 * The least an HTTP endpoint on this stack can do for a transaction: read
 * the body, parse it as JSON, answer a small JSON receipt. Started by
 * `bench/floor_bench.ts` as a child process (`deno run --allow-net`);
 * prints `{"port":N}` once listening on 127.0.0.1.
 *
 * @module
 */
Deno.serve({
  hostname: "127.0.0.1",
  port: 0,
  onListen({ port }) {
    console.log(JSON.stringify({ port }));
  },
}, async (request) => {
  let parsed: unknown;
  try {
    parsed = JSON.parse(await request.text());
  } catch {
    return Response.json({ status: "refused" }, { status: 400 });
  }
  const nonce = (parsed as { nonce?: unknown } | null)?.nonce;
  return Response.json({ status: "committed", nonce: typeof nonce === "string" ? nonce : null });
});
