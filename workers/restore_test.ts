import assert from "node:assert/strict";
import { base64urlEncode } from "../sdk/encoding.ts";
import { generateKeyPair } from "../sdk/keys.ts";
import type { LoadedSiteFiles } from "../src/site/config.ts";
import { closedPort } from "../test/_cluster.ts";
import { membershipSeen } from "./restore.ts";

Deno.test("restore: membership is asked of every site the directories name, at their newest URL — sites added or moved since genesis too — not only genesis's", async () => {
  const listing: string[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, (req) => {
    listing.push(new URL(req.url).pathname);
    return Response.json({ sites: [{ name: "site-a" }, { name: "site-c" }] });
  });
  const site = (name: string, url: string) => ({
    name,
    url,
    publicKey: base64urlEncode(generateKeyPair("ed25519").publicKey),
  });
  const loaded = {
    config: { name: "site-a" },
    genesis: {
      sites: [
        site("site-a", `http://127.0.0.1:${closedPort()}`),
        site("site-b", `http://127.0.0.1:${closedPort()}`),
      ],
    },
  } as unknown as LoadedSiteFiles;
  try {
    const url = `http://127.0.0.1:${server.addr.port}`;
    // Genesis alone: site-b does not answer at its genesis URL, and site-c is unknown.
    assert.deepEqual(await membershipSeen(loaded), { listedBy: [], answered: 0 });
    // The log's directory: site-c was added, and site-b moved to where it answers.
    const seen = await membershipSeen(loaded, [
      [{ name: "site-c", url: `http://127.0.0.1:${closedPort()}` }],
      [{ name: "site-b", url }, { name: "site-c", url }, { name: "site-a", url }],
    ]);
    assert.deepEqual(seen, { listedBy: ["site-b", "site-c"], answered: 2 });
    assert.deepEqual(listing, ["/v1/sites", "/v1/sites"], "the site itself is never asked");
  } finally {
    await server.shutdown();
  }
});
